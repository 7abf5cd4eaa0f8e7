// SqliteCommitGroup: runs the writing statements of concurrent `db` steps on one SQLite file in
// shared transactions, so that steps that arrive together cost one commit (one fsync) instead of
// one each. LevelDB's write path works the same way; the queue is common/group_commit_queue.h,
// the one the stores' write paths use too.
//
// Steps queue in arrival order. The step at the front, when no group is running, leads: it takes
// up to kMaxGroupSize steps from the front and, on the group's one connection (opened on first
// use; one at a time leads, so the pages it caches are the file's written pages, kept once) and
// holding the file's SqliteWriterGate, runs
//
//   BEGIN IMMEDIATE; { SAVEPOINT; statement; RELEASE | ROLLBACK TO } for each step; COMMIT
//
// The others sleep until the leader hands them their result. So each step is still atomic and
// isolated, as if it had a transaction of its own and they had run one after another:
// - a statement that fails is rolled back to its savepoint, and fails only its own step;
// - a failure that makes SQLite roll back the whole transaction (an interrupted statement, a
//   constraint with ON CONFLICT ROLLBACK, a full disk) fails only the step that caused it; the
//   leader starts a new transaction and runs the group's other steps again, their first run
//   having been undone with it;
// - no step's result is returned before the COMMIT that makes it durable; a failed COMMIT fails
//   every step that was in it (kUnavailable and the like: retried).
//
// A step with a result key is exactly-once: in its savepoint, the group first looks the key up in
// flowrun_step_results and returns the recorded result when there is one; otherwise it runs the
// statement and records its result there (actions/db/sqlite_step_results.h). Once every few minutes
// a group also deletes up to a batch of recorded results older than the retention.
//
// Each statement runs under its own step's deadline (SQLite's progress handler). A step that is
// still queued when its deadline passes leaves the queue with kUnavailable ("busy"), the code
// SQLITE_BUSY had. Once a leader has taken it, a step waits for the group's result: the group
// ends by the latest deadline among its steps plus one commit.
//
// WriteAsync queues a step without a waiting thread: when no caller leads, a drain on the thread
// that `spawn` provides leads the groups, and each step's callback gets its result. Such a step
// still queued past its deadline fails as "busy" when a leader reaches it, that is once the group
// in progress (bounded as above) is done.
//
// Thread-safety: Write and WriteAsync may be called from many threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actions/db/database.h"
#include "actions/db/sqlite_connection.h"
#include "actions/db/sqlite_step_results.h"
#include "actions/db/sqlite_writer_gate.h"
#include "common/group_commit_queue.h"
#include "common/json.h"
#include "common/status.h"

namespace flowrun {

class SqliteCommitGroup {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  static constexpr size_t kMaxGroupSize = 64;

  // `label` names the target in errors; `path` is its file, and `gate` the file's (shared with
  // the other targets of this process that name the same file).
  // `step_results_retention`: recorded results older than this are deleted; zero keeps them.
  // `spawn` runs WriteAsync's drains (see above); it may be null when WriteAsync is not used.
  SqliteCommitGroup(std::string label, std::string path, std::shared_ptr<SqliteWriterGate> gate,
                    Duration step_results_retention = Duration::zero(),
                    std::function<void(std::function<void()>)> spawn = nullptr);
  SqliteCommitGroup(const SqliteCommitGroup&) = delete;
  SqliteCommitGroup& operator=(const SqliteCommitGroup&) = delete;

  // Runs the writing statement `sql` with `params` and returns its result once committed. With a
  // non-empty `result_key`, exactly once under that key (see above).
  [[nodiscard]] StatusOr<QueryResult> Write(std::string_view sql, const Json& params,
                                            Deadline deadline, std::string_view result_key = {});

  // As Write, without waiting: `done` receives the result, on the thread that ran the group.
  // REQUIRES: built with `spawn`.
  void WriteAsync(std::string sql, Json params, Deadline deadline, std::string result_key,
                  Database::QueryDone done);

  // Steps queued and not yet taken by a group.
  size_t queued() const;
  // Transactions committed so far (for tests).
  size_t TEST_commits();

 private:
  struct Step;

  // Runs `group` in one transaction on the group's connection and stores each step's result.
  void RunGroup(const std::vector<Step*>& group);
  // One pass: BEGIN, the steps of `pending` each in a savepoint, COMMIT, storing each step's
  // result. False when SQLite rolled the transaction back midway: `pending` then holds the steps
  // that must run again in a new pass.
  bool RunPass(SqliteConnection& connection, std::deque<Step*>& pending);
  // SAVEPOINT and `step`'s statement, in the open transaction.
  StatusOr<QueryResult> RunStep(SqliteConnection& connection, const Step& step);
  // A step that no group took before its deadline.
  Status QueuedTooLongError() const;
  // Deletes a batch of expired step results when the last pass is long enough ago; its errors
  // are logged and undone, not the steps'.
  void PruneStepResultsIfDue();

  const std::string label_;
  const std::string path_;
  const std::shared_ptr<SqliteWriterGate> gate_;
  const Duration step_results_retention_;
  std::unique_ptr<SqliteConnection> connection_;  // used by the leader only
  // Used by the leader only, on connection_; reset before it.
  std::unique_ptr<SqliteStepResults> step_results_;
  bool step_results_ready_ = false;                     // the table is known to exist (leader only)
  std::chrono::steady_clock::time_point next_prune_{};  // leader only
  std::atomic<size_t> commits_{0};
  // Declared last: built on the members above.
  GroupCommitQueue<Step, StatusOr<QueryResult>> queue_;
};

}  // namespace flowrun
