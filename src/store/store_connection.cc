#include "store/store_connection.h"

#include <sqlite3.h>

#include <string>

namespace flowrun::store {

Status StoreSqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string message = std::string(what) + ": " + sqlite::ErrorText(db, rc);
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(message + " (the store file is locked by another process)");
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
      return DataLossError(message + " (the store file is not a flowrun database or is corrupt)");
    case SQLITE_FULL:
    case SQLITE_IOERR:
      return UnavailableError(message);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return PermissionDeniedError(message);
    case SQLITE_CONSTRAINT:
      return AlreadyExistsError(message);
    default:
      return InternalError(message);
  }
}

StatusOr<std::unique_ptr<sqlite::Connection>> OpenStoreConnection(const std::string& path,
                                                                  bool create,
                                                                  int busy_timeout_ms) {
  sqlite::Connection::Options options;
  options.create = create;
  options.busy_timeout_ms = busy_timeout_ms;
  options.cache_kib = kStoreCacheKib;
  options.open_what = "opening store " + path;
  return sqlite::Connection::Open(path, options, StoreSqliteError);
}

}  // namespace flowrun::store
