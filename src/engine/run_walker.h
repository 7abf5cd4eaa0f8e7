// RunWalker: the interpreter of one run during one advance. It replays the run's step tree over
// its journal — a step whose completion is in the journal is not executed again, only its output
// is restored into scope — and goes as far as it can without a side effect:
//  - internal and control steps (flow/step_kinds.h) and `if` conditions run in memory and
//    append journal records to the pending batch;
//  - a side-effecting action (http, email, db, ...) becomes a PendingAction, which the engine
//    starts only after the pending batch has been committed (MarkInFlight), and reports back
//    with RecordActionResult; the next Walk continues from there. Several actions of one run
//    (parallel branches, foreach items) may be in flight at once; a walk while some are out
//    leaves their steps suspended and may return further ones.
// Walk always starts from the top of the tree, so a walk after a crash (from the committed
// journal) and a walk in the same advance (from the journal plus uncommitted records) agree.
// Values of now() and uuid() are journaled per step key and replayed in order.
//
// The walker knows the journal through a RunJournal (run_journal.h). Its internal steps other
// than set, log and return are in internal_steps.cc.
//
// Thread-safety: not thread-safe; one walker belongs to one worker while it holds the run's lease.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "common/secret_redactor.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "engine/program_catalog.h"
#include "engine/run_journal.h"
#include "flow/program.h"
#include "store/store.h"

namespace flowrun {

// A side effect the walk reached: one attempt of one action step.
struct PendingAction {
  std::string step_key;
  const CompiledStep* step = nullptr;
  Json arguments;
  int attempt = 1;
  TimePoint deadline;
  RetryPolicy policy;
  // When the engine dispatched this attempt; journaled as `started_at` with its result.
  std::optional<TimePoint> started_at;
};

// What a walk left the run needing.
struct WalkResult {
  enum class State { kSuspended, kCompleted, kFailed, kCancelled };
  State state = State::kSuspended;
  store::RunStatus status = store::RunStatus::kRunning;
  std::vector<PendingAction> actions;
  // Waits registered by this walk, to be scanned against earlier events after the commit.
  std::vector<store::WaitRecord> new_waits;
};

// What the walker needs from the engine.
struct WalkEnvironment {
  const ProgramCatalog* catalog = nullptr;
  Json secrets = Json::object();
  // Hides `secrets`' values in everything the walker journals (built from them once).
  SecretRedactor redactor;
  Duration default_attempt_timeout = std::chrono::minutes(5);
  // Adds to `batch` the runs that a newly emitted event starts (the same planning as ingest).
  std::function<void(const store::EventRecord&, store::WriteBatch&)> plan_event;
  // Called once when a `log` step first runs.
  std::function<void(const std::string& run_id, const std::string& step_key,
                     const std::string& message)>
      log;
  // A uniform random number in [0, 1), for retry jitter.
  std::function<double()> uniform;
  // How long a lease lasts at least beyond the deadline of the latest action in flight: a run
  // whose actions would outlive that has its lease grown (lease_term.h), so no other worker
  // takes it meanwhile.
  Duration lease = std::chrono::minutes(1);
  // How many actions one run may have in flight at once, across its `parallel` branches and
  // `foreach` items; further ones start as earlier ones finish. Default: 100.
  int max_actions_per_run = 100;
  // An action's output that serializes to more bytes than this fails its step (kOutOfRange, not
  // retried) instead of being recorded. Default: 1 MiB.
  long long max_step_output_bytes = 1LL << 20;
};

class RunWalker {
 public:
  RunWalker(std::shared_ptr<const Program> program, store::RunRecord run,
            const std::vector<store::JournalEntry>& journal, const WalkEnvironment& env,
            std::string lease_owner);
  RunWalker(const RunWalker&) = delete;
  RunWalker& operator=(const RunWalker&) = delete;

  // Walks from the top at time `now`, appending records and ops to the pending batch, and ends
  // with the run's new state in that batch.
  WalkResult Walk(TimePoint now);

  // Records the outcome of an attempt returned by Walk: the completion, or a failed attempt with
  // its retry time, or a final failure. Takes the action and the result by value: a caller done
  // with them moves them in, and the output and arguments are redacted in place, never copied.
  void RecordActionResult(PendingAction action, StatusOr<Json> result, TimePoint now);

  // The engine started this action (one that Walk returned); until its result is recorded, walks
  // leave its step suspended instead of returning it again.
  void MarkInFlight(const std::string& step_key) { in_flight_.insert(step_key); }
  bool has_actions_in_flight() const { return !in_flight_.empty(); }
  const std::set<std::string>& in_flight() const { return in_flight_; }
  // A cancellation was requested after the run record was read; the next walk stops the run.
  void MarkCancelRequested() { run_.cancel_requested = true; }

  // The records and ops accumulated since the last call. Starts with a lease check.
  store::WriteBatch TakeBatch();

