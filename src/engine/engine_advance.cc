// Engine: the claim -> walk -> execute loop of AdvanceReadyRuns, and the actions it starts. See
// engine.h.
#include <algorithm>

#include "common/thread_annotations.h"  // so that scripts/check-thread-safety.sh checks this file
#include "engine/engine.h"
#include "engine/step_key.h"

namespace flowrun {

using store::RunRecord;
using store::WriteBatch;

StatusOr<int> Engine::AdvanceReadyRuns(int max) {
  if (crashed_) return AbortedError("crashed at failpoint after_action");
  const TimePoint claim_time = clock_.Now();
  if (claiming_) RETURN_IF_ERROR(ReleaseDueEvents(claim_time));
  // Runs whose actions came back go first: their results are waiting to be made durable.
  std::vector<std::unique_ptr<RunWalker>> active = TakeCompletedRuns(max);
  RETURN_IF_ERROR(AdmitNewRuns(max - static_cast<int>(active.size()), claim_time, active));
  int advanced = 0;
  // Actions that finish at once (an outbox write, an argument error) bring their run straight
  // back: it goes on in this call, its result committing with the next batch.
  for (int round = 0; !active.empty() && round < kMaxRoundsPerAdvance; ++round) {
    advanced += static_cast<int>(active.size());
    ASSIGN_OR_RETURN(std::vector<WalkedRun> walked, WalkAndCommit(std::move(active)));
    RETURN_IF_ERROR(StartActions(std::move(walked)));
    active.clear();
    // While results keep filling the batch, new runs still start every few rounds.
    if ((round + 1) % kAdmitEveryRounds == 0) {
      RETURN_IF_ERROR(AdmitNewRuns(max, clock_.Now(), active));
    }
    for (auto& walker : TakeCompletedRuns(max - static_cast<int>(active.size()))) {
      active.push_back(std::move(walker));
    }
  }
  // Runs taken back but not walked within the round limit wait for the next call.
  for (auto& walker : active) ParkReady(std::move(walker));
  return advanced;
}

Status Engine::AdmitNewRuns(int max, TimePoint now,
                            std::vector<std::unique_ptr<RunWalker>>& walkers) {
  // Each new run may start an action or more: claim no more runs than actions may still start.
  const int room = std::min(max, options_.max_inflight_actions - inflight_.actions_in_flight());
  if (room <= 0 || !claiming_) return OkStatus();
  ASSIGN_OR_RETURN(int taken_back, TakeBackStranded(room, now, walkers));
  if (room - taken_back <= 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<RunRecord> claimed, ClaimDueRuns(room - taken_back, now));
  return BuildWalkers(std::move(claimed), walkers);
}

void Engine::Strand(RunRecord run) {
  MutexLock lock(stranded_mu_);
  stranded_.push_back(std::move(run));
}

StatusOr<int> Engine::TakeBackStranded(int max, TimePoint now,
                                       std::vector<std::unique_ptr<RunWalker>>& walkers) {
  std::vector<RunRecord> stranded;
  {
    MutexLock lock(stranded_mu_);
    if (stranded_.empty()) return 0;
    const size_t keep = stranded_.size() - std::min(stranded_.size(), static_cast<size_t>(max));
    stranded.assign(std::make_move_iterator(stranded_.begin() + keep),
                    std::make_move_iterator(stranded_.end()));
    stranded_.resize(keep);
  }
  // Read back as stored (a lease the lost walk grew was not), and only while this node still
  // holds them. All or none: a store still unreachable leaves them for the next call.
  std::vector<RunRecord> held;
  Status status = OkStatus();
  for (const RunRecord& run : stranded) {
    StatusOr<std::optional<RunRecord>> stored = store_.GetRun(run.id);
    if (!stored.ok()) {
      status = stored.status();
      break;
    }
    const std::optional<RunRecord>& s = *stored;
    if (s && s->lease_owner == options_.node_id && s->lease_token == run.lease_token &&
        s->lease_until && *s->lease_until > now && !s->ended_at) {
      held.push_back(std::move(**stored));
    }
  }
  std::vector<std::unique_ptr<RunWalker>> rebuilt;
  if (status.ok()) status = BuildWalkers(std::move(held), rebuilt, /*just_taken=*/false);
  if (!status.ok()) {
    for (RunRecord& run : stranded) Strand(std::move(run));
    return status;
  }
  for (auto& walker : rebuilt) walkers.push_back(std::move(walker));
  return static_cast<int>(stranded.size());
}

std::vector<std::unique_ptr<RunWalker>> Engine::TakeCompletedRuns(int max) {
  std::vector<std::unique_ptr<RunWalker>> walkers;
  for (ReadyRun& ready : inflight_.TakeReady(max)) {
    if (ready.cancel_requested) ready.walker->MarkCancelRequested();
    for (ActionCompletion& done : ready.completions) {
      if (options_.on_step_finished) options_.on_step_finished(done.action.step->action, done.took);
      ready.walker->RecordActionResult(std::move(done.action), std::move(done.result),
                                       done.finished);
    }
    walkers.push_back(std::move(ready.walker));
  }
  return walkers;
}

void Engine::ParkReady(std::unique_ptr<RunWalker> walker) {
  inflight_.Park(std::move(walker), /*ready=*/true);
}

StatusOr<std::vector<RunRecord>> Engine::ClaimDueRuns(int max, TimePoint now) {
  std::vector<RunRecord> claimed = fresh_.Take(max, now);
  // Runs due in the store are claimed whenever fresh runs leave room in the batch, and otherwise
  // every few calls or milliseconds, so that a steady stream of fresh runs does not hold back
  // woken sleepers and waits.
  const bool memory_filled_batch = static_cast<int>(claimed.size()) >= max;
  if (!store_claims_.ShouldClaim(memory_filled_batch, now)) return claimed;
  const int from_store = std::max(max - static_cast<int>(claimed.size()), std::max(1, max / 8));
  ASSIGN_OR_RETURN(std::vector<RunRecord> due,
                   store_.ClaimRuns(options_.node_id, now, from_store, NewLeaseSpan()));
  for (RunRecord& run : due) claimed.push_back(std::move(run));
  return claimed;
}

Status Engine::BuildWalkers(std::vector<RunRecord> claimed,
                            std::vector<std::unique_ptr<RunWalker>>& walkers, bool just_taken) {
  std::vector<WriteBatch> orphans;
  for (RunRecord& run : claimed) {
    std::shared_ptr<const Program> program = ProgramFor(run.flow_id, run.revision);
    if (!program) {
      // The revision is not loaded (yet): look again later rather than guess.
      WriteBatch batch;
      batch.Add(store::RequireLeaseOp{run.id, options_.node_id, run.lease_token});
      batch.Add(store::UpdateRunOp{.run_id = run.id,
                                   .status = run.status,
                                   .due_at = clock_.Now() + std::chrono::minutes(1),
                                   .output = nullptr,
                                   .error = nullptr,
                                   .ended_at = std::nullopt,
                                   .release_lease = true});
      orphans.push_back(std::move(batch));
      continue;
    }
    std::vector<store::JournalEntry> journal;
    if (run.status != store::RunStatus::kQueued || !just_taken) {
      ASSIGN_OR_RETURN(journal, store_.LoadJournal(run.id));
    }
    walkers.push_back(std::make_unique<RunWalker>(std::move(program), std::move(run), journal, env_,
                                                  options_.node_id));
    if (just_taken) walkers.back()->MarkJustTaken();
  }
  if (!orphans.empty()) {
    ASSIGN_OR_RETURN(auto ignored, CommitAndLease(std::move(orphans)));
    (void)ignored;
  }
  return OkStatus();
}

StatusOr<std::vector<Engine::WalkedRun>> Engine::WalkAndCommit(
    std::vector<std::unique_ptr<RunWalker>> walkers) {
  const TimePoint now = clock_.Now();
  std::vector<WalkResult> walks;
  std::vector<WriteBatch> batches;
  // Per walker: its batch's index in `batches`, or none when the batch restates what the store
  // holds (RunWalker::BatchRestatesTakenRun): a run just taken whose actions start without a
  // commit.
  std::vector<std::optional<size_t>> batch_of;
  walks.reserve(walkers.size());
  batches.reserve(walkers.size());
  batch_of.reserve(walkers.size());
  for (auto& walker : walkers) {
    walks.push_back(walker->Walk(now));
    const bool restates = walker->BatchRestatesTakenRun();
    WriteBatch batch = walker->TakeBatch();
    if (restates) {
      batch_of.push_back(std::nullopt);
      continue;
    }
    batch_of.push_back(batches.size());
    batches.push_back(std::move(batch));
  }
  StatusOr<std::vector<store::BatchResult>> results = std::vector<store::BatchResult>();
  if (!batches.empty()) results = CommitAndLease(std::move(batches));
  if (!results.ok()) {
    // Nothing of these walks is durable: the runs are taken back from the store (Strand).
    for (auto& walker : walkers) {
      inflight_.Forget(walker->run().id);
      Strand(walker->TakeRun());
    }
    return results.status();
  }
  CommittedWalks committed;
  store::BatchResult restated;  // the result of a batch that needed no commit
  for (size_t i = 0; i < walkers.size(); ++i) {
    store::BatchResult& result = batch_of[i] ? (*results)[*batch_of[i]] : restated;
    RETURN_IF_ERROR(SettleWalk(std::move(walkers[i]), walks[i], result, committed));
  }
  Status status = committed.first_error;
  if (status.ok()) status = MatchEvents(committed.to_match);
  if (status.ok()) status = ScanWaits(committed.to_scan);
  if (!status.ok()) {
    // Their progress is durable, but their actions will not start now: the runs are taken back
    // from the store (Strand).
    for (WalkedRun& run : committed.walked) {
      inflight_.Forget(run.walker->run().id);
      Strand(run.walker->TakeRun());
    }
    return status;
  }
  return std::move(committed.walked);
}

Status Engine::SettleWalk(std::unique_ptr<RunWalker> walker, WalkResult& walk,
                          store::BatchResult& result, CommittedWalks& committed) {
  const std::string run_id = walker->run().id;
  if (!result.status.ok()) {
    // kAborted: the lease was lost, and the run belongs to another worker or node now.
    inflight_.Forget(run_id);
    if (result.status.code() != StatusCode::kAborted && committed.first_error.ok()) {
      committed.first_error = result.status;
    }
    return OkStatus();
  }
  for (store::EventRecord& e : result.events_to_match) committed.to_match.push_back(std::move(e));
  if (!walker->Confirm(result)) {
    // An event resolved a wait this walk timed out: rebuild from the stored journal. Actions
    // still in flight come back to the new walker (the entry is kept).
    ASSIGN_OR_RETURN(std::vector<store::JournalEntry> journal, store_.LoadJournal(run_id));
    RunRecord run = walker->run();
    run.status = store::RunStatus::kRunning;
    auto program = ProgramFor(run.flow_id, run.revision);
    auto rebuilt = std::make_unique<RunWalker>(std::move(program), std::move(run), journal, env_,
                                               options_.node_id);
    for (const std::string& key : walker->in_flight()) rebuilt->MarkInFlight(key);
    ParkReady(std::move(rebuilt));
    return OkStatus();
  }
  if (walk.state != WalkResult::State::kSuspended) {
    if (options_.on_run_finished) options_.on_run_finished(walker->run().flow_id, walk.status);
    inflight_.Forget(run_id);  // results of actions still out no longer matter
    return OkStatus();
  }
  for (store::WaitRecord& w : walk.new_waits) committed.to_scan.push_back(std::move(w));
  if (walk.actions.empty() && !walker->has_actions_in_flight()) {
    inflight_.Forget(run_id);  // asleep, waiting or queued: its row in the store says when
    return OkStatus();
  }
  committed.walked.push_back({std::move(walker), std::move(walk.actions)});
  return OkStatus();
}

Status Engine::StartActions(std::vector<WalkedRun> walked) {
  for (WalkedRun& run : walked) {
    const std::string run_id = run.walker->run().id;
    inflight_.Dispatching(run_id, static_cast<int>(run.actions.size()));
    for (PendingAction& action : run.actions) run.walker->MarkInFlight(action.step_key);
    // Parked before the first start: a completion may arrive inside Start.
    inflight_.Park(std::move(run.walker));
    for (PendingAction& action : run.actions) {
      RETURN_IF_ERROR(failpoints_.Hit(kFailBeforeAction));
      StartAction(run_id, std::move(action));
      if (crashed_) return AbortedError("crashed at failpoint after_action");
    }
  }
  return OkStatus();
}

void Engine::StartAction(const std::string& run_id, PendingAction action) {
  Action* implementation = actions_ ? actions_(action.step->action) : nullptr;
  const TimePoint began = clock_.Now();
  action.started_at = began;
  if (!implementation) {
    Status missing = NotFoundError("step \"" + action.step->id + "\": no action \"" +
                                   action.step->action + "\"");
    inflight_.Complete(run_id, {std::move(action), missing, began, Duration::zero()});
    return;
  }
  ActionRequest request;
  request.run_id = run_id;
  request.step_key = action.step_key;
  request.idempotency_key = IdempotencyKey(run_id, action.step_key);
  request.attempt = action.attempt;
  // Lent to the request and given back with the result: the walker journals them (redacted) as
  // the step's input.
  request.arguments = std::move(action.arguments);
  request.deadline = action.deadline;
  implementation->Start(
      std::move(request), [this, gate = completions_gate_, action = std::move(action), began](
                              ActionRequest done, StatusOr<Json> result) mutable {
        CallbackGate::Pass pass(*gate);
        if (!pass.entered()) return;  // the engine is gone
        CompleteAction(std::move(done), std::move(action), std::move(result), began);
      });
}

void Engine::CompleteAction(ActionRequest done, PendingAction action, StatusOr<Json> result,
                            TimePoint began) {
  // A simulated crash right after the side effect: the result is lost with the process.
  if (!failpoints_.Hit(kFailAfterAction).ok()) {
    crashed_ = true;
    inflight_.Forget(done.run_id);
    return;
  }
  const TimePoint finished = clock_.Now();
  action.arguments = std::move(done.arguments);
  inflight_.Complete(done.run_id,
                     {std::move(action), std::move(result), finished, finished - began});
}

}  // namespace flowrun
