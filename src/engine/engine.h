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
//                     every few calls or milliseconds (store_query_throttles.h).
//                     Internal steps of the whole batch commit in one transaction; side-effecting
//                     actions start only after that commit (a run just taken whose first walk
//                     reaches its actions with nothing to record commits nothing: taking it
//                     stored it running under a lease that covers them; see
//                     RunWalker::BatchRestatesTakenRun) and are not waited for: the run's
//                     walker is parked (inflight_runs.h) and a later call, on any worker, takes
//                     it back with the results, which commit together in that call's batch.
//                     Runs whose actions came back go before new claims, except that every
//                     kAdmitEveryRounds-th round of a call claims a batch of new runs first: while
//                     results keep filling every batch, new runs still start, so that their
//                     actions overlap the results' work instead of starting in one wave once the
//                     results dry up. No new runs are claimed while max_inflight_actions are out.
//                     Returns the runs advanced.
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
// Its parts, each behind its own lock:
//   - FreshRunQueue (fresh_runs.h): the runs this node created leased to itself;
//   - WaitMatcher (wait_matcher.h): which waits and cancel_on an event satisfies;
//   - RevisionCache (revision_cache.h): the programs of pinned revisions;
//   - InflightRuns (inflight_runs.h): the walkers of runs whose actions are out;
//   - ScheduledEventCheck and StoreClaimThrottle (store_query_throttles.h).
// The Engine's own code is in engine.cc (the verbs and the commit), engine_ingest.cc (planning
// and starting runs) and engine_advance.cc (the claim -> walk -> execute loop).
//
// Thread-safety: all methods may be called from many threads at once; a run is advanced by one
// caller at a time (the lease).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "actions/action.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/secret_source.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "engine/callback_gate.h"
#include "engine/failpoint.h"
#include "engine/fresh_runs.h"
#include "engine/inflight_runs.h"
#include "engine/program_catalog.h"
#include "engine/revision_cache.h"
#include "engine/run_walker.h"
#include "engine/store_query_throttles.h"
#include "engine/wait_matcher.h"
#include "store/store.h"

namespace flowrun {

// Finds the action that executes a step key ("http"); nullptr when none. The service binds it
// to its ActionRegistry.
using ActionResolver = std::function<Action*(std::string_view name)>;

struct EngineOptions {
  // Names this node's leases; a node restarting under the same name takes its runs back at once.
  // Default: "node".
  std::string node_id = "node";
  // How long a lease lasts at least beyond the deadline of the work it covers (lease_term.h: it
  // is taken or grown to half as long again). Default: 1 minute.
  Duration lease = std::chrono::minutes(1);
  // The timeout of an attempt whose step sets none. Default: 5 minutes.
  Duration default_attempt_timeout = std::chrono::minutes(5);
  // How long an event's client id deduplicates. Default: 24 hours.
  Duration dedupe_window = std::chrono::hours(24);
  // How many rows one store lookup returns while matching events and waits (matching pages
  // through them all), and how many unmatched events or unscanned waits one recovery pass reads.
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
  // Every this many rounds of an AdvanceReadyRuns call, new runs are claimed before the results
  // (see the top of this file).
  static constexpr int kAdmitEveryRounds = 4;
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

  // The program of a revision (see RevisionCache::Find): from the catalog, else compiled from
  // the revision's document in the store (PublishRevision). nullptr when neither has it.
  std::shared_ptr<const Program> ProgramFor(std::string_view flow_id, std::string_view revision);

  Failpoints& TEST_failpoints() { return failpoints_; }

 private:
  using MarkMatched = WaitMatcher::MarkMatched;

  // How long a lease this node takes on a run lasts (lease_term.h), from the moment it is taken:
  // when runs are created leased to it and when it claims them.
  Duration NewLeaseSpan() const;

  // --- Starting runs (engine_ingest.cc) ---
  // A run walked by IngestEvents, in the batch at `batch`.
  struct InlineWalk {
    size_t batch;
    std::string run_id;
    std::string flow_id;
    WalkResult result;
  };
  // A `log` line of a first walk, held until its run is durable: (run id, step key, message).
  using HeldLog = std::tuple<std::string, std::string, std::string>;
  // What IngestEvents prepares before its commit.
  struct IngestPlan {
    explicit IngestPlan(size_t events) : planned_runs(events), cancelled(events) {}
    std::vector<store::WriteBatch> batches;           // one per event
    std::vector<std::set<std::string>> planned_runs;  // runs started by event i itself
    std::vector<std::set<std::string>> cancelled;     // runs whose cancel_on event i met
    std::vector<InlineWalk> walks;
    std::unordered_map<std::string, bool> awaited_names;  // event name -> waits exist
  };
  // Ops a first walk may add to an ingest batch; a longer walk is left to the workers.
  static constexpr size_t kMaxOpsWalkedOnIngest = 64;

