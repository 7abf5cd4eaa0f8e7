// Store: the durable state of flowrun — events, runs, the step journal, timers, waits, flow
// revisions, idempotency keys, concurrency slots and cron ticks — behind one interface. The SQLite
// implementation is SqliteStore (sqlite_store.h); PostgresStore (postgres_store.h), for several
// nodes sharing one database, implements the same interface. Nothing outside src/store knows which
// is in use.
//
// Model:
//  - Writes go through WriteBatch: a list of domain operations applied atomically. Commit and
//    CommitMany return only after the batches are durable. Implementations may commit the batches
//    of many callers in one transaction (group commit); each batch still succeeds or fails alone.
//  - Conditional operations (deduplication, idempotency, claiming a wait or a cron tick) are
//    decided inside the transaction and reported in BatchResult, so several nodes can race safely.
//  - A timer is a run's `due_at`: the time the engine must look at the run next (a wake-up, a wait
//    or retry deadline, or "now" when the run is ready). ClaimRuns leases due runs to one worker
//    and moves their `due_at` to the lease's end. A leased run always has a `due_at` (at the
//    latest, when its lease runs out), so the due runs that are leased are only those woken or
//    whose lease ran out, and finding the claimable runs never walks the runs being worked on.
//  - Fencing: every acquisition of a run's lease (ClaimRuns, ResolveWaitOp with a lease_owner)
//    raises the run's `lease_token`; a run created leased has kFirstLeaseToken. The holder's
//    writes carry owner and token (RequireLeaseOp), so a worker or node whose lease ran out and
//    was taken by another (paused, partitioned) commits nothing for that run: its batch fails
//    with kAborted and the store logs the refused write.
//  - Several processes, or nodes, may share one store. Each names its leases with its own node
//    id (see node_identity.h); sequence numbers (events, journal) come from the database inside
//    the writing transaction, never from a per-process counter.
//  - Flow control (CreateRunOp's flow-control fields) is decided inside the transaction that
//    creates the run, so several nodes sharing a store never exceed a limit or start a run twice.
//    See "Flow control" below.
//  - A concurrency slot is a leased run that carries a concurrency key: ClaimRuns does not lease a
//    run whose key already has `concurrency_limit` leased runs. Sleeping and waiting runs hold no
//    lease, so they hold no slot. A run ClaimRuns passes over for that steps aside (its due_at
//    moves a little later), so runs of other keys are never held up behind it; a run that gives
//    its slot back (its lease released, or it ended) makes the oldest such run of its key due.
//
// Flow control: what a store does with a CreateRunOp that carries flow-control fields, in this
// order (each step sees the effects of the ones before):
//  1. A run with the same id exists (a replay: the creator derives run ids from their cause):
//     skipped_runs, nothing else.
//     The idempotency key is checked as before.
//  2. `gather` (debounce, batch): when the flow has an open gather for the key whose run is still
//     queued, unleased and not yet due, the event joins that run instead of creating one:
//       debounce: the run's `event` (and trigger_event_id) become the new event and its due_at
//                 moves to min(now + period, first event + timeout);
//       batch:    the event is appended to the run's `events`; when they reach max_size the run is
//                 due now and the gather closes.
//     Reported in merged_runs as (new run id asked for, run joined). Otherwise the run is created
//     (with due_at as given: the engine sets now + period, or now + timeout for a batch) and opens
//     the gather for its key, unless it is already full (max_size 1).
//  3. `rate_limit`: GCRA over (flow, key). With tat the stored theoretical arrival time (now when
//     none or past), a start conforms when tat - tolerance <= now. A run that does not conform is
//     created kSkipped, skip_reason "rate_limit". A conforming run stores max(tat, now) + interval
//     once it is known to be created (after step 4).
//  4. `singleton`: when the flow has an unfinished run with the same singleton key, kSkip creates
//     the run as kSkipped with skip_reason "singleton"; kCancel requests cancellation of those
//     runs (cancelled_runs) and creates the new one.
//  5. `throttle`: the same GCRA, but a start never fails: it is reserved at
//     start = max(now, tat - tolerance), the stored tat moves to max(tat, now) + interval, and the
//     run's due_at becomes max(due_at, start). A run created leased whose start is later than now
//     loses its lease and is reported in delayed_runs.
//  6. `extra_slots`: concurrency limits beyond the run's own concurrency_key; ClaimRuns leases a
//     run only when every one of its slots has a free place (leased runs holding that slot key in
//     the same flow < limit). A run set aside for an extra slot is looked at again after a short
//     recheck delay (not woken early like its own key).
// A skipped run is created finished (ended_at = now, no due_at, no lease) with `error`
// {message, reason} and reported in flow_skipped as (run id, reason). GCRA state with a tat in the
// past is equivalent to none, and may be deleted by retention. Keys are compared as given; the
// engine bounds their length (long keys are hashed).
//
// Thread-safety: implementations are safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/duration.h"
#include "common/json.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace flowrun::store {

