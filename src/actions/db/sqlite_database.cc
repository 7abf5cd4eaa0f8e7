#include "actions/db/sqlite_database.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "actions/db/sqlite_step_sql.h"
#include "actions/db/sqlite_target_error.h"
#include "common/thread_annotations.h"

namespace flowrun {

using SteadyClock = std::chrono::steady_clock;

SqliteDatabase::SqliteDatabase(std::string label, std::string path, size_t max_idle,
                               Duration step_results_retention)
    : label_(std::move(label)),
      path_(std::move(path)),
      commit_group_(label_, path_, SqliteWriterGate::ForFile(path_), step_results_retention,
                    [this](std::function<void()> drain) { drains_.Run(std::move(drain)); }),
      idle_(max_idle),
      drains_(1),
      workers_(std::max<size_t>(kMinWorkers, max_idle)) {}

SqliteDatabase::~SqliteDatabase() = default;

StatusOr<std::unique_ptr<SqliteConnection>> SqliteDatabase::Acquire() {
  if (std::unique_ptr<SqliteConnection> connection = idle_.Take()) return connection;
  return SqliteConnection::Open(label_, path_);
}

void SqliteDatabase::Release(std::unique_ptr<SqliteConnection> connection) {
  // A connection still in a transaction (a failed ROLLBACK) is closed, not kept.
  if (sqlite3_get_autocommit(connection->handle())) idle_.Keep(std::move(connection));
}

bool SqliteDatabase::KnownToWrite(std::string_view sql) {
  MutexLock lock(mu_);
  return known_writes_.find(sql) != known_writes_.end();
}

void SqliteDatabase::RememberWrite(std::string_view sql) {
  MutexLock lock(mu_);
  if (known_writes_.size() >= SqliteConnection::kMaxStatements) known_writes_.clear();
  known_writes_.emplace(sql);
}

void SqliteDatabase::Start(std::string sql, Json params, Duration timeout, std::string result_key,
                           QueryDone done) {
  const SteadyClock::time_point give_up = SteadyClock::now() + timeout;
  if (KnownToWrite(sql)) {
    // No thread waits for the commit: the group's drain answers.
    commit_group_.WriteAsync(std::move(sql), std::move(params), give_up, std::move(result_key),
                             std::move(done));
    return;
  }
  workers_.Run([this, sql = std::move(sql), params = std::move(params), give_up,
                result_key = std::move(result_key), done = std::move(done)]() mutable {
    auto left = std::chrono::duration_cast<Duration>(give_up - SteadyClock::now());
    if (left.count() <= 0) {
      return done(UnavailableError("database " + label_ +
                                   ": busy: every worker was taken until the deadline"));
    }
    done(Run(sql, params, left, result_key));
  });
}

StatusOr<QueryResult> SqliteDatabase::Execute(std::string_view sql, const Json& params,
                                              Duration timeout) {
  return Run(sql, params, timeout, /*result_key=*/"");
}

StatusOr<QueryResult> SqliteDatabase::Run(std::string_view sql, const Json& params,
                                          Duration timeout, std::string_view result_key) {
  if (KnownToWrite(sql)) {
    // Checked and classified before: straight to the group, whose leader binds the parameters
    // (and fails only this step if they do not fit).
    return commit_group_.Write(sql, params, SteadyClock::now() + timeout, result_key);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<SqliteConnection> connection, Acquire());
  struct Lease {
    SqliteDatabase* owner;
    std::unique_ptr<SqliteConnection>& connection;
    ~Lease() {
      sqlite3* db = connection->handle();
      sqlite3_progress_handler(db, 0, nullptr, nullptr);
      if (!sqlite3_get_autocommit(db)) connection->Exec("ROLLBACK");
      owner->Release(std::move(connection));
    }
  } lease{this, connection};
  sqlite3* db = connection->handle();

  const SteadyClock::time_point deadline = SteadyClock::now() + timeout;
  sqlite3_busy_timeout(db, static_cast<int>(std::max<long long>(1, timeout.count())));
  sqlite3_progress_handler(
      db, 1000,
      [](void* arg) -> int {
        return SteadyClock::now() > *static_cast<SteadyClock::time_point*>(arg) ? 1 : 0;
      },
      const_cast<SteadyClock::time_point*>(&deadline));

  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, connection->StepStatement(sql));
  {
    SqliteConnection::ResetOnExit reset{stmt};
    // Bound here also for a write, so that bad parameters fail the step before it queues.
    RETURN_IF_ERROR(BindStepParameters(stmt, params));
    if (sqlite3_stmt_readonly(stmt)) {
      int rc = connection->Exec("BEGIN");
      if (rc != SQLITE_OK) return SqliteTargetError(label_, db, rc, "cannot begin a transaction");
      ASSIGN_OR_RETURN(QueryResult result, RunStepStatement(label_, db, stmt));
      rc = connection->Exec("COMMIT");
      if (rc != SQLITE_OK) return SqliteTargetError(label_, db, rc, "cannot commit");
      return result;
    }
  }
  // The group's leader prepares and binds the statement again, on the group's connection.
  RememberWrite(sql);
  return commit_group_.Write(sql, params, deadline, result_key);
}

}  // namespace flowrun
