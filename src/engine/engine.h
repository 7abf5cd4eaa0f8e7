// Engine: advances runs durably. It starts no threads: the service calls it from its worker
// threads, and tests drive it on a simulated clock.
//
//   IngestEvents      commits events and the runs they start (one per (event, flow)), then
//                     resolves the waits and cancel_on they match; returns ids after the commit.
//   StartRun          starts a flow by hand (the invoke API).
//   AdvanceReadyRuns  first releases due delayed events (send_event `delay`) into the event log,
//                     starting their runs and resolving their waits (it asks the store only while
//                     such events may exist); then leases a batch of due runs (ready, woken
//                     timers, resolved waits) and walks each as far as it goes. When the runs this
//                     node holds in memory fill the batch, runs are claimed from the store only
//                     every few calls or milliseconds (engine_throttle.h).
//                     Internal steps of the whole batch commit in one transaction; side-effecting
//                     actions start only after that commit and are not waited for: the run's
//                     walker is parked (inflight_runs.h) and a later call, on any worker, takes
//                     it back with the results, which commit together in that call's batch.
//                     Runs whose actions came back go before new claims; no new runs are claimed
//                     while max_inflight_actions are out. Returns the runs advanced.
//   FireCronTick      starts the run of one cron tick of a flow, exactly once across restarts and
//                     nodes (the tick is claimed in the batch that creates the run).
//   CancelRun         asks a run to stop at its next step boundary.
//   Recover           on start-up: ends this node's stale leases, compiles the stored revisions
//                     that unfinished runs are pinned to but the catalog no longer has, and
//                     finishes matching work that a crash interrupted. Every unfinished run then
//                     resumes by replaying its journal (run_walker.h) the next time it is due.
//
// Timers are runs' due times in the store (a sleeping run is a row); NextDueTime tells a driver
// when the next one falls due.
//
// Thread-safety: all methods may be called from many threads at once; a run is advanced by one
// caller at a time (the lease).
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "actions/action.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/secret_source.h"
#include "common/status.h"
#include "engine/engine_throttle.h"
#include "engine/failpoint.h"
#include "engine/inflight_runs.h"
#include "engine/program_catalog.h"
#include "engine/run_walker.h"
#include "store/store.h"

namespace flowrun {

// Finds the action that executes a step key ("http"); nullptr when none. The service binds it
// to its ActionRegistry.
using ActionResolver = std::function<Action*(std::string_view name)>;

struct EngineOptions {
  // Names this node's leases; a node restarting under the same name takes its runs back at once.
  // Default: "node".
  std::string node_id = "node";
  // How long a lease lasts beyond the attempt timeout. Default: 1 minute.
  Duration lease = std::chrono::minutes(1);
  // The timeout of an attempt whose step sets none. Default: 5 minutes.
  Duration default_attempt_timeout = std::chrono::minutes(5);
  // How long an event's client id deduplicates. Default: 24 hours.
  Duration dedupe_window = std::chrono::hours(24);
  // How many non-indexed waits one event scans, and how many events one wait looks back over.
  // Default: 1000.
  int scan_limit = 1000;
  // How many runs this node may hold in memory that it created already leased to itself, so that
  // it advances them without claiming them from the store first (one transaction less per run).
  // Runs with a concurrency limit are always claimed. If the node dies, such a run falls due for
  // any node when its lease runs out, or at once when this node recovers. More than the workers
  // hold at once only costs memory while ingest outruns them. 0 disables. Default: 512.
  int fresh_run_capacity = 512;
  // IngestEvents walks each run it starts as far as the run's internal and control steps go
  // (flow/step_kinds.h; a sleep, wait or invoke only starts) and commits that progress in the
  // transaction that stores the event: a flow without actions is finished when the event is
  // acknowledged. Runs that reach an action step, and runs with an idempotency key or a
  // concurrency limit, are left to AdvanceReadyRuns. Default: true.
  bool advance_on_ingest = true;
  // How many actions may be in flight on this node at once. Past it, AdvanceReadyRuns takes back
  // only runs whose actions returned and claims no new ones: further runs wait in the store.
  // Default: 10,000.
  int max_inflight_actions = 10000;
  // How many actions one run may have in flight at once (parallel branches, foreach items).
  // Default: 100.
  int max_actions_per_run = 100;
  // An action whose output serializes to more bytes than this fails its step with kOutOfRange
  // (not retried; `limits.max_step_output_bytes`). Default: 1 MiB.
  long long max_step_output_bytes = 1LL << 20;
  // Called from an action's thread when a run's action came back and a worker should call
  // AdvanceReadyRuns. Must be quick and thread-safe. Default: none (the caller polls).
  std::function<void()> on_work_ready = nullptr;
  // Seeds retry jitter; 0 seeds from the system. Default: 0.
  uint64_t seed = 0;
  // Observers for metrics. Each is called on the engine's calling thread after the commit that
  // made what it reports durable, once per occurrence; they must be quick and thread-safe.
  // Default: none.
  // A run was created (by an event, invoke, cron, a rerun or a step of another run).
  std::function<void(const std::string& flow_id)> on_run_started = nullptr;
  // A run was created skipped by flow control; `cause` is "rate_limit" or "singleton".
  std::function<void(const std::string& flow_id, const std::string& cause)> on_run_skipped =
      nullptr;
  // A run ended: completed, failed or cancelled.
  std::function<void(const std::string& flow_id, store::RunStatus status)> on_run_finished =
      nullptr;
  // One attempt of a side-effecting action step ("http", "email", ...) returned, after `duration`
  // on the engine's clock; called when a worker takes the result back to record it.
  std::function<void(const std::string& action, Duration duration)> on_step_finished = nullptr;
  // Receives `log` steps. Default: none.
  std::function<void(const std::string& run_id, const std::string& step_key,
                     const std::string& message)>
      log;
};

// The result of ingesting one event.
struct IngestedEvent {
  std::string id;                 // the stored event's id (the first one's, for a duplicate)
  bool duplicate = false;         // its client id was seen within the deduplication window
  std::vector<std::string> runs;  // runs it started
};

class Engine {
 public:
  // REQUIRES: every reference outlives the engine. `secrets` may be null.
  Engine(store::Store& store, const ProgramCatalog& catalog, ActionResolver actions,
         const Clock& clock, const SecretSource* secrets, EngineOptions options = {});
  // Waits for results being handed back at that moment; results that come back later are dropped.
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  [[nodiscard]] Status Recover();

