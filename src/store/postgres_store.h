// PostgresStore: the Store on a PostgreSQL database (15 or later) that several flowrun nodes
// share.
//
// Writes: one writer connection per node and a GroupCommitQueue, as in SqliteStore: every batch
// queued while a transaction is in flight joins the next one, and each batch succeeds or fails
// alone (first without savepoints; when a batch fails after writing, or a statement fails, the
// group runs again with a SAVEPOINT per batch). On the first attempt the group's plain batches
// (lease checks, journal entries, run updates, events without a client id, runs without flow
// control) are applied in bulk: one statement per kind of op for all of them (pg_set_writes.h). A
// batch that meets a deadlock or serialization failure is tried again, up to three times, before it
// fails with kAborted. The groups that queue up behind a group in flight are led by a thread of the
// store's own, so that under load the next group starts as soon as the last one commits.
//
// Across nodes, what must happen once is decided by the database:
//   - claims lock their rows with FOR UPDATE SKIP LOCKED, so nodes never wait on each other's
//     candidates; a concurrency slot (the run's key, or an extra slot of a concurrency list) is
//     counted under a transaction-scoped advisory lock on the key, which a claim only tries (a
//     run whose key another node is counting is left for the next claim), so claims never wait
//     on each other in a cycle;
//   - flow control (store.h) is decided under transaction-scoped advisory locks on the run id,
//     its idempotency key, its gather (debounce, batch), its GCRA keys (throttle, rate_limit)
//     and its singleton key. A group takes the locks of all its runs at the start of its
//     transaction, sorted by lock id, before it writes or waits for any row: nodes creating
//     runs of the same keys queue up instead of deadlocking. A gather's run is locked (FOR
//     UPDATE) while an event joins it, so a claim either leases it first or after the join;
//   - RequireLeaseOp locks the run's row (FOR UPDATE) while it checks owner and token, so no
//     claim can slip between the check and the commit (see store.h, "Fencing");
//   - cron ticks, idempotency keys, event client ids and outbox messages are primary keys or
//     unique indexes, claimed with INSERT ... ON CONFLICT;
//   - a wait is claimed by DELETE ... RETURNING, so only one node resolves it;
//   - transactions that store events or register waits take one advisory lock, so event seqs
//     become visible in seq order and a wait registered beside a new event either is seen by the
//     event's transaction or sees the event when it scans (the guarantee SQLite's single writer
//     gives). Every transaction takes its locks in one order (flow-control keys, this lock, then
//     rows), and takes this one as late as that allows: after the journal entries of batches
//     that check no lease, so that nodes storing events hold it for less time.
// Sequence numbers come from the database (BIGSERIAL, and the sequence `journal_seq`).
//
// Wake-ups: a transaction that makes a run due, wakes one or schedules an event sends NOTIFY on
// the channel `flowrun_wake` (delivered at commit); PgWakeListener (pg_wake_listener.h) listens on
// its own connection.
//
// Reads use a pool of separate connections. Schema: pg_migrations.h.
//
// Thread-safety: all methods may be called from many threads at once.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/group_commit_queue.h"
#include "common/idle_pool.h"
#include "common/worker_pool.h"
#include "store/pg_connection.h"
#include "store/pg_recordset.h"
#include "store/schema.h"
#include "store/store.h"

namespace flowrun::store {

struct PostgresStoreOptions {
  // A libpq connection URI: postgres://user@host:port/database.
  std::string url;
  // Used for store-side timestamps. REQUIRES: outlives the store. Default: the system clock.
  const Clock* clock = nullptr;
  // The most requests one group-commit transaction takes. Default: 512.
  size_t max_group = 512;
  // The most runs (PruneFinishedRuns) or events (PruneEvents) one retention transaction
  // deletes. Default: 256.
  int prune_batch = 256;
  // What opening does with pending schema migrations. Default: apply them.
  PendingMigrations pending_migrations = PendingMigrations::kApply;
};

class PostgresStore final : public Store {
 public:
  // Connects and brings the schema up to date. kUnavailable when the server cannot be reached;
  // kFailedPrecondition when the schema is newer than this flowrun.
  [[nodiscard]] static StatusOr<std::unique_ptr<PostgresStore>> Open(PostgresStoreOptions options);
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;
  ~PostgresStore() override;

  StatusOr<std::vector<BatchResult>> CommitMany(std::vector<WriteBatch> batches) override;
  StatusOr<std::vector<RunRecord>> ClaimRuns(std::string_view owner, TimePoint now, int max,
                                             Duration lease) override;
  Status ReleaseLeases(std::string_view owner) override;
  StatusOr<int> PruneFinishedRuns(TimePoint ended_before, int limit) override;
  // Deletes in statements of at most prune_batch events, each on a pooled connection of its own
  // (not the writer's), skipping rows another transaction holds.
  StatusOr<int> PruneEvents(TimePoint stored_before, int limit) override;

