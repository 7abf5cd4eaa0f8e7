// sqlite::Connection: a thin RAII layer over one sqlite3 connection, with a cache of the
// statements it has prepared, translating SQLite result codes into Status. The one SQLite wrapper
// of flowrun: the store (store/sqlite_store.h) and the SQLite `db` target
// (actions/db/sqlite_connection.h) both open their files through it.
//
// - Errors go through the ErrorTranslator given to Open, then to the ErrorObserver if one is set
//   (common/sqlite/error.h).
// - Opened read-write (SQLITE_OPEN_NOMUTEX) with extended result codes. SQLite's memory
//   statistics are turned off before the first connection of the process opens (they cost a
//   global mutex on every allocation, and flowrun does not read them).
//
// Thread-safety: a connection and its statements belong to one thread at a time; callers
// serialize access (the store's writer queue or reader pool, a target's connection pool).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/sqlite/error.h"
#include "common/sqlite/statement.h"
#include "common/status.h"

struct sqlite3;

namespace flowrun::sqlite {

class Connection {
 public:
  struct Options {
    // Create the file when it is missing. Default: false.
    bool create = false;
    // How long a statement waits for a lock held by another connection before failing.
    // Default: not set (SQLite fails at once).
    std::optional<int> busy_timeout_ms;
    // The page cache the connection starts with, in KiB. Default: SQLite's own (2 MB).
    std::optional<int> cache_kib;
    // At most this many statements stay in Prepare's cache; preparing one more drops them all,
    // invalidating what Prepare returned before. Default: 0, no bound (nothing is dropped).
    size_t max_cached_statements = 0;
    // How an error opening the file names the attempt. Default: "opening " + the path.
    std::string open_what;
  };

  // Opens the file at `path`.
  [[nodiscard]] static StatusOr<std::unique_ptr<Connection>> Open(const std::string& path,
                                                                  const Options& options,
                                                                  ErrorTranslator translate);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more statements that return no rows.
  [[nodiscard]] Status Exec(std::string_view sql);
  // A statement prepared once and kept in the cache (see Options::max_cached_statements); it is
  // reset before being returned and stays owned by the connection.
  [[nodiscard]] StatusOr<Statement*> Prepare(std::string_view sql);

  // The statement kept for `sql`, not reset; null when there is none.
  Statement* Cached(std::string_view sql);
  // Prepares the first statement of `sql` without keeping it. Null when `sql` holds no
  // statement (only whitespace and comments). `tail`, when given, receives the text after the
  // first statement. Errors name `what` (Default: "preparing " + sql).
  [[nodiscard]] StatusOr<std::unique_ptr<Statement>> PrepareUncached(
      std::string_view sql, std::string_view* tail = nullptr, std::string_view what = {});
  // Keeps `statement` in the cache under `sql` and returns it.
  Statement* Keep(std::string_view sql, std::unique_ptr<Statement> statement);

  // Rows changed by the last statement.
  int64_t Changes() const;
  sqlite3* handle() const { return db_; }

  // Shows every error reported from now on to `observer`, which also decides whether closing
  // checkpoints the log. REQUIRES: `observer` outlives the connection.
  void set_error_observer(ErrorObserver* observer) { observer_ = observer; }

  // Translates `rc` for the operation `what` and shows it to the observer (for statements).
  Status Fail(int rc, std::string_view what);

 private:
  Connection(sqlite3* db, ErrorTranslator translate, size_t max_cached_statements)
      : db_(db), translate_(std::move(translate)), max_cached_statements_(max_cached_statements) {}

  sqlite3* const db_;
  const ErrorTranslator translate_;
  const size_t max_cached_statements_;
  ErrorObserver* observer_ = nullptr;
  struct SqlHash {
    using is_transparent = void;
    size_t operator()(std::string_view sql) const { return std::hash<std::string_view>()(sql); }
  };
  // By SQL text; looked up without copying the text.
  std::unordered_map<std::string, std::unique_ptr<Statement>, SqlHash, std::equal_to<>> statements_;
};

}  // namespace flowrun::sqlite