// kSkipped: created finished by flow control (rate_limit, singleton); see skip_reason.
enum class RunStatus {
  kQueued,
  kRunning,
  kSleeping,
  kWaiting,
  kCompleted,
  kFailed,
  kCancelled,
  kSkipped
};

std::string_view RunStatusName(RunStatus status);
[[nodiscard]] StatusOr<RunStatus> ParseRunStatus(std::string_view name);
bool IsTerminal(RunStatus status);

struct EventRecord {
  std::string id;  // assigned by flowrun, unique
  std::string name;
  Json data = Json::object();
  TimePoint ts;           // when it was stored
  std::string client_id;  // the sender's `id`, for deduplication; may be empty
  int64_t seq = 0;        // commit order, assigned by the store
  // The event as flows see it: {id, name, data, ts}.
  Json ToJson() const;
};

struct RunRecord {
  std::string id;
  std::string flow_id;
  std::string revision;
  RunStatus status = RunStatus::kQueued;
  Json event = Json::object();   // the trigger event as flows see it ({id, name, data, ts})
  std::string trigger_event_id;  // empty for runs started by hand or by invoke
  Json output;                   // set when completed
  Json error;                    // set when failed or cancelled
  TimePoint created_at;
  TimePoint updated_at;
  std::optional<TimePoint> ended_at;
  std::optional<TimePoint> due_at;    // see the file comment; unset for finished runs
  std::optional<TimePoint> deadline;  // the flow's `timeout`
  std::string parent_run_id;          // for runs started by `invoke`
  std::string parent_step_key;
  std::string concurrency_key;  // empty: no limit
  int concurrency_limit = 0;
  std::string idempotency_key;
  bool cancel_requested = false;
  // The highest event seq committed when the run was last written or woken: a wait registered later
  // also considers events after this mark, so an event that lands between two steps is not missed.
  int64_t event_mark = 0;
  std::string lease_owner;  // the worker advancing the run; empty when none
  std::optional<TimePoint> lease_until;
  // Raised by the store on every acquisition of the lease (see the file comment); the holder's
  // writes carry it in RequireLeaseOp.
  int64_t lease_token = 0;
  // Flow control. A batched run's events, oldest first (null for other runs; `event` is the
  // first); why a kSkipped run was skipped ("rate_limit", "singleton"); its singleton key.
  Json events;
  std::string skip_reason;
  std::string singleton_key;
};

// The lease token of a run created already leased (CreateRunOp with a lease_owner).
inline constexpr int64_t kFirstLeaseToken = 1;

enum class JournalKind {
  kCompleted,  // a step finished: {status, output, error, attempts, input}; at most one per key
  kAttempt,    // a failed attempt: {attempt, error, retry_at} or {attempt, error, final: true}
  kNondet,     // values of now()/uuid() consumed while evaluating the step: {values: [...]}
  kStarted,    // a durable step began: sleep {wake_at}, wait {wait_id, timeout_at}, invoke {child}
};
std::string_view JournalKindName(JournalKind kind);

struct JournalEntry {
  int64_t seq = 0;  // assigned by the store
  std::string run_id;
  std::string step_key;
  JournalKind kind = JournalKind::kCompleted;
  Json data;
  TimePoint at;
};

