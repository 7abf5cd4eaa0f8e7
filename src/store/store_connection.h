// How the store opens its SQLite file: a sqlite::Connection (common/sqlite/connection.h) with the
// store's page cache and busy timeout, whose errors carry the store's Status codes.
//
// Thread-safety: StoreSqliteError is reentrant; a connection belongs to one thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/sqlite/connection.h"
#include "common/status.h"

struct sqlite3;

namespace flowrun::store {

// The page cache a store connection starts with, in KiB. SQLite's own default is 2 MB per
// connection; pages it does not hold are read from the operating system's file cache, which every
// connection shares. A connection that needs more sets `PRAGMA cache_size` itself.
inline constexpr int kStoreCacheKib = 512;

// Translates a SQLite result code into a Status with `what` as context: a locked file is
// kUnavailable, a damaged one kDataLoss, a duplicate key kAlreadyExists.
Status StoreSqliteError(sqlite3* db, int rc, std::string_view what);

// Opens (creating when `create`) the store file at `path` with a page cache of kStoreCacheKib.
// `busy_timeout_ms` is how long a statement waits for a lock held by another connection before
// failing.
[[nodiscard]] StatusOr<std::unique_ptr<sqlite::Connection>> OpenStoreConnection(
    const std::string& path, bool create, int busy_timeout_ms);

}  // namespace flowrun::store