  // The batch that stores event `index` of an IngestEvents call, with the runs it starts, their
  // first walks and the waits it resolves.
  [[nodiscard]] StatusOr<store::WriteBatch> PlanIngest(size_t index, const Json& input,
                                                       TimePoint now,
                                                       const WalkEnvironment& walk_env,
                                                       IngestPlan& plan, IngestedEvent& ingested);
  // Adds to `batch` the resolutions of the waits that `event` satisfies, when any may exist.
  [[nodiscard]] Status ResolveOnIngest(const store::EventRecord& event, size_t index,
                                       store::WriteBatch& batch, IngestPlan& plan);
  // After the ingest commit: fills in `ingested` and returns the events left to match.
  [[nodiscard]] StatusOr<std::vector<store::EventRecord>> CollectIngested(
      std::vector<store::BatchResult>& results, const IngestPlan& plan,
      std::vector<IngestedEvent>& ingested);
  // After the ingest commit: reports the first walks that became durable, sends their held log
  // lines, and returns the waits they registered.
  std::vector<store::WaitRecord> FinishInlineWalks(const std::vector<store::BatchResult>& results,
                                                   std::vector<InlineWalk>& walks,
                                                   const std::vector<HeldLog>& logs);
  // Adds to `batch` the runs `event` starts in every current flow.
  void PlanRuns(const store::EventRecord& event, store::WriteBatch& batch);
  // Walks the runs created in `batch` (see EngineOptions::advance_on_ingest), adding their
  // progress to it; those walked are leased to this node in their CreateRunOp.
  void WalkNewRuns(size_t batch_index, store::WriteBatch& batch, const WalkEnvironment& walk_env,
                   TimePoint now, std::vector<InlineWalk>& walks);
  // WalkNewRuns for the run created by batch.ops[op_index]; nullopt when it is left queued.
  std::optional<InlineWalk> WalkNewRun(size_t op_index, store::WriteBatch& batch,
                                       const WalkEnvironment& walk_env, TimePoint now);
  // Fills `op` with a new run of `program` for `event`: its keys, flow control and cancel_on
  // waits. Returns the run as planned.
  [[nodiscard]] StatusOr<std::optional<store::RunRecord>> NewRun(const Program& program,
                                                                 const Json& event,
                                                                 std::string run_id,
                                                                 std::string trigger_event_id,
                                                                 store::CreateRunOp& op);
  // The wait that watches a new run for its flow's cancel_on[index].
  [[nodiscard]] StatusOr<store::WaitRecord> CancelOnWait(const Program& program, size_t index,
                                                         const store::RunRecord& run,
                                                         const Json& event,
                                                         const expr::EvalContext& context,
                                                         TimePoint now);
  // The journal entries of `original` that a rerun from `from_step` takes over.
  [[nodiscard]] StatusOr<std::vector<store::JournalEntry>> RerunJournal(
      const store::RunRecord& original, const Program& program,
      const std::optional<std::string>& from_step);
  // Stores the delayed events due at `now` as events (each with the runs it starts, in the batch
  // that removes it from the schedule), then matches them against waits.
  [[nodiscard]] Status ReleaseDueEvents(TimePoint now);

  // --- Committing (engine.cc) ---
  // Commits `batches` (CommitToStore) with the bookkeeping around it: deferred event marks ride
  // along, the runs the batches create or wake are leased to this node and queued in fresh_
  // while it has room (FreshRunQueue), and cancellations reach the runs held in memory.
  [[nodiscard]] StatusOr<std::vector<store::BatchResult>> CommitAndLease(
      std::vector<store::WriteBatch> batches);
  // The commit itself, with failpoints on both sides; reports the runs started and skipped.
  [[nodiscard]] StatusOr<std::vector<store::BatchResult>> CommitToStore(
      std::vector<store::WriteBatch> batches);
  // Records a cancellation request on runs held in memory: queued in fresh_ (their copy was made
  // before it) or with actions in flight.
  void MarkCancelled(const std::set<std::string>& run_ids);
  // Resolves the waits and cancel_on that stored events match, then marks them matched (see
  // WaitMatcher::ResolveEvents).
  [[nodiscard]] Status MatchEvents(const std::vector<store::EventRecord>& events,
                                   MarkMatched mark = MarkMatched::kWithNextCommit);
  // Resolves newly registered waits against events stored before them, then marks them scanned.
  [[nodiscard]] Status ScanWaits(const std::vector<store::WaitRecord>& waits);
  // Commits what MatchEvents or ScanWaits resolved; nothing when there is nothing.
  [[nodiscard]] Status CommitResolution(std::optional<WaitMatcher::Resolution> resolution);