  // The engine just took the run from the store or its fresh queue (Store::ClaimRuns,
  // FreshRunQueue), which stored it `running`, due at the end of the lease in the record, if it
  // was found queued or running.
  void MarkJustTaken() {
    just_taken_ =
        run_.status == store::RunStatus::kQueued || run_.status == store::RunStatus::kRunning;
  }
  // Whether the pending batch restates what the store holds for a run just taken: its first
  // walk reached actions without a journal record, leaving the run running under the lease it
  // was taken with (it covers those actions) and due at that lease's end. (A first walk keeps the
  // lease only when it returns actions to start.) The actions may then start without a commit;
  // the run's next batch carries the same state.
  bool BatchRestatesTakenRun() const;

  // After the batch from TakeBatch committed: false when a wait this walker expected to resolve
  // (a timeout) had been resolved by an event meanwhile; the walker must then be rebuilt from the
  // stored journal.
  bool Confirm(const store::BatchResult& result) const;

  const store::RunRecord& run() const { return run_; }
  // Moves the run record out; the walker must not be used afterwards.
  store::RunRecord TakeRun() { return std::move(run_); }
  const Program& program() const { return *program_; }

 private:
  // kOutOfRange when `output` is larger than WalkEnvironment::max_step_output_bytes.
  Status CheckOutputSize(const Json& output) const;
  struct Outcome {
    enum class Kind { kNext, kSuspended, kReturned, kFailed, kCancelled };
    Kind kind = Kind::kNext;
    Json value;  // the output (kNext, kReturned) or the error (kFailed)
    // Instead of `value`, for a kNext that WalkStep returns: the output as held in journal_,
    // which is not copied unless it is needed (only the last step of a list gives the list's
    // output). Valid until the walk ends: a walk replaces no completion in journal_.
    const Json* borrowed = nullptr;
  };
  struct Frame {
    std::vector<int> indices;
  };

  Outcome WalkList(const StepList& steps, Frame& frame);
  Outcome WalkStep(const CompiledStep& step, Frame& frame);
  Outcome WalkControl(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome WalkAction(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome Replay(const CompiledStep& step, const std::string& key, const Json& record);
  Outcome FailStep(const CompiledStep& step, const std::string& key, Frame& frame, Json error,
                   int attempts);
  // Journals the step's completion; `extra` fields (an object) are added to the record.
  Outcome Complete(const CompiledStep& step, const std::string& key, Json output,
                   std::string_view outcome = "next", Json input = nullptr, Json extra = nullptr);
  // On replay of a `set` whose journaled output was redacted, restores the real values.
  void RestoreSetVars(const CompiledStep& step, const std::string& key, const Json& journaled);
  // On replay of a failure handled by on_error steps, walks the handler again for its vars.
  void ReplayHandler(const CompiledStep& step, const Json& record, Frame& frame);
  Outcome Suspend(std::optional<TimePoint> due, store::RunStatus status);

  // Internal steps (internal_steps.cc).
  Outcome RunSet(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome RunLog(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome RunReturn(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome RunSleep(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome RunWait(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome RunSendEvent(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome RunInvoke(const CompiledStep& step, const std::string& key, Frame& frame);
  Outcome RunFail(const CompiledStep& step, const std::string& key, Frame& frame);
  // A side-effecting action: returns it as a PendingAction, or its recorded failure.
  Outcome RunExternal(const CompiledStep& step, const std::string& key, Frame& frame);

  expr::EvalContext Context(const std::string& key);
  StatusOr<Json> Render(const CompiledStep& step, const std::string& key);
  Json ExpressionError(const CompiledStep& step, std::string_view field,
                       const expr::Expression* expression, const Status& status) const;
  void Append(const std::string& key, store::JournalKind kind, Json data);
  void SetStepScope(const CompiledStep& step, const Json& record);
  // As SetStepScope, for a completion held in journal_: when the last walk's entry for the step
  // came from the same record (which never changes, run_journal.h), that entry is moved back.
  void ReplayStepScope(const CompiledStep& step, const Json& record);
  void Finish(WalkResult& result, store::RunStatus status, Json output, Json error);

  std::shared_ptr<const Program> program_;
  store::RunRecord run_;
  const WalkEnvironment& env_;
  std::string lease_owner_;

  // The journal as this walker knows it: committed entries plus those appended since.
  RunJournal journal_;
  // Step keys whose action was started and has no recorded result yet.
  std::set<std::string> in_flight_;
  // The latest deadline of an action returned by a walk (the lease must outlast it).
  std::optional<TimePoint> latest_deadline_;

  // Per walk.
  TimePoint now_;
  Json scope_;
  // The step ids whose entry in scope_["steps"] was last set from a record in journal_, and that
  // record; and, during a walk, the same for the last walk, whose `steps` object is kept beside
  // it.
  std::unordered_map<std::string, const Json*> replayed_;
  std::unordered_map<std::string, const Json*> last_walk_replayed_;
  Json last_walk_steps_;
  std::vector<PendingAction> actions_;
  std::vector<store::WaitRecord> new_waits_;
  std::optional<TimePoint> earliest_due_;
  bool has_wait_ = false;
  bool has_sleep_ = false;
  // A completion was appended to the pending batch: a wait registered now begins at that
  // completion's commit.
  bool completed_in_batch_ = false;

  store::WriteBatch batch_;
  std::vector<std::string> expected_resolutions_;
  // MarkJustTaken was called on a run found queued or running; how many walks ran.
  bool just_taken_ = false;
  int walks_ = 0;
};

}  // namespace flowrun
