#include "store/sqlite_db.h"

#include <mutex>
#include <string>

namespace flowrun::store {

Status SqliteError(sqlite3* db, int rc, std::string_view what) {
  std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = std::string(what) + ": " + detail;
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

SqliteStatement::~SqliteStatement() { sqlite3_finalize(stmt_); }

SqliteStatement& SqliteStatement::Bind(int index, std::string_view text) {
  if (stepped_) Reset();
  // An empty view may have no data pointer, which SQLite would bind as NULL.
  sqlite3_bind_text(stmt_, index, text.empty() ? "" : text.data(), static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  if (stepped_) Reset();
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

SqliteStatement& SqliteStatement::BindNull(int index) {
  if (stepped_) Reset();
  sqlite3_bind_null(stmt_, index);
  return *this;
}

SqliteStatement& SqliteStatement::Bind(int index, std::optional<int64_t> value) {
  return value ? Bind(index, *value) : BindNull(index);
}

StatusOr<bool> SqliteStatement::Step() {
  stepped_ = true;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status error = SqliteError(db_, rc, sqlite3_sql(stmt_));
  sqlite3_reset(stmt_);
  if (latch_) latch_->Observe(error);
  return error;
}

Status SqliteStatement::Run() {
  for (;;) {
    auto row = Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
  }
  return OkStatus();
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  stepped_ = false;
}

bool SqliteStatement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t SqliteStatement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::string SqliteStatement::Text(int column) const {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  if (!text) return {};
  return std::string(text, sqlite3_column_bytes(stmt_, column));
}

std::optional<int64_t> SqliteStatement::OptionalInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path, bool create,
                                                   int busy_timeout_ms) {
  // Memory statistics cost a global mutex on every allocation, and flowrun does not read them.
  // This only takes effect before SQLite initializes, so the first connection opened decides.
  static std::once_flag configure;
  std::call_once(configure, [] { (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* handle = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status error = SqliteError(handle, rc, "opening store " + path);
    sqlite3_close_v2(handle);
    return error;
  }
  sqlite3_extended_result_codes(handle, 1);
  // Before the busy timeout, so a file locked by another process fails this at once; setting the
  // cache size reads the schema, and a file that cannot be read leaves the error to the caller's
  // first statement, which reports it in context.
  const std::string cache_size = "PRAGMA cache_size=-" + std::to_string(kDefaultCacheKib);
  (void)sqlite3_exec(handle, cache_size.c_str(), nullptr, nullptr, nullptr);
  sqlite3_busy_timeout(handle, busy_timeout_ms);
  return std::unique_ptr<SqliteDb>(new SqliteDb(handle));
}

SqliteDb::~SqliteDb() {
  statements_.clear();
  // The last connection to close checkpoints the log into the file: not into a damaged one.
  if (latch_ && latch_->tripped()) {
    (void)sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  }
  sqlite3_close_v2(db_);
}

Status SqliteDb::Exec(std::string_view sql) {
  char* error = nullptr;
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  sqlite3_free(error);
  if (rc != SQLITE_OK) {
    // SqliteError's text: a full disk or an I/O error (kUnavailable too) is not a locked file.
    Status status = SqliteError(db_, rc, "executing SQL");
    if (latch_) latch_->Observe(status);
    return status;
  }
  return OkStatus();
}

StatusOr<SqliteStatement*> SqliteDb::Prepare(const std::string& sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    it->second->Reset();
    return it->second.get();
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    Status error = SqliteError(db_, rc, "preparing " + sql);
    if (latch_) latch_->Observe(error);
    return error;
  }
  auto owned = std::make_unique<SqliteStatement>(db_, stmt, latch_);
  SqliteStatement* raw = owned.get();
  statements_.emplace(sql, std::move(owned));
  return raw;
}

}  // namespace flowrun::store
