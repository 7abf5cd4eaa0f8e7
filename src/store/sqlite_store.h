// SqliteStore: the Store on one SQLite file in WAL mode.
//
// Durability: `synchronous=FULL` by default, so a commit survives power loss; NORMAL may be
// chosen (survives a process crash, not power loss). Writes go through one writer connection
// and a GroupCommitQueue: every batch queued while a transaction is in flight joins the next one,
// and each caller returns only after the transaction holding its batch has committed. Each batch
// runs inside its own SAVEPOINT, so one batch's failure rolls back only that batch. Reads use a
// small pool of separate connections, which WAL lets run alongside the writer.
//
// Opening checks the file: a file that is not a flowrun database (or is corrupt) is kDataLoss, a
// file locked by another process is kUnavailable, a file written by a newer flowrun is
// kFailedPrecondition. Nothing is written in those cases. When the last close was not clean (no
// matching clean-shutdown marker, see clean_shutdown_marker.h), opening first runs
// `PRAGMA quick_check` and refuses a damaged file with kDataLoss listing the first problems.
//
// Damage found at run time: when SQLite reports SQLITE_CORRUPT or SQLITE_NOTADB on any of the
// store's connections, its DataLossLatch trips (one "DATA_LOSS" error log line naming the file)
// and every later write is refused with kDataLoss; reads still run. A store whose latch tripped
// does not write the clean-shutdown marker, so the next open checks the file.
//
// Thread-safety: all methods may be called from many threads at once.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/group_commit_queue.h"
#include "common/idle_pool.h"
#include "store/data_loss_latch.h"
#include "store/schema.h"
#include "store/store.h"
#include "store/store_connection.h"
#include "store/wal_checkpointer.h"

namespace flowrun::store {

struct SqliteStoreOptions {
  // The database file. ":memory:" means a private temporary file removed on close, for one-off
  // local runs (`flowrun run`).
  std::string path;
  // Default: true (synchronous=FULL). false selects synchronous=NORMAL.
  bool sync_full = true;
  // How long to wait for a lock held by another process. Default: 5000.
  int busy_timeout_ms = 5000;
  // The most requests one group-commit transaction takes. Default: 512.
  size_t max_group = 512;
  // Used for store-side timestamps (wake-ups, deduplication windows). REQUIRES: outlives the
  // store. Default: nullptr means the system clock.
  const Clock* clock = nullptr;
  // The most runs one retention transaction deletes (PruneFinishedRuns). Default: 256.
  int prune_batch = 256;
  // What opening does with pending schema migrations. Default: apply them.
  PendingMigrations pending_migrations = PendingMigrations::kApply;
  // Run `PRAGMA quick_check` at open when the last close was not clean. Default: true.
  bool check_after_unclean_shutdown = true;
};

class SqliteStore final : public Store {
 public:
  [[nodiscard]] static StatusOr<std::unique_ptr<SqliteStore>> Open(SqliteStoreOptions options);
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;
  ~SqliteStore() override;

  StatusOr<std::vector<BatchResult>> CommitMany(std::vector<WriteBatch> batches) override;
  StatusOr<std::vector<RunRecord>> ClaimRuns(std::string_view owner, TimePoint now, int max,
                                             Duration lease) override;
  Status ReleaseLeases(std::string_view owner) override;
  StatusOr<int> PruneFinishedRuns(TimePoint ended_before, int limit) override;
  // Candidates are found on a reader connection (WAL: writers go on meanwhile), prune_batch at a
  // time; the writer deletes each batch in one transaction, checking each row again.
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

  // Trips on damage reported at run time; shared with other connections to the same file (the
  // outbox), which must refuse writes too.
  const std::shared_ptr<DataLossLatch>& data_loss_latch() const { return latch_; }
  // True when opening ran `PRAGMA quick_check` (the last close was not clean).
  bool checked_at_open() const { return checked_at_open_; }

  // Transactions committed so far (for benchmarks and tests of group commit).
  int64_t TEST_transactions() const;

 private:
  // One caller's work for the writer: batches to commit, or a claim of due runs.
  struct PruneEventsArgs {
    std::vector<int64_t> seqs;
    TimePoint stored_before;
  };
  struct ClaimArgs {
    std::string owner;
    TimePoint now;
    int max = 0;
    Duration lease{};
  };
  // The JSON columns of one op, serialized on the caller's thread before the op reaches the
  // writer, whose time is what the store's throughput is made of (see SerializeColumns).
  using OpColumns = std::vector<std::string>;
  struct WriteRequest {
    std::vector<WriteBatch> batches;
    std::optional<ClaimArgs> claim;
    // Deletes these events (PruneEvents), each only when it still qualifies.
    std::optional<PruneEventsArgs> prune_events;
    std::vector<std::vector<OpColumns>> columns;  // per batch, per op; may be empty
  };
  struct WriteResult {
    Status status;
    std::vector<BatchResult> batches;
    std::vector<RunRecord> claimed;
    int pruned_events = 0;
  };
  class Writer;
  class ReaderLease;

  explicit SqliteStore(SqliteStoreOptions options);
  [[nodiscard]] Status Initialize();
  std::vector<WriteResult> ApplyGroup(std::vector<WriteRequest*>& group);
  // One attempt at the group in one transaction. Without savepoints, nullopt when a batch failed
  // after writing (the transaction is then rolled back, and the group must run with savepoints).
  std::optional<std::vector<WriteResult>> ApplyGroupOnce(std::vector<WriteRequest*>& group,
                                                         bool savepoints);
  [[nodiscard]] StatusOr<std::unique_ptr<sqlite::Connection>> AcquireReader();
  void ReturnReader(std::unique_ptr<sqlite::Connection> db);
  TimePoint Now() const;

  SqliteStoreOptions options_;
  std::string temp_dir_;  // for ":memory:", removed on close
  std::shared_ptr<DataLossLatch> latch_;
  bool checked_at_open_ = false;
  bool opened_ = false;  // Initialize succeeded: closing writes the clean-shutdown marker
  std::unique_ptr<Writer> writer_;  // used only by the group leader inside ApplyGroup
  std::unique_ptr<WalCheckpointer> checkpointer_;  // checkpoints the writer's log off its thread
  std::unique_ptr<GroupCommitQueue<WriteRequest, WriteResult>> queue_;
  IdlePool<sqlite::Connection> readers_{8};  // idle reader connections
};

}  // namespace flowrun::store