struct WaitRecord {
  enum class Kind { kStep, kCancel };
  std::string id;
  std::string run_id;
  Kind kind = Kind::kStep;
  std::string flow_id;
  std::string revision;
  std::string step_key;  // kStep: the wait step's key
  std::string step_id;   // kStep: the step id; kCancel: the index in cancel_on, as text
  std::string event_name;
  // For equality conditions: the path in the candidate event ("data.orderId") and the canonical
  // JSON of the value it must equal. Both empty for conditions that need a scan.
  std::string match_path;
  std::string match_key;
  int64_t since_seq = 0;                   // events with a higher seq are candidates
  std::optional<TimePoint> lookback_from;  // events stored at or after this are candidates too
  std::optional<TimePoint> timeout_at;
  TimePoint created_at;
  Json context;  // what the condition may read besides `async`: {event}
};

struct FlowRevisionRecord {
  std::string flow_id;
  std::string revision;
  Json document;
  TimePoint created_at;
};

// --- Flow control (see the file comment) ---

// A GCRA limit over one key of a flow. `interval` is period / limit, the spacing of starts;
// `tolerance` is interval * (burst - 1), how far ahead of that spacing starts may run.
struct RateSpec {
  std::string key;
  Duration interval{};
  Duration tolerance{};
};
// A concurrency limit other than the run's own concurrency_key.
struct ConcurrencySlot {
  std::string key;
  int limit = 0;
};
struct SingletonRule {
  std::string key;
  enum class Mode { kSkip, kCancel };
  Mode mode = Mode::kSkip;
};
// An open debounce or batch, one per (flow, kind, key).
struct GatherSpec {
  enum class Kind { kDebounce, kBatch };
  Kind kind = Kind::kDebounce;
  std::string key;
  Duration period{};                // debounce: the quiet time
  std::optional<Duration> timeout;  // debounce: the longest after the first event
  int max_size = 0;                 // batch
};

// A node of the store's membership (see Store::Heartbeat).
struct NodeRecord {
  std::string id;
  TimePoint started_at;
  TimePoint heartbeat_at;  // its last heartbeat
  int64_t leases = 0;      // runs it holds a lease on
};

// --- Operations of a WriteBatch ---

// Stores an event. When `client_id` was stored within `dedupe_window`, the event is a duplicate:
// with `duplicate_aborts_batch` the whole batch is rolled back and BatchResult::duplicate_of
// names the first event; otherwise only this insert is skipped.
struct InsertEventOp {
  EventRecord event;
  Duration dedupe_window = std::chrono::hours(24);
  bool duplicate_aborts_batch = true;
};
// Creates a run unless (trigger_event_id, flow_id) exists or its idempotency key was used within
// `idempotency_window`; `waits` (cancel_on registrations) are stored only with the run. A run
// created with `lease_owner` and `lease_until` set is leased from the start (its creator advances
// it without claiming it); give it `due_at` = `lease_until`, so that it falls due for others only
// if its lease runs out, and lease_token = kFirstLeaseToken (the store stores that token for any
// run created leased). The run is stored as given: a run may be created already finished.
struct CreateRunOp {
  RunRecord run;
  Duration idempotency_window = std::chrono::hours(24);
  std::vector<WaitRecord> waits;
  // Flow control, applied as the file comment describes. All empty: none.
  std::vector<ConcurrencySlot> extra_slots;
  std::optional<RateSpec> throttle;
  std::optional<RateSpec> rate_limit;
  std::optional<SingletonRule> singleton;
  std::optional<GatherSpec> gather;
  // For the creator, not the store: the run's place in the queue matters (priority), so it must
  // not be leased at creation but claimed through ClaimRuns, in due order.
  bool claim_in_due_order = false;
  bool HasFlowControl() const {
    return !extra_slots.empty() || throttle || rate_limit || singleton || gather;
  }
};
// Rewrites a run's state. `due_at` does not move later than a wake-up posted meanwhile by
// WakeRun or ResolveWait. With `release_lease` the lease ends.
struct UpdateRunOp {
  std::string run_id;
  RunStatus status = RunStatus::kRunning;
  std::optional<TimePoint> due_at;
  Json output;
  Json error;
  std::optional<TimePoint> ended_at;
  bool release_lease = false;
  // Without release_lease: moves the lease's end to this time (an action in flight needs longer).
  std::optional<TimePoint> lease_until;
};
// Appends to the journal. A second kCompleted for the same (run, step key) is ignored.
struct AppendJournalOp {
  JournalEntry entry;
};
struct RegisterWaitOp {
  WaitRecord wait;
};
// Claims a wait: when it is still pending, deletes it, records `output` as the completion of its
// step (kStep) or requests cancellation (kCancel), and wakes the run. Reported in resolved_waits.
// With `lease_owner` set, a woken run that no live lease holds and that has no concurrency limit
// (those are left to ClaimRuns, which counts slots) is also leased to it until
// `lease_until` (due then) and returned in leased_runs, for the caller to advance at once.
struct ResolveWaitOp {
  std::string wait_id;
  Json output;
  std::string lease_owner;
  std::optional<TimePoint> lease_until;
};
// Deletes every wait of a run (when it ends).
struct DeleteWaitsOp {
  std::string run_id;
};
// Marks events as matched against waits, and waits as scanned against earlier events.
struct MarkMatchedOp {
  std::vector<std::string> event_ids;
  std::vector<std::string> wait_ids;
};
// Makes a run due now (for example when a child run it invoked has finished).
struct WakeRunOp {
  std::string run_id;
};
// Asks a run to stop at its next step boundary.
struct RequestCancelOp {
  std::string run_id;
};
struct PutFlowRevisionOp {
  FlowRevisionRecord revision;
};
// Claims one cron tick for a flow; reported in BatchResult::cron_tick_claimed.
struct ClaimCronTickOp {
  std::string flow_id;
  TimePoint tick;
};
// Stores an event that becomes visible at `due_at` (send_event with a `delay`). Idempotent on
// the event id. Until released it is not in the event log and matches nothing.
struct ScheduleEventOp {
  EventRecord event;
  TimePoint due_at;
};
// Removes a scheduled event (in the batch that stores it as a real event).
struct ReleaseScheduledEventOp {
  std::string event_id;
};
// Fails the batch with kAborted unless `owner` still holds the run's lease under `token` (the
// RunRecord::lease_token of the lease it acquired). A refused write is logged.
struct RequireLeaseOp {
  std::string run_id;
  std::string owner;
  int64_t token = 0;
};

