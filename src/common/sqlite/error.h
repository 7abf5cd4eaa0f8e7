// How the SQLite wrapper (common/sqlite/connection.h) reports failures.
//
// - Each user of the wrapper chooses the Status codes: the store and a `db` step's target make
//   different retry decisions for the same SQLite result code (a constraint in the store is a
//   duplicate key, kAlreadyExists; in a user's database it is kFailedPrecondition). So a
//   connection is opened with an ErrorTranslator, and every error it and its statements report
//   goes through it.
// - An ErrorObserver, when set, sees each translated error (the store's DataLossLatch, which stops
//   writes into a damaged file).
//
// Thread-safety: ErrorText is reentrant; translators and observers are called from the thread
// that uses the connection.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

struct sqlite3;

namespace flowrun::sqlite {

// The Status for result code `rc` of the operation `what` on `db` (null when opening failed
// before there was a connection).
using ErrorTranslator = std::function<Status(sqlite3* db, int rc, std::string_view what)>;

// SQLite's text for a failure: the connection's last error message, or the code's generic text
// when `db` is null.
std::string ErrorText(sqlite3* db, int rc);

// Sees every error a connection and its statements report.
class ErrorObserver {
 public:
  virtual ~ErrorObserver() = default;
  virtual void OnError(const Status& error) = 0;
  // True once the file is known to be damaged: connections then close without checkpointing
  // their write-ahead log into it.
  virtual bool FileDamaged() const = 0;
};

}  // namespace flowrun::sqlite