  // Each event is an object {name, data?, id?}. When one is malformed, nothing is stored and the
  // error (kInvalidArgument) names its index.
  [[nodiscard]] StatusOr<std::vector<IngestedEvent>> IngestEvents(const std::vector<Json>& events);
  // Starts the current revision of a flow with `data` as its event's data. kNotFound for an
  // unknown flow; kAlreadyExists when the flow's idempotency key drops the start.
  [[nodiscard]] StatusOr<std::string> StartRun(std::string_view flow_id, Json data);
  // Starts the current revision of `flow_id` for its cron tick at `tick` (a fire time of one of
  // its cron triggers; the first trigger whose schedule fires at `tick` names the schedule, else
  // the first trigger). The run's event is {id, name: "cron", data: {tick, schedule, timezone},
  // ts: tick} with an id derived from (flow, tick). The tick is claimed in the same batch that
  // creates the run, so however often and on however many nodes it is fired, one run starts.
  // Returns the run id, or nullopt when the tick was already claimed (or the flow's idempotency
  // key dropped the run). kNotFound for an unknown flow; kFailedPrecondition for a flow without
  // cron triggers.
  [[nodiscard]] StatusOr<std::optional<std::string>> FireCronTick(std::string_view flow_id,
                                                                  TimePoint tick);
  // The latest tick claimed for a flow by FireCronTick, or nullopt when none was; a scheduler
  // uses it after downtime to decide which missed ticks to fire (`catchup`).
  [[nodiscard]] StatusOr<std::optional<TimePoint>> LastCronTick(std::string_view flow_id);
  [[nodiscard]] StatusOr<int> AdvanceReadyRuns(int max);
  // Shutdown: from now on AdvanceReadyRuns claims no runs and releases no delayed events; it only
  // takes back runs whose actions return, so in-flight actions can finish and be recorded.
  void StopClaiming();
  // Actions started and not yet returned.
  int ActionsInFlight() const;
  // True while an action is in flight or a returned result waits for a worker to record it: a
  // clean shutdown keeps the workers running until this is false (or its grace period ends).
  bool ResultsPending() const;
  [[nodiscard]] Status CancelRun(std::string_view run_id);
  // Ends this node's leases and forgets the runs it holds in memory, which become due at once for
  // any node; for a clean shutdown, after the last AdvanceReadyRuns has returned. Results of
  // actions still in flight are then dropped: those runs start the steps again, with the same
  // idempotency keys.
  [[nodiscard]] Status ReleaseLeases();
  // Starts a new run of the same revision as `run_id`, with the same trigger event, and returns
  // its id. The flow's idempotency key does not drop it, and it is not the child of the original's
  // parent. With `from_step` (the id of a top-level step), the recorded completions of the steps
  // before it (with their children and on_error handlers, and the now()/uuid() values they used)
  // are copied into the new run, which therefore does not execute them again, and execution
  // resumes at `from_step`. Errors: kNotFound for an unknown run; kInvalidArgument for a
  // `from_step` that is not a top-level step of that revision; kFailedPrecondition when the
  // revision can no longer be compiled.
  [[nodiscard]] StatusOr<std::string> RerunRun(std::string_view run_id,
                                               std::optional<std::string> from_step = {});
  // Records a flow revision in the store, so that the dashboard and API can show it.
  [[nodiscard]] Status PublishRevision(const Program& program);