// Ends every lease held by `owner`; see Store::ReleaseLeases. Counted in
// BatchResult::released_leases.
struct ReleaseLeasesOp {
  std::string owner;
};

// Membership (see Store::Heartbeat): node `node_id` is alive at the batch's time; it started at
// `started_at`.
struct HeartbeatOp {
  std::string node_id;
  TimePoint started_at;
};
// Every node other than `self` whose last heartbeat is before `dead_before` is dead: its leases
// end as ReleaseLeasesOp ends them (its runs are due now, for any node to claim) and it leaves the
// membership. Reported in BatchResult::dead_nodes and released_leases.
struct TakeOverDeadNodesOp {
  std::string self;
  TimePoint dead_before;
};

// Deletes up to `limit` finished runs (completed, failed, cancelled) that ended before
// `ended_before`, oldest first, with their journal and waits, and the events that triggered them
// when no remaining run refers to them and they were stored before `keep_events_since` (so that
// deduplication of their client ids keeps working). Reported in BatchResult::pruned_runs.
struct PruneFinishedRunsOp {
  TimePoint ended_before;
  TimePoint keep_events_since;
  int limit = 0;
};

using WriteOp = std::variant<InsertEventOp, CreateRunOp, UpdateRunOp, AppendJournalOp,
                             RegisterWaitOp, ResolveWaitOp, DeleteWaitsOp, MarkMatchedOp, WakeRunOp,
                             RequestCancelOp, PutFlowRevisionOp, ClaimCronTickOp, RequireLeaseOp,
                             ReleaseLeasesOp, ScheduleEventOp, ReleaseScheduledEventOp,
                             PruneFinishedRunsOp, HeartbeatOp, TakeOverDeadNodesOp>;

struct WriteBatch {
  std::vector<WriteOp> ops;
  bool empty() const { return ops.empty(); }
  template <typename Op>
  void Add(Op op) {
    ops.emplace_back(std::move(op));
  }
};

