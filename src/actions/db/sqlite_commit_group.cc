#include "actions/db/sqlite_commit_group.h"

#include <sqlite3.h>

#include <algorithm>
#include <optional>

#include "actions/db/database.h"
#include "actions/db/sqlite_step_sql.h"
#include "actions/db/sqlite_target_error.h"
#include "common/log.h"
#include "common/thread_annotations.h"

namespace flowrun {

namespace {

// How often a group deletes expired step results (one batch each time).
constexpr auto kStepResultsPruneInterval = std::chrono::minutes(5);

long long UnixMillisNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct SqliteCommitGroup::Step {
  std::string_view sql;
  std::string_view result_key;  // empty: not recorded
  const Json* params = nullptr;
  Deadline deadline;
  std::optional<StatusOr<QueryResult>> result;  // set by the leader's RunGroup
  // WriteAsync's step owns what the fields above point to.
  std::string owned_sql;
  std::string owned_result_key;
  Json owned_params;
};

SqliteCommitGroup::SqliteCommitGroup(std::string label, std::string path,
                                     std::shared_ptr<SqliteWriterGate> gate,
                                     Duration step_results_retention,
                                     std::function<void(std::function<void()>)> spawn)
    : label_(std::move(label)),
      path_(std::move(path)),
      gate_(std::move(gate)),
      step_results_retention_(step_results_retention),
      queue_(
          [this](std::vector<Step*>& group) {
            RunGroup(group);
            std::vector<StatusOr<QueryResult>> results;
            results.reserve(group.size());
            for (Step* step : group) results.push_back(std::move(*step->result));
            return results;
          },
          kMaxGroupSize, std::move(spawn)) {}

StatusOr<QueryResult> SqliteCommitGroup::Write(std::string_view sql, const Json& params,
                                               Deadline deadline, std::string_view result_key) {
  Step step;
  step.sql = sql;
  step.result_key = result_key;
  step.params = &params;
  step.deadline = deadline;
  std::optional<StatusOr<QueryResult>> result = queue_.SubmitBy(step, deadline);
  if (!result) return QueuedTooLongError();
  return std::move(*result);
}

void SqliteCommitGroup::WriteAsync(std::string sql, Json params, Deadline deadline,
                                   std::string result_key, Database::QueryDone done) {
  auto step = std::make_unique<Step>();
  step->owned_sql = std::move(sql);
  step->owned_result_key = std::move(result_key);
  step->owned_params = std::move(params);
  step->sql = step->owned_sql;
  step->result_key = step->owned_result_key;
  step->params = &step->owned_params;
  step->deadline = deadline;
  queue_.SubmitAsync(std::move(step), deadline,
                     [this, done = std::move(done)](std::optional<StatusOr<QueryResult>> result) {
                       done(result ? std::move(*result) : QueuedTooLongError());
                     });
}

Status SqliteCommitGroup::QueuedTooLongError() const {
  return UnavailableError("database " + label_ +
                          ": cannot begin a transaction: other writers held the database "
                          "for the whole timeout (the database is busy)");
}

void SqliteCommitGroup::RunGroup(const std::vector<Step*>& group) {
  if (connection_ == nullptr) {
    StatusOr<std::unique_ptr<SqliteConnection>> opened = SqliteConnection::Open(label_, path_);
    if (!opened.ok()) {
      for (Step* step : group) step->result = opened.status();
      return;
    }
    connection_ = std::move(*opened);
    step_results_ = std::make_unique<SqliteStepResults>(label_, connection_->connection());
    step_results_ready_ = false;
  }
  SqliteConnection& connection = *connection_;
  Deadline last = group.front()->deadline;
  for (Step* step : group) last = std::max(last, step->deadline);
  if (!gate_->Enter(last)) {
    for (Step* step : group) {
      step->result = UnavailableError("database " + label_ +
                                      ": cannot begin a transaction: other writers held the "
                                      "database for the whole timeout (the database is busy)");
    }
    return;
  }
  // What is left of the time, for writers in other processes (SQLite's busy handler).
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      last - std::chrono::steady_clock::now());
  sqlite3_busy_timeout(connection.handle(), static_cast<int>(std::max<long long>(1, left.count())));

