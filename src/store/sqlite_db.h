// SqliteDb and SqliteStatement: a thin RAII layer over one sqlite3 connection and its prepared
// statements, translating SQLite result codes into Status. Used only inside src/store.
//
// Thread-safety: a connection and its statements belong to one thread at a time; callers
// serialize access (the store's writer queue, or its reader pool).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/status.h"
#include "store/data_loss_latch.h"

namespace flowrun::store {

// Translates a SQLite result code into a Status with `what` as context.
Status SqliteError(sqlite3* db, int rc, std::string_view what);

class SqliteStatement {
 public:
  // `latch`, when not null, observes every error Step reports (see DataLossLatch).
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt, DataLossLatch* latch = nullptr)
      : db_(db), stmt_(stmt), latch_(latch) {}
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Binding is 1-based, as in SQLite. Binding resets the statement if it was stepped.
  SqliteStatement& Bind(int index, std::string_view text);
  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& BindNull(int index);
  SqliteStatement& Bind(int index, std::optional<int64_t> value);

  // Steps once: true when a row is available, false when done.
  [[nodiscard]] StatusOr<bool> Step();
  // Steps to completion, for statements that return no rows.
  [[nodiscard]] Status Run();
  // Resets for re-use and clears the bindings.
  void Reset();

  bool IsNull(int column) const;
  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::optional<int64_t> OptionalInt(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
  DataLossLatch* latch_;
  bool stepped_ = false;
};

class SqliteDb {
 public:
  // The page cache a connection starts with, in KiB. SQLite's own default is 2 MB per
  // connection; pages it does not hold are read from the operating system's file cache, which
  // every connection shares. A connection that needs more sets `PRAGMA cache_size` itself.
  static constexpr int kDefaultCacheKib = 512;

  // Opens (creating when `create`) the database at `path` with a page cache of
  // kDefaultCacheKib. `busy_timeout_ms` is how long a statement waits for a lock held by another
  // connection before failing.
  [[nodiscard]] static StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path,
                                                                bool create, int busy_timeout_ms);
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;
  ~SqliteDb();

  // Runs one or more statements that return no rows.
  [[nodiscard]] Status Exec(std::string_view sql);
  // A statement prepared once and cached for the life of the connection. The reference stays
  // valid until the connection closes; it is reset before being returned.
  [[nodiscard]] StatusOr<SqliteStatement*> Prepare(const std::string& sql);
  // Rows changed by the last statement.
  int64_t Changes() const { return sqlite3_changes64(db_); }
  sqlite3* handle() const { return db_; }
  // Every error this connection's Exec and statements report from now on is shown to `latch`,
  // which trips on damage. REQUIRES: `latch` outlives the connection; set before Prepare.
  void set_data_loss_latch(DataLossLatch* latch) { latch_ = latch; }

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  DataLossLatch* latch_ = nullptr;
  std::unordered_map<std::string, std::unique_ptr<SqliteStatement>> statements_;
};

}  // namespace flowrun::store