  [[nodiscard]] StatusOr<std::optional<store::RunRecord>> GetRun(std::string_view run_id);
  [[nodiscard]] StatusOr<std::vector<store::RunRecord>> ListRuns(const store::RunFilter& filter);
  [[nodiscard]] StatusOr<std::vector<store::JournalEntry>> GetJournal(std::string_view run_id);
  [[nodiscard]] StatusOr<std::optional<TimePoint>> NextDueTime();

  // The program of a revision: from the catalog, else compiled from the revision's document in
  // the store (PublishRevision) and kept, so a run pinned to a revision that is no longer loaded
  // still finishes on it. nullptr when neither has it or the stored document does not compile
  // to that revision.
  std::shared_ptr<const Program> ProgramFor(std::string_view flow_id, std::string_view revision);

  Failpoints& TEST_failpoints() { return failpoints_; }

 private:
  // A run walked by IngestEvents, in the batch at `batch`.
  struct InlineWalk {
    size_t batch;
    std::string run_id;
    std::string flow_id;
    WalkResult result;
  };
  // Ops a first walk may add to an ingest batch; a longer walk is left to the workers.
  static constexpr size_t kMaxOpsWalkedOnIngest = 64;

  // Adds to `batch` the runs `event` starts in every current flow.
  void PlanRuns(const store::EventRecord& event, store::WriteBatch& batch);
  // Walks the runs created in `batch` (see EngineOptions::advance_on_ingest), adding their
  // progress to it; those walked are leased to this node in their CreateRunOp.
  void WalkNewRuns(size_t batch_index, store::WriteBatch& batch, const WalkEnvironment& walk_env,
                   TimePoint now, std::vector<InlineWalk>& walks);
  [[nodiscard]] StatusOr<std::optional<store::RunRecord>> NewRun(const Program& program,
                                                                 const Json& event,
                                                                 std::string run_id,
                                                                 std::string trigger_event_id,
                                                                 store::CreateRunOp& op);
  // Commits with failpoints on both sides. Runs the batches create are leased to this node and
  // queued in fresh_ while it has room (see EngineOptions::fresh_run_capacity).
  [[nodiscard]] StatusOr<std::vector<store::BatchResult>> CommitWithFailpoints(
      std::vector<store::WriteBatch> batches);
  // Records a cancellation request on runs still queued in fresh_ (their copy was made before it)
  // and on runs whose actions are in flight.
  void MarkCancelled(const std::set<std::string>& run_ids);
  // Up to `max` runs from fresh_ whose lease still holds at `now`.
  std::vector<store::RunRecord> TakeFreshRuns(int max, TimePoint now);
  // The commit itself, with failpoints on both sides.
  [[nodiscard]] StatusOr<std::vector<store::BatchResult>> CommitBatches(
      std::vector<store::WriteBatch> batches);
  // Stores the delayed events due at `now` as events (each with the runs it starts, in the batch
  // that removes it from the schedule), then matches them against waits.
  [[nodiscard]] Status ReleaseDueEvents(TimePoint now);
  // The pending waits (and cancel_on) that `event` satisfies.
  [[nodiscard]] StatusOr<std::vector<store::WaitRecord>> MatchingWaits(
      const store::EventRecord& event);
  // Resolves the waits and cancel_on that stored events match, then marks them matched (when
  // there is nothing to resolve, the marks are deferred to a later commit).
  // How MatchEvents marks events that leave nothing to resolve.
  enum class MarkMatched { kWithNextCommit, kNow };
  [[nodiscard]] Status MatchEvents(const std::vector<store::EventRecord>& events,
                                   MarkMatched mark = MarkMatched::kWithNextCommit);
  // Resolves newly registered waits against events stored before them, then marks them scanned.
  [[nodiscard]] Status ScanWaits(const std::vector<store::WaitRecord>& waits);
  // True when `event` satisfies `wait`'s condition and arrived in its window.
  [[nodiscard]] StatusOr<bool> WaitMatches(const store::WaitRecord& wait,
                                           const store::EventRecord& event);
  const CompiledStep* FindStep(const Program& program, const std::string& step_id);

