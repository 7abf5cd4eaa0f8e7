// SqliteDatabase: a `db` target that is a SQLite file.
//
// - Statements bind `:name` parameters natively.
// - A reading statement runs in a transaction of its own, on a connection from a small pool;
//   readers do not wait for the writer gate (below).
// - A writing statement is checked on a pooled connection the first time it is seen, then runs
//   on the target's SqliteCommitGroup (actions/db/sqlite_commit_group.h): steps that write at the
//   same time share one transaction and one commit, each in a savepoint of its own, so each is
//   still atomic and a failed one undoes only itself.
// - The groups of every target that names the file, in this process, take turns through the
//   file's SqliteWriterGate.
// - The statement timeout covers the wait in the queue and for the gate (running out there is
//   kUnavailable, "busy", as SQLITE_BUSY is), SQLite's busy timeout for writers in other
//   processes, and the statement itself (a progress handler).
// - Durability: the file keeps its own journal mode and SQLite's default synchronous=FULL, so a
//   statement returns only once its commit is durable.
// - Exactly-once: a writing statement started with a result key records its result in
//   flowrun_step_results within the step's savepoint (actions/db/sqlite_step_results.h).
// - Start never waits for the disk. A writing statement seen before goes to the commit group's
//   queue (WriteAsync), where no thread waits for it; the queue's drains run on a thread of their
//   own, since a drain must not wait for a pool thread that a write waiting for the drain holds.
//   Any other statement runs on the target's WorkerPool (kMinWorkers or max_idle threads,
//   whichever is more, started as needed), as Execute does.
//
// Thread-safety: Execute and Start may be called from many threads; each call uses its own
// connection.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "actions/db/database.h"
#include "actions/db/sqlite_commit_group.h"
#include "actions/db/sqlite_connection.h"
#include "common/idle_pool.h"
#include "common/thread_annotations.h"
#include "common/worker_pool.h"

namespace flowrun {

class SqliteDatabase final : public Database {
 public:
  // Worker threads at least: for reads, first-seen writes, and the commit group's drains.
  static constexpr size_t kMinWorkers = 32;

  // `step_results_retention`: see DatabaseOptions (zero keeps recorded results).
  SqliteDatabase(std::string label, std::string path, size_t max_idle,
                 Duration step_results_retention = Duration::zero());
  ~SqliteDatabase() override;
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  StatusOr<QueryResult> Execute(std::string_view sql, const Json& params,
                                Duration timeout) override;
  void Start(std::string sql, Json params, Duration timeout, std::string result_key,
             QueryDone done) override;
  size_t queued() const override { return workers_.queued() + commit_group_.queued(); }

  // The target's commit group (for tests).
  SqliteCommitGroup& TEST_commit_group() { return commit_group_; }

 private:
  // Writing statements seen before go to the commit group without a pooled connection.
  bool KnownToWrite(std::string_view sql);
  void RememberWrite(std::string_view sql);
  // Execute, recording a write's result under `result_key` when it is not empty.
  StatusOr<QueryResult> Run(std::string_view sql, const Json& params, Duration timeout,
                            std::string_view result_key);
  StatusOr<std::unique_ptr<SqliteConnection>> Acquire();
  void Release(std::unique_ptr<SqliteConnection> connection);

  const std::string label_;
  const std::string path_;
  SqliteCommitGroup commit_group_;
  IdlePool<SqliteConnection> idle_;
  Mutex mu_;
  // At most SqliteConnection::kMaxStatements, then forgotten together.
  std::set<std::string, std::less<>> known_writes_ FLOWRUN_GUARDED_BY(mu_);
  // The commit group's drains (WriteAsync). Destroyed after workers_, whose writes may wait for
  // a drain, and before the group.
  WorkerPool drains_;
  // Declared last: destroyed (its queue run empty, its threads joined) before what tasks use.
  WorkerPool workers_;
};

}  // namespace flowrun
