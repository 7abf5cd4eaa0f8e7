// BackupSqliteStore: a consistent copy of a live SQLite store file, made with SQLite's online
// backup API (sqlite3_backup_init / step / finish) while the service keeps writing.
//
// The copy is taken `pages_per_step` pages at a time; between steps the source is unlocked, so
// writers are never held up for more than one step. When another connection writes between two
// steps, SQLite restarts the copy so that it reflects one committed state. After `max_restarts`
// restarts (a store under constant load) the rest is copied in a single step, that is inside one
// read transaction: in WAL mode a reader does not block writers, so this still does not stall
// intake; it only keeps the checkpointer from moving past the copy until it ends.
//
// The copy is written to "DEST.partial" next to DEST, checked with PRAGMA quick_check, synced,
// and then renamed over DEST, so DEST is either absent or a complete checked copy. The copy is a
// self-contained file (no -wal beside it) in WAL mode, ready to be copied over a store file.
//
// Thread-safety: opens its own connections; may run beside a SqliteStore in any process.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace flowrun::store {

struct BackupOptions {
  // Pages copied per step. Default: 256 (1 MiB with 4 KiB pages).
  int pages_per_step = 256;
  // Restarts (caused by concurrent writes) before the rest is copied in one step. Default: 8.
  int max_restarts = 8;
  // Replace an existing destination. Default: false (kAlreadyExists).
  bool overwrite = false;
  // How long a step waits for a lock before failing. Default: 5000.
  int busy_timeout_ms = 5000;
};

struct BackupReport {
  int64_t pages = 0;         // pages in the copy
  int64_t bytes = 0;         // size of the copy
  int steps = 0;             // backup_step calls
  int restarts = 0;          // times a concurrent write restarted the copy
  bool single_step = false;  // the rest was copied in one step after max_restarts
};

// Copies the store at `source` to `dest`. Errors: kNotFound when `source` does not exist;
// kAlreadyExists when `dest` exists and !overwrite; kDataLoss when `source` is not a database or
// the copy fails quick_check; kUnavailable when the source stays locked; kPermissionDenied or
// kUnavailable for a destination that cannot be written.
[[nodiscard]] StatusOr<BackupReport> BackupSqliteStore(const std::string& source,
                                                       const std::string& dest,
                                                       const BackupOptions& options = {});

}  // namespace flowrun::store
