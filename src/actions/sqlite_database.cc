#include "actions/sqlite_database.h"

#include <sqlite3.h>

#include <chrono>
#include <memory>

#include "actions/sqlite_statement.h"

namespace flowrun {

using SteadyClock = std::chrono::steady_clock;

SqliteDatabase::SqliteDatabase(std::string label, std::string path, size_t max_idle)
    : label_(std::move(label)),
      path_(std::move(path)),
      max_idle_(max_idle),
      commit_group_(label_, SqliteWriterGate::ForFile(path_)) {}

SqliteDatabase::~SqliteDatabase() {
  for (sqlite3* db : idle_) sqlite3_close_v2(db);
}

StatusOr<sqlite3*> SqliteDatabase::Acquire() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      sqlite3* db = idle_.back();
      idle_.pop_back();
      return db;
    }
  }
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path_.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status error = SqliteError(label_, db, rc, "cannot open " + path_);
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  return db;
}

void SqliteDatabase::Release(sqlite3* db) {
  std::lock_guard lock(mu_);
  if (idle_.size() < max_idle_ && sqlite3_get_autocommit(db)) {
    idle_.push_back(db);
  } else {
    sqlite3_close_v2(db);
  }
}

StatusOr<QueryResult> SqliteDatabase::Execute(std::string_view sql, const Json& params,
                                              Duration timeout) {
  ASSIGN_OR_RETURN(sqlite3 * db, Acquire());
  struct Lease {
    SqliteDatabase* owner;
    sqlite3* db;
    ~Lease() {
      sqlite3_progress_handler(db, 0, nullptr, nullptr);
      if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      owner->Release(db);
    }
  } lease{this, db};

  const SteadyClock::time_point deadline = SteadyClock::now() + timeout;
  sqlite3_busy_timeout(db, static_cast<int>(std::max<long long>(1, timeout.count())));
  sqlite3_progress_handler(
      db, 1000,
      [](void* arg) -> int {
        return SteadyClock::now() > *static_cast<SteadyClock::time_point*>(arg) ? 1 : 0;
      },
      const_cast<SteadyClock::time_point*>(&deadline));

  ASSIGN_OR_RETURN(SqliteStatement stmt, PrepareStepStatement(label_, db, sql, params));
  if (!sqlite3_stmt_readonly(stmt.get())) {
    // Prepared here only to be checked and classified; the group's leader prepares it again on
    // its own connection.
    stmt.reset();
    return commit_group_.Write(db, sql, params, deadline);
  }
  int rc = sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(label_, db, rc, "cannot begin a transaction");
  ASSIGN_OR_RETURN(QueryResult result, RunStepStatement(label_, db, stmt.get()));
  stmt.reset();
  rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(label_, db, rc, "cannot commit");
  return result;
}

}  // namespace flowrun