struct BatchResult {
  // OK, or why this batch alone was rolled back: kAlreadyExists (a duplicate event, see
  // duplicate_of) or kAborted (a lease was lost).
  Status status;
  std::string duplicate_of;
  std::vector<std::string> created_runs;
  std::vector<std::string> skipped_runs;  // already existed, or dropped by idempotency
  std::vector<std::string> resolved_waits;
  std::vector<RunRecord> leased_runs;  // by ResolveWaitOp with a lease_owner
  // Events stored by the batch that pending waits may want; the engine matches them after the
  // commit and then marks them with MarkMatchedOp.
  std::vector<EventRecord> events_to_match;
  std::vector<std::string> inserted_events;
  bool cron_tick_claimed = false;
  int pruned_runs = 0;
  // Membership: nodes found dead by TakeOverDeadNodesOp, and the leases the batch ended.
  std::vector<std::string> dead_nodes;
  int released_leases = 0;
  // Flow control (see the file comment): runs created kSkipped, as (run id, reason); events that
  // joined an open debounce or batch, as (run id asked for, run joined); runs whose cancellation
  // a singleton requested; runs created leased that throttle made due later (lease dropped).
  std::vector<std::pair<std::string, std::string>> flow_skipped;
  std::vector<std::pair<std::string, std::string>> merged_runs;
  std::vector<std::string> cancelled_runs;
  std::vector<std::string> delayed_runs;
};

struct RunFilter {
  std::string flow_id;              // empty: any
  std::optional<RunStatus> status;  // unset: any
  std::string parent_run_id;        // empty: any
  int limit = 100;
  std::string before_id;  // pagination: runs created before this one
  // Runs created at or after `created_since` and before `created_until`; unset: no bound.
  std::optional<TimePoint> created_since;
  std::optional<TimePoint> created_until;
};

struct EventFilter {
  std::string name;  // empty: any
  int64_t after_seq = 0;
  std::optional<TimePoint> stored_since;  // with name: also events stored at or after this
  // With name and stored_since: only events with seq > page_after_seq. A caller pages through
  // the window by passing the last seq it read.
  int64_t page_after_seq = 0;
  int limit = 100;
  // Default: false, the oldest `limit` matching events in seq order. true: the newest `limit`
  // matching events, newest first (for a log view that starts at its end and then follows it
  // with after_seq).
  bool newest_first = false;
};

class Store {
 public:
  virtual ~Store() = default;

  // Applies the batches, each atomically, and returns after they are durable. The outer status
  // is an error only when nothing could be committed (I/O, a closed store).
  [[nodiscard]] virtual StatusOr<std::vector<BatchResult>> CommitMany(
      std::vector<WriteBatch> batches) = 0;
  [[nodiscard]] StatusOr<BatchResult> Commit(WriteBatch batch);

  // Leases up to `max` runs due at `now` that no live lease holds, respecting concurrency limits,
  // oldest due first. The lease lasts until now + lease. A queued run is marked `running` (a node
  // has taken it); each run comes back with the status it was found in, so a `queued` one is
  // known to have no journal yet.
  [[nodiscard]] virtual StatusOr<std::vector<RunRecord>> ClaimRuns(std::string_view owner,
                                                                   TimePoint now, int max,
                                                                   Duration lease) = 0;
  // Ends every lease held by `owner` (a node restarting under the same name) and makes those runs
  // due now.
  [[nodiscard]] virtual Status ReleaseLeases(std::string_view owner) = 0;
  // Retention: deletes up to `limit` finished runs that ended before `ended_before`, with their
  // journal, their waits and the trigger events no remaining run refers to (events younger than
  // the 24 h deduplication window are kept), in transactions of bounded size so that other writers
  // are not held up. Returns how many runs were deleted.
  [[nodiscard]] virtual StatusOr<int> PruneFinishedRuns(TimePoint ended_before, int limit) = 0;
  // Retention: deletes up to `limit` events stored (`ts`) before `stored_before`, oldest first,
  // that no run refers to as its trigger and whose matching against waits is done, in
  // transactions of at most a few hundred rows so that intake is not held up; finding them must
  // not block writers. The caller keeps events of the deduplication window (24 h). Returns how
  // many were deleted. Default: kFailedPrecondition (a store that keeps every event).
  [[nodiscard]] virtual StatusOr<int> PruneEvents(TimePoint stored_before, int limit);

