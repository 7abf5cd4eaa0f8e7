#include "common/sqlite/connection.h"

#include <sqlite3.h>

#include <mutex>

namespace flowrun::sqlite {

StatusOr<std::unique_ptr<Connection>> Connection::Open(const std::string& path,
                                                       const Options& options,
                                                       ErrorTranslator translate) {
  // Takes effect only before SQLite initializes, so the first connection opened decides.
  static std::once_flag configure;
  std::call_once(configure, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* handle = nullptr;
  int flags =
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (options.create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status error =
        translate(handle, rc, options.open_what.empty() ? "opening " + path : options.open_what);
    sqlite3_close_v2(handle);
    return error;
  }
  sqlite3_extended_result_codes(handle, 1);
  // Before the busy timeout, so a file locked by another process fails this at once; setting the
  // cache size reads the schema, and a file that cannot be read leaves the error to the caller's
  // first statement, which reports it in context.
  if (options.cache_kib) {
    const std::string cache_size = "PRAGMA cache_size=-" + std::to_string(*options.cache_kib);
    (void)sqlite3_exec(handle, cache_size.c_str(), nullptr, nullptr, nullptr);
  }
  if (options.busy_timeout_ms) sqlite3_busy_timeout(handle, *options.busy_timeout_ms);
  return std::unique_ptr<Connection>(
      new Connection(handle, std::move(translate), options.max_cached_statements));
}

Connection::~Connection() {
  statements_.clear();
  // The last connection to close checkpoints the log into the file: not into a damaged one.
  if (observer_ && observer_->FileDamaged()) {
    (void)sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  }
  sqlite3_close_v2(db_);
}

Status Connection::Fail(int rc, std::string_view what) {
  Status error = translate_(db_, rc, what);
  if (observer_) observer_->OnError(error);
  return error;
}

Status Connection::Exec(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Fail(rc, "executing SQL");
  return OkStatus();
}

int64_t Connection::Changes() const { return sqlite3_changes64(db_); }

Statement* Connection::Cached(std::string_view sql) {
  auto kept = statements_.find(sql);
  return kept == statements_.end() ? nullptr : kept->second.get();
}

StatusOr<std::unique_ptr<Statement>> Connection::PrepareUncached(std::string_view sql,
                                                                 std::string_view* tail,
                                                                 std::string_view what) {
  sqlite3_stmt* stmt = nullptr;
  const char* rest = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, &rest);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Fail(rc, what.empty() ? "preparing " + std::string(sql) : std::string(what));
  }
  if (tail) *tail = rest ? sql.substr(static_cast<size_t>(rest - sql.data())) : std::string_view();
  if (stmt == nullptr) return std::unique_ptr<Statement>();
  return std::make_unique<Statement>(*this, stmt);
}

Statement* Connection::Keep(std::string_view sql, std::unique_ptr<Statement> statement) {
  if (max_cached_statements_ > 0 && statements_.size() >= max_cached_statements_) {
    statements_.clear();
  }
  Statement* kept = statement.get();
  statements_.emplace(std::string(sql), std::move(statement));
  return kept;
}

StatusOr<Statement*> Connection::Prepare(std::string_view sql) {
  if (Statement* kept = Cached(sql)) {
    kept->Reset();
    return kept;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<Statement> prepared, PrepareUncached(sql));
  if (prepared == nullptr) return InvalidArgumentError("the SQL holds no statement");
  return Keep(sql, std::move(prepared));
}

}  // namespace flowrun::sqlite
