// The statement side of the SQLite `db` target: preparing one step's statement with its named
// parameters bound, running it, and turning SQLite's result codes into flowrun's error codes.
// Shared by SqliteDatabase (reads, and the connection a write is checked on) and
// SqliteCommitGroup (the writes it runs in a shared transaction).
//
// Error codes carry the retry decision described in actions/database.h: busy or locked files and
// I/O errors are kUnavailable, an interrupted statement is kDeadlineExceeded, constraint
// violations and read-only or corrupt files are kFailedPrecondition, and bad SQL or parameters are
// kInvalidArgument.
//
// Thread-safety: the functions are reentrant; a connection is used by one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "actions/database.h"
#include "common/json.h"
#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace flowrun {

struct SqliteStatementDeleter {
  void operator()(sqlite3_stmt* stmt) const;
};
using SqliteStatement = std::unique_ptr<sqlite3_stmt, SqliteStatementDeleter>;

// The error for result code `code` of an operation on the target `label`. `db` (may be null)
// supplies SQLite's message.
Status SqliteError(const std::string& label, sqlite3* db, int code, const std::string& what);

// Prepares `sql` on `db` and binds `params` (an object) to its `:name` placeholders. Errors:
// `sql` holds no statement or more than one, or a transaction-control statement (BEGIN, COMMIT,
// END, ROLLBACK, SAVEPOINT, RELEASE: a step's transaction is flowrun's); a positional `?`; a
// placeholder without a value or a value without a placeholder.
StatusOr<SqliteStatement> PrepareStepStatement(const std::string& label, sqlite3* db,
                                               std::string_view sql, const Json& params);

// Steps `stmt` to its end: every row as an object of column name -> value (BLOBs as base64), and
// the rows it inserted, updated or deleted. Leaves any transaction as it is.
StatusOr<QueryResult> RunStepStatement(const std::string& label, sqlite3* db, sqlite3_stmt* stmt);

}  // namespace flowrun
