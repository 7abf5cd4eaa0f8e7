// SqliteTargetError: how a SQLite `db` target's result codes become flowrun's error codes (the
// store translates the same codes differently: store/store_connection.h).
//
// The codes carry the retry decision described in actions/db/database.h: busy or locked files and
// I/O errors are kUnavailable, an interrupted statement is kDeadlineExceeded, constraint
// violations and read-only or corrupt files are kFailedPrecondition, and bad SQL or parameters are
// kInvalidArgument.
//
// Thread-safety: reentrant.
#pragma once

#include <string>

#include "common/status.h"

struct sqlite3;

namespace flowrun {

// The error for result code `code` of the operation `what` on the target `label`. `db` (may be
// null) supplies SQLite's message.
Status SqliteTargetError(const std::string& label, sqlite3* db, int code, const std::string& what);

}  // namespace flowrun