  [[nodiscard]] virtual StatusOr<std::optional<RunRecord>> GetRun(std::string_view id) = 0;
  [[nodiscard]] virtual StatusOr<std::vector<RunRecord>> ListRuns(const RunFilter& filter) = 0;
  // How many runs have `status` (exact, for gauges).
  [[nodiscard]] virtual StatusOr<int64_t> CountRuns(RunStatus status) = 0;
  // Membership: the nodes that sent a heartbeat (HeartbeatOp) and have not been found dead since,
  // by id, with the leases each holds. Clocks of nodes sharing a store must agree to well within
  // the takeover time (NTP).
  [[nodiscard]] virtual StatusOr<std::vector<NodeRecord>> ListNodes() = 0;
  [[nodiscard]] virtual StatusOr<std::vector<JournalEntry>> LoadJournal(
      std::string_view run_id) = 0;
  // The earliest due time over unleased runs and scheduled events, for a driver deciding how
  // long to idle.
  [[nodiscard]] virtual StatusOr<std::optional<TimePoint>> NextDueTime() = 0;
  // Scheduled events (ScheduleEventOp) due at `now`, earliest first; `ts` is unset.
  [[nodiscard]] virtual StatusOr<std::vector<EventRecord>> DueScheduledEvents(TimePoint now,
                                                                              int limit) = 0;

  [[nodiscard]] virtual StatusOr<std::optional<EventRecord>> GetEvent(std::string_view id) = 0;
  // Events in seq order (descending with EventFilter::newest_first). With a name and
  // stored_since, events of that name with seq > after_seq or stored at or after stored_since.
  [[nodiscard]] virtual StatusOr<std::vector<EventRecord>> ListEvents(
      const EventFilter& filter) = 0;
  // Events stored with pending matching work that was never marked done (after a crash).
  [[nodiscard]] virtual StatusOr<std::vector<EventRecord>> UnmatchedEvents(int limit) = 0;

  // Whether any wait (or cancel_on) is pending on events named `event_name`.
  [[nodiscard]] virtual StatusOr<bool> HasWaits(std::string_view event_name) = 0;
  // The distinct match paths of indexed waits for an event name.
  [[nodiscard]] virtual StatusOr<std::vector<std::string>> WaitPaths(
      std::string_view event_name) = 0;
  // Both wait lookups return up to `limit` waits in id order, only those with an id greater than
  // `after_id` ("" from the start): a caller pages through them all by passing the last id read.
  // The waits for `event_name` indexed under (`match_path`, `match_key`).
  [[nodiscard]] virtual StatusOr<std::vector<WaitRecord>> FindIndexedWaits(
      std::string_view event_name, std::string_view match_path, std::string_view match_key,
      std::string_view after_id, int limit) = 0;
  // The waits for `event_name` without an index key.
  [[nodiscard]] virtual StatusOr<std::vector<WaitRecord>> ScanWaits(std::string_view event_name,
                                                                    std::string_view after_id,
                                                                    int limit) = 0;
  [[nodiscard]] virtual StatusOr<std::vector<WaitRecord>> WaitsOfRun(std::string_view run_id) = 0;
  // Waits registered but never scanned against earlier events (after a crash).
  [[nodiscard]] virtual StatusOr<std::vector<WaitRecord>> UnscannedWaits(int limit) = 0;

  [[nodiscard]] virtual StatusOr<std::optional<FlowRevisionRecord>> GetFlowRevision(
      std::string_view flow_id, std::string_view revision) = 0;
  [[nodiscard]] virtual StatusOr<std::vector<FlowRevisionRecord>> ListFlowRevisions(
      std::string_view flow_id) = 0;

  // The distinct (flow id, revision) pairs of unfinished runs: the revisions that must stay
  // loaded for those runs to finish.
  [[nodiscard]] virtual StatusOr<std::vector<std::pair<std::string, std::string>>>
  ActiveRevisions() = 0;

  // The latest cron tick claimed for a flow (ClaimCronTickOp), or nullopt when none was.
  [[nodiscard]] virtual StatusOr<std::optional<TimePoint>> LastCronTick(
      std::string_view flow_id) = 0;
};

}  // namespace flowrun::store