  // --- The claim -> walk -> execute loop of AdvanceReadyRuns (engine_advance.cc) ---
  // A walked run whose batch committed, with the actions its walk reached.
  struct WalkedRun {
    std::unique_ptr<RunWalker> walker;
    std::vector<PendingAction> actions;
  };
  // What WalkAndCommit gathers from the results of its commit.
  struct CommittedWalks {
    std::vector<WalkedRun> walked;  // runs with actions to start or still in flight
    std::vector<store::EventRecord> to_match;
    std::vector<store::WaitRecord> to_scan;
    Status first_error;  // of a batch that failed other than by a lost lease
  };
  // Up to `max` runs whose actions came back, with their results recorded (not yet committed).
  std::vector<std::unique_ptr<RunWalker>> TakeCompletedRuns(int max);
  // Claims up to `max` due runs, no more than actions may still start (max_inflight_actions),
  // and adds their walkers to `walkers`; nothing while this engine does not claim.
  [[nodiscard]] Status AdmitNewRuns(int max, TimePoint now,
                                    std::vector<std::unique_ptr<RunWalker>>& walkers);
  // Up to `max` due runs: fresh ones held in memory first, then leased from the store.
  [[nodiscard]] StatusOr<std::vector<store::RunRecord>> ClaimDueRuns(int max, TimePoint now);
  // A walker per claimed run, its journal loaded; runs whose revision is unknown are put off.
  // `just_taken`: the runs come from a claim or fresh_ (RunWalker::MarkJustTaken).
  [[nodiscard]] Status BuildWalkers(std::vector<store::RunRecord> claimed,
                                    std::vector<std::unique_ptr<RunWalker>>& walkers,
                                    bool just_taken = true);
  // A run whose walk this node could not commit (the store unreachable), or whose actions it
  // could not start after the commit, while it still holds the run's lease: the run is taken
  // back by a later AdmitNewRuns, rebuilt from the store, instead of waiting until its lease
  // runs out.
  void Strand(store::RunRecord run);
  // Rebuilds into `walkers` up to `max` stranded runs that this node still holds at `now`, read
  // back from the store (the others any node may claim). Returns how many it took.
  [[nodiscard]] StatusOr<int> TakeBackStranded(int max, TimePoint now,
                                               std::vector<std::unique_ptr<RunWalker>>& walkers);
  // Walks every run as far as it goes and commits all their batches at once. Returns the runs
  // that have actions to start or still in flight; the others are done with for now.
  [[nodiscard]] StatusOr<std::vector<WalkedRun>> WalkAndCommit(
      std::vector<std::unique_ptr<RunWalker>> walkers);
  // Takes one walker's committed batch result into `committed`.
  [[nodiscard]] Status SettleWalk(std::unique_ptr<RunWalker> walker, WalkResult& walk,
                                  store::BatchResult& result, CommittedWalks& committed);
  // Parks each walker in inflight_ and starts its actions; none waits for a result.
  [[nodiscard]] Status StartActions(std::vector<WalkedRun> walked);
  void StartAction(const std::string& run_id, PendingAction action);
  // Hands a finished action back to inflight_ (on the action's thread).
  void CompleteAction(ActionRequest done, PendingAction action, StatusOr<Json> result,
                      TimePoint began);
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
  const std::shared_ptr<CallbackGate> completions_gate_ = std::make_shared<CallbackGate>();

  RevisionCache revisions_;
  WaitMatcher waits_;
  FreshRunQueue fresh_;

  // When ReleaseDueEvents asks the store (see store_query_throttles.h).
  static constexpr Duration kScheduledRecheck = std::chrono::seconds(1);
  ScheduledEventCheck scheduled_check_{kScheduledRecheck};
  // When AdvanceReadyRuns claims from the store although fresh_ filled the batch.
  static constexpr Duration kStoreClaimInterval = std::chrono::milliseconds(10);
  static constexpr int kStoreClaimEveryCalls = 8;
  StoreClaimThrottle store_claims_{kStoreClaimInterval, kStoreClaimEveryCalls};

  Mutex random_mu_;
  std::mt19937_64 random_ FLOWRUN_GUARDED_BY(random_mu_);  // retry jitter

  Mutex stranded_mu_;
  std::vector<store::RunRecord> stranded_ FLOWRUN_GUARDED_BY(stranded_mu_);  // see Strand
};

}  // namespace flowrun
