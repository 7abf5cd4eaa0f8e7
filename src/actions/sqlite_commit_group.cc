#include "actions/sqlite_commit_group.h"

#include <sqlite3.h>

#include <algorithm>
#include <optional>

#include "actions/sqlite_statement.h"

namespace flowrun {

struct SqliteCommitGroup::Step {
  std::string_view sql;
  const Json* params = nullptr;
  Deadline deadline;
  std::optional<StatusOr<QueryResult>> result;  // set by the leader
  bool taken = false;  // a leader has it: it waits for the result, whatever its deadline
  bool done = false;   // the result is final
  std::condition_variable wake;
};

SqliteCommitGroup::SqliteCommitGroup(std::string label, std::string path,
                                     std::shared_ptr<SqliteWriterGate> gate)
    : label_(std::move(label)), path_(std::move(path)), gate_(std::move(gate)) {}

StatusOr<QueryResult> SqliteCommitGroup::Write(std::string_view sql, const Json& params,
                                               Deadline deadline) {
  Step step;
  step.sql = sql;
  step.params = &params;
  step.deadline = deadline;
  std::unique_lock lock(mu_);
  queue_.push_back(&step);
  while (!step.done) {
    if (!step.taken && !leading_ && queue_.front() == &step) break;  // this step leads
    if (step.taken) {
      step.wake.wait(lock);
    } else if (step.wake.wait_until(lock, deadline) == std::cv_status::timeout && !step.taken) {
      auto position = std::find(queue_.begin(), queue_.end(), &step);
      const bool was_front = position == queue_.begin();
      queue_.erase(position);
      if (was_front && !leading_ && !queue_.empty()) queue_.front()->wake.notify_one();
      return UnavailableError("database " + label_ +
                              ": cannot begin a transaction: other writers held the database "
                              "for the whole timeout (the database is busy)");
    }
  }
  if (step.done) return std::move(*step.result);

  leading_ = true;
  std::deque<Step*> group;
  while (!queue_.empty() && group.size() < kMaxGroupSize) {
    queue_.front()->taken = true;
    group.push_back(queue_.front());
    queue_.pop_front();
  }
  lock.unlock();
  RunGroup(group);
  lock.lock();
  leading_ = false;
  for (Step* member : group) {
    member->done = true;
    if (member != &step) member->wake.notify_one();  // it cannot leave before we unlock
  }
  if (!queue_.empty()) queue_.front()->wake.notify_one();
  return std::move(*step.result);
}

void SqliteCommitGroup::RunGroup(std::deque<Step*>& group) {
  if (connection_ == nullptr) {
    StatusOr<std::unique_ptr<SqliteConnection>> opened = SqliteConnection::Open(label_, path_);
    if (!opened.ok()) {
      for (Step* step : group) step->result = opened.status();
      return;
    }
    connection_ = std::move(*opened);
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

  std::deque<Step*> pending = group;
  while (!RunPass(connection, pending)) {
  }
  if (!sqlite3_get_autocommit(connection.handle())) connection.Exec("ROLLBACK");
  // A connection that cannot even roll back is in no state to be used again.
  if (!sqlite3_get_autocommit(connection.handle())) connection_.reset();
  gate_->Leave();
}

StatusOr<QueryResult> SqliteCommitGroup::RunStep(SqliteConnection& connection, const Step& step) {
  int rc = connection.Exec("SAVEPOINT step");
  if (rc != SQLITE_OK) {
    return SqliteError(label_, connection.handle(), rc, "cannot begin a savepoint");
  }
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, connection.StepStatement(step.sql));
  SqliteConnection::ResetOnExit reset{stmt};
  RETURN_IF_ERROR(BindStepParameters(stmt, *step.params));
  return RunStepStatement(label_, connection.handle(), stmt);
}

bool SqliteCommitGroup::RunPass(SqliteConnection& connection, std::deque<Step*>& pending) {
  int rc = connection.Exec("BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) {
    Status error = SqliteError(label_, connection.handle(), rc, "cannot begin a transaction");
    for (Step* step : pending) step->result = error;
    return true;
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

  rc = connection.Exec("COMMIT");
  if (rc != SQLITE_OK) {
    Status error = SqliteError(label_, connection.handle(), rc, "cannot commit");
    for (Step* step : kept) step->result = error;
  } else {
    std::lock_guard lock(mu_);
    ++commits_;
  }
  return true;
}

size_t SqliteCommitGroup::TEST_commits() {
  std::lock_guard lock(mu_);
  return commits_;
}

size_t SqliteCommitGroup::TEST_queued() {
  std::lock_guard lock(mu_);
  return queue_.size();
}

}  // namespace flowrun