  std::deque<Step*> pending(group.begin(), group.end());
  while (!RunPass(connection, pending)) {
  }
  if (!sqlite3_get_autocommit(connection.handle())) connection.Exec("ROLLBACK");
  // A connection that cannot even roll back is in no state to be used again.
  if (!sqlite3_get_autocommit(connection.handle())) {
    step_results_.reset();
    connection_.reset();
  }
  gate_->Leave();
}

StatusOr<QueryResult> SqliteCommitGroup::RunStep(SqliteConnection& connection, const Step& step) {
  int rc = connection.Exec("SAVEPOINT step");
  if (rc != SQLITE_OK) {
    return SqliteTargetError(label_, connection.handle(), rc, "cannot begin a savepoint");
  }
  if (!step.result_key.empty()) {
    ASSIGN_OR_RETURN(std::optional<QueryResult> recorded, step_results_->Find(step.result_key));
    if (recorded) {
      LogStepResultReplayed(label_, step.result_key);
      return std::move(*recorded);
    }
  }
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, connection.StepStatement(step.sql));
  SqliteConnection::ResetOnExit reset{stmt};
  RETURN_IF_ERROR(BindStepParameters(stmt, *step.params));
  ASSIGN_OR_RETURN(QueryResult result, RunStepStatement(label_, connection.handle(), stmt));
  if (!step.result_key.empty()) {
    RETURN_IF_ERROR(step_results_->Record(step.result_key, result, UnixMillisNow()));
  }
  return result;
}

void SqliteCommitGroup::PruneStepResultsIfDue() {
  if (step_results_retention_ <= Duration::zero()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < next_prune_) return;
  next_prune_ = now + kStepResultsPruneInterval;
  const long long before =
      UnixMillisNow() -
      std::chrono::duration_cast<std::chrono::milliseconds>(step_results_retention_).count();
  if (connection_->Exec("SAVEPOINT prune") != SQLITE_OK) return;
  StatusOr<int> pruned = step_results_->Prune(before);
  if (!pruned.ok()) {
    connection_->Exec("ROLLBACK TO prune");
    LogError("deleting expired db step results failed", {{"error", pruned.status().ToString()}});
  }
  connection_->Exec("RELEASE prune");
}

bool SqliteCommitGroup::RunPass(SqliteConnection& connection, std::deque<Step*>& pending) {
  int rc = connection.Exec("BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) {
    Status error = SqliteTargetError(label_, connection.handle(), rc, "cannot begin a transaction");
    for (Step* step : pending) step->result = error;
    return true;
  }

  const bool records = std::any_of(pending.begin(), pending.end(),
                                   [](const Step* step) { return !step->result_key.empty(); });
  if (records && !step_results_ready_) {
    if (Status created = step_results_->EnsureTable(); !created.ok()) {
      for (Step* step : pending) step->result = created;
      return true;
    }
  }

  // The progress handler interrupts the running statement once its own step's deadline passes.
  Deadline current_deadline = pending.front()->deadline;
  sqlite3_progress_handler(
      connection.handle(), 1000,
      [](void* arg) -> int {
        return std::chrono::steady_clock::now() > *static_cast<Deadline*>(arg) ? 1 : 0;
      },
      &current_deadline);
  struct ProgressHandlerReset {
    sqlite3* connection;
    ~ProgressHandlerReset() { sqlite3_progress_handler(connection, 0, nullptr, nullptr); }
  } reset{connection.handle()};

  std::deque<Step*> kept;  // ran and kept, waiting for the COMMIT
  for (size_t i = 0; i < pending.size(); ++i) {
    Step* step = pending[i];
    current_deadline = step->deadline;
    StatusOr<QueryResult> result = RunStep(connection, *step);
    if (sqlite3_get_autocommit(connection.handle())) {
      // SQLite rolled the whole transaction back, and with it the steps kept so far in this pass.
      // This step's result is final; those and the steps after it run again in a new transaction.
      step->result = result.ok() ? StatusOr<QueryResult>(InternalError("database " + label_ +
                                                                       ": the statement ended the "
                                                                       "transaction it ran in"))
                                 : std::move(result);
      kept.insert(kept.end(), pending.begin() + static_cast<std::ptrdiff_t>(i) + 1, pending.end());
      pending = std::move(kept);
      return pending.empty();
    }
    if (result.ok()) {
      connection.Exec("RELEASE step");
      kept.push_back(step);
    } else {
      connection.Exec("ROLLBACK TO step");
      connection.Exec("RELEASE step");
    }
    step->result = std::move(result);
  }

  if (records) PruneStepResultsIfDue();
  rc = connection.Exec("COMMIT");
  if (rc != SQLITE_OK) {
    Status error = SqliteTargetError(label_, connection.handle(), rc, "cannot commit");
    for (Step* step : kept) step->result = error;
  } else {
    if (records) step_results_ready_ = true;
    commits_.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

size_t SqliteCommitGroup::TEST_commits() { return commits_.load(std::memory_order_relaxed); }

size_t SqliteCommitGroup::queued() const { return queue_.queued(); }

}  // namespace flowrun
