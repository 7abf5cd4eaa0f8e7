#include "actions/db/sqlite_target_error.h"

#include <sqlite3.h>

#include "common/sqlite/error.h"

namespace flowrun {

Status SqliteTargetError(const std::string& label, sqlite3* db, int code, const std::string& what) {
  int primary = code & 0xff;
  std::string message = "database " + label + ": " + what + ": " + sqlite::ErrorText(db, code);
  switch (primary) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(message + " (the database is busy)");
    case SQLITE_INTERRUPT:
      return DeadlineExceededError("database " + label + ": the statement ran out of time");
    case SQLITE_CONSTRAINT:
      return FailedPreconditionError(message);
    case SQLITE_FULL:
      return ResourceExhaustedError(message);
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
      return UnavailableError(message);
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return FailedPreconditionError(message);
    case SQLITE_ERROR:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
    case SQLITE_TOOBIG:
      return InvalidArgumentError(message);
    default:
      return InternalError(message);
  }
}

}  // namespace flowrun