  StatusOr<std::optional<RunRecord>> GetRun(std::string_view id) override;
  StatusOr<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override;
  StatusOr<int64_t> CountRuns(RunStatus status) override;
  StatusOr<std::vector<NodeRecord>> ListNodes() override;
  StatusOr<std::vector<JournalEntry>> LoadJournal(std::string_view run_id) override;
  StatusOr<std::optional<TimePoint>> NextDueTime() override;
  StatusOr<std::vector<EventRecord>> DueScheduledEvents(TimePoint now, int limit) override;

  StatusOr<std::optional<EventRecord>> GetEvent(std::string_view id) override;
  StatusOr<std::vector<EventRecord>> ListEvents(const EventFilter& filter) override;
  StatusOr<std::vector<EventRecord>> UnmatchedEvents(int limit) override;

  StatusOr<bool> HasWaits(std::string_view event_name) override;
  StatusOr<std::vector<std::string>> WaitPaths(std::string_view event_name) override;
  StatusOr<std::vector<WaitRecord>> FindIndexedWaits(std::string_view event_name,
                                                     std::string_view match_path,
                                                     std::string_view match_key,
                                                     std::string_view after_id, int limit) override;
  StatusOr<std::vector<WaitRecord>> ScanWaits(std::string_view event_name,
                                              std::string_view after_id, int limit) override;
  StatusOr<std::vector<WaitRecord>> WaitsOfRun(std::string_view run_id) override;
  StatusOr<std::vector<WaitRecord>> UnscannedWaits(int limit) override;

  StatusOr<std::optional<FlowRevisionRecord>> GetFlowRevision(std::string_view flow_id,
                                                              std::string_view revision) override;
  StatusOr<std::vector<FlowRevisionRecord>> ListFlowRevisions(std::string_view flow_id) override;
  StatusOr<std::vector<std::pair<std::string, std::string>>> ActiveRevisions() override;
  StatusOr<std::optional<TimePoint>> LastCronTick(std::string_view flow_id) override;

  // The server process id of the writer connection: its own NOTIFYs need not wake this node.
  int writer_backend_pid() const { return writer_pid_; }
  // Transactions committed so far (for benchmarks and tests of group commit).
  int64_t TEST_transactions() const { return transactions_.load(); }
  // Batches committed in bulk (a statement per kind of op for a group's batches) so far.
  int64_t TEST_batches_in_bulk() const { return batches_in_bulk_.load(); }

 private:
  struct ClaimArgs {
    std::string owner;
    TimePoint now;
    int max = 0;
    Duration lease{};
  };
  struct WriteRequest {
    std::vector<WriteBatch> batches;
    std::optional<ClaimArgs> claim;
    // The batches' Json values, dumped by the thread that queued them (DumpsOf), for the bulk.
    PgDumps dumps;
  };
  struct WriteResult {
    Status status;
    std::vector<BatchResult> batches;
    std::vector<RunRecord> claimed;
  };
  class Writer;
  class ReaderLease;

  explicit PostgresStore(PostgresStoreOptions options);
  [[nodiscard]] Status Initialize();
  std::vector<WriteResult> ApplyGroup(std::vector<WriteRequest*>& group);
  // One attempt at the group in one transaction; nullopt when it must run again with
  // savepoints (a batch failed after writing, or a statement failed).
  std::optional<std::vector<WriteResult>> ApplyGroupOnce(std::vector<WriteRequest*>& group,
                                                         bool savepoints);
  [[nodiscard]] StatusOr<std::unique_ptr<PgConnection>> AcquireReader();
  void ReturnReader(std::unique_ptr<PgConnection> db);
  TimePoint Now() const;

  PostgresStoreOptions options_;
  int writer_pid_ = 0;
  std::unique_ptr<Writer> writer_;  // used only by the group leader inside ApplyGroup
  // The thread that leads the groups queued behind a group in flight
  // (GroupCommitQueue::Leaders::kDrains): under load it goes from one group to the next without
  // waiting to be woken.
  std::unique_ptr<WorkerPool> group_leader_;
  std::unique_ptr<GroupCommitQueue<WriteRequest, WriteResult>> queue_;
  IdlePool<PgConnection> readers_{8};
  std::atomic<int64_t> transactions_{0};
  std::atomic<int64_t> batches_in_bulk_{0};
};

}  // namespace flowrun::store