  // The claim -> walk -> start loop of AdvanceReadyRuns.
  // A walked run whose batch committed, with the actions its walk reached.
  struct WalkedRun {
    std::unique_ptr<RunWalker> walker;
    std::vector<PendingAction> actions;
  };
  // Up to `max` runs whose actions came back, with their results recorded (not yet committed).
  std::vector<std::unique_ptr<RunWalker>> TakeCompletedRuns(int max);
  // Up to `max` due runs: fresh ones held in memory first, then leased from the store.
  [[nodiscard]] StatusOr<std::vector<store::RunRecord>> ClaimDueRuns(int max, TimePoint now);
  // A walker per claimed run, its journal loaded; runs whose revision is unknown are put off.
  [[nodiscard]] Status BuildWalkers(std::vector<store::RunRecord> claimed,
                                    std::vector<std::unique_ptr<RunWalker>>& walkers);
  // Walks every run as far as it goes and commits all their batches at once. Returns the runs
  // that have actions to start or still in flight; the others are done with for now.
  [[nodiscard]] StatusOr<std::vector<WalkedRun>> WalkAndCommit(
      std::vector<std::unique_ptr<RunWalker>> walkers);
  // Parks each walker in inflight_ and starts its actions; none waits for a result.
  [[nodiscard]] Status StartActions(std::vector<WalkedRun> walked);
  void StartAction(const std::string& run_id, PendingAction action);
  // Parks a walker to be walked again by the next call, with or without results.
  void ParkReady(std::unique_ptr<RunWalker> walker);
  // Walk rounds one AdvanceReadyRuns call goes through for runs whose actions finish at once.
  static constexpr int kMaxRoundsPerAdvance = 16;
  double Uniform();

  store::Store& store_;
  const ProgramCatalog& catalog_;
  ActionResolver actions_;
  const Clock& clock_;
  const EngineOptions options_;
  WalkEnvironment env_;
  Failpoints failpoints_;
  // Set when the after_action failpoint fired in a completion: the engine has "crashed".
  std::atomic<bool> crashed_{false};
  // Cleared by StopClaiming: AdvanceReadyRuns then only takes back runs whose actions returned.
  std::atomic<bool> claiming_{true};
  InflightRuns inflight_;
  // Lets an action that returns after the engine is gone (a database statement still running
  // when the service stopped) drop its result instead of touching a destroyed engine.
  struct Liveness {
    std::shared_mutex mu;
    bool alive = true;  // GUARDED_BY(mu)
  };
  const std::shared_ptr<Liveness> liveness_ = std::make_shared<Liveness>();

  std::mutex recovered_mu_;
  // GUARDED_BY(recovered_mu_): revisions compiled from the store, by (flow id, revision).
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Program>, std::less<>>
      recovered_;

  std::mutex fresh_mu_;
  // GUARDED_BY(fresh_mu_): runs this node created leased to itself, oldest first, not yet walked.
  std::deque<store::RunRecord> fresh_;
  // GUARDED_BY(fresh_mu_): fresh_.size() plus the leased runs of batches being committed.
  int fresh_reserved_ = 0;

  // Events matched with nothing left to resolve, to mark in the next commit (MatchEvents).
  static constexpr size_t kMaxDeferredMarks = 1000;
  std::mutex deferred_mu_;
  std::vector<std::string> deferred_marks_;  // GUARDED_BY(deferred_mu_)

  // When ReleaseDueEvents asks the store (see engine_throttle.h).
  static constexpr Duration kScheduledRecheck = std::chrono::seconds(1);
  ScheduledEventCheck scheduled_check_{kScheduledRecheck};
  // When AdvanceReadyRuns claims from the store although fresh_ filled the batch.
  static constexpr Duration kStoreClaimInterval = std::chrono::milliseconds(10);
  static constexpr int kStoreClaimEveryCalls = 8;
  StoreClaimThrottle store_claims_{kStoreClaimInterval, kStoreClaimEveryCalls};

  std::mutex mu_;
  std::mt19937_64 random_;  // GUARDED_BY(mu_)
  // GUARDED_BY(mu_): step id -> step, per program, for evaluating wait conditions.
  std::unordered_map<const Program*,
                     std::pair<std::shared_ptr<const Program>,
                               std::unordered_map<std::string, const CompiledStep*>>>
      step_index_;
};

}  // namespace flowrun
