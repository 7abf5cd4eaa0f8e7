#include "engine/engine.h"

#include <algorithm>
#include <set>

#include "engine/lease_term.h"

namespace flowrun {

using store::BatchResult;
using store::WriteBatch;

namespace {

// True when a batch schedules an event (send_event with a `delay`).
bool SchedulesEvents(const std::vector<WriteBatch>& batches) {
  for (const WriteBatch& batch : batches) {
    for (const store::WriteOp& op : batch.ops) {
      if (std::holds_alternative<store::ScheduleEventOp>(op)) return true;
    }
  }
  return false;
}

// The runs whose cancel_on the committed batches resolved, or that they asked to cancel.
std::set<std::string> CancelledRuns(const std::vector<BatchResult>& results) {
  std::set<std::string> cancelled;
  for (const BatchResult& result : results) {
    cancelled.insert(result.cancelled_runs.begin(), result.cancelled_runs.end());
  }
  return cancelled;
}

}  // namespace

Engine::Engine(store::Store& store, const ProgramCatalog& catalog, ActionResolver actions,
               const Clock& clock, const SecretSource* secrets, EngineOptions options)
    : store_(store),
      catalog_(catalog),
      actions_(std::move(actions)),
      clock_(clock),
      options_(std::move(options)),
      inflight_(options_.on_work_ready),
      revisions_(catalog_, store_,
                 [log = options_.log](const std::string& message) {
                   if (log) log("", "", message);
                 }),
      waits_(store_, revisions_, clock_, options_.scan_limit),
      fresh_(options_.node_id, options_.fresh_run_capacity, NewLeaseSpan()),
      random_(options_.seed ? options_.seed : std::random_device{}()) {
  env_.catalog = &catalog_;
  env_.secrets = secrets ? secrets->All() : Json::object();
  env_.redactor = SecretRedactor::FromObject(env_.secrets);
  env_.default_attempt_timeout = options_.default_attempt_timeout;
  env_.plan_event = [this](const store::EventRecord& event, WriteBatch& batch) {
    PlanRuns(event, batch);
  };
  env_.log = options_.log;
  env_.uniform = [this] { return Uniform(); };
  env_.max_actions_per_run = std::max(1, options_.max_actions_per_run);
  env_.max_step_output_bytes = std::max<long long>(1, options_.max_step_output_bytes);
  env_.lease = options_.lease;
}

Engine::~Engine() { completions_gate_->Close(); }

Duration Engine::NewLeaseSpan() const {
  return LeaseSpanFor(options_.default_attempt_timeout, options_.lease);
}

void Engine::StopClaiming() { claiming_ = false; }

int Engine::ActionsInFlight() const { return inflight_.actions_in_flight(); }

bool Engine::ResultsPending() const {
  return inflight_.actions_in_flight() > 0 || inflight_.has_ready();
}

double Engine::Uniform() {
  MutexLock lock(random_mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

std::shared_ptr<const Program> Engine::ProgramFor(std::string_view flow_id,
                                                  std::string_view revision) {
  return revisions_.Find(flow_id, revision);
}

StatusOr<std::vector<BatchResult>> Engine::CommitAndLease(std::vector<WriteBatch> batches) {
  // Marks that the wait matcher deferred ride along, in a batch of their own (last, and not
  // reported).
  const size_t requested = batches.size();
  std::vector<std::string> marks = waits_.TakeDeferredMarks();
  if (!marks.empty()) {
    WriteBatch batch;
    batch.Add(store::MarkMatchedOp{marks, {}});
    batches.push_back(std::move(batch));
  }
  FreshRunQueue::Reservation reservation = fresh_.Reserve(batches, clock_.Now());
  // Noted whether or not the commit succeeds: a failed commit may still have stored them.
  const bool schedules = SchedulesEvents(batches);
  auto results = CommitToStore(std::move(batches));
  // After the commit: a check that read the store before it must not clear the flag (see
  // ScheduledEventCheck::FoundNone).
  if (schedules) scheduled_check_.MayExist();
  bool marks_committed = false;
  if (results.ok() && results->size() > requested) {
    marks_committed = results->back().status.ok();
    results->resize(requested);
  }
  if (!marks.empty() && !marks_committed) waits_.RestoreDeferredMarks(std::move(marks));
  if (results.ok()) MarkCancelled(CancelledRuns(*results));
  fresh_.Settle(std::move(reservation), results.ok() ? &*results : nullptr);
  return results;
}

StatusOr<std::vector<BatchResult>> Engine::CommitToStore(std::vector<WriteBatch> batches) {
  RETURN_IF_ERROR(failpoints_.Hit(kFailBeforeCommit));
  // The flow of every run the batches may create, to report the ones that were.
  std::unordered_map<std::string, std::string> flows;
  if (options_.on_run_started || options_.on_run_skipped) {
    for (const WriteBatch& batch : batches) {
      for (const store::WriteOp& op : batch.ops) {
        if (const auto* create = std::get_if<store::CreateRunOp>(&op)) {
          flows.emplace(create->run.id, create->run.flow_id);
        }
      }
    }
  }
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, store_.CommitMany(std::move(batches)));
  RETURN_IF_ERROR(failpoints_.Hit(kFailAfterCommit));
  for (const BatchResult& result : results) {
    if (!result.status.ok()) continue;
    std::set<std::string> skipped;
    for (const auto& [id, reason] : result.flow_skipped) {
      skipped.insert(id);
      auto flow = flows.find(id);
      if (flow != flows.end() && options_.on_run_skipped)
        options_.on_run_skipped(flow->second, reason);
    }
    if (!options_.on_run_started) continue;
    for (const std::string& id : result.created_runs) {
      auto flow = flows.find(id);
      if (flow != flows.end() && !skipped.count(id)) options_.on_run_started(flow->second);
    }
  }
  return results;
}

void Engine::MarkCancelled(const std::set<std::string>& run_ids) {
  if (run_ids.empty()) return;
  inflight_.MarkCancelled(run_ids);
  fresh_.MarkCancelled(run_ids);
}

Status Engine::MatchEvents(const std::vector<store::EventRecord>& events, MarkMatched mark) {
  ASSIGN_OR_RETURN(std::optional<WaitMatcher::Resolution> resolution,
                   waits_.ResolveEvents(events, mark));
  return CommitResolution(std::move(resolution));
}

Status Engine::ScanWaits(const std::vector<store::WaitRecord>& waits) {
  ASSIGN_OR_RETURN(std::optional<WaitMatcher::Resolution> resolution,
                   waits_.ResolveNewWaits(waits));
  return CommitResolution(std::move(resolution));
}

Status Engine::CommitResolution(std::optional<WaitMatcher::Resolution> resolution) {
  if (!resolution) return OkStatus();
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(resolution->batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitAndLease(std::move(batches)));
  if (results.front().status.ok()) MarkCancelled(resolution->cancelled);
  return results.front().status;
}

Status Engine::Recover() {
  // Events scheduled before a restart, or by another node, may be waiting.
  scheduled_check_.MayExist();
  RETURN_IF_ERROR(store_.ReleaseLeases(options_.node_id));
  ASSIGN_OR_RETURN(auto revisions, store_.ActiveRevisions());
  for (const auto& [flow_id, revision] : revisions) (void)ProgramFor(flow_id, revision);
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<store::EventRecord> events,
                     store_.UnmatchedEvents(options_.scan_limit));
    if (events.empty()) break;
    // Marked now: the next round reads the events still unmatched.
    RETURN_IF_ERROR(MatchEvents(events, MarkMatched::kNow));
  }
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<store::WaitRecord> waits,
                     store_.UnscannedWaits(options_.scan_limit));
    if (waits.empty()) break;
    RETURN_IF_ERROR(ScanWaits(waits));
  }
  return OkStatus();
}

Status Engine::ReleaseLeases() {
  // Results that come back after this are not recorded: the runs resume from their journals.
  (void)inflight_.ForgetAll();
  fresh_.Clear();
  return store_.ReleaseLeases(options_.node_id);
}

Status Engine::CancelRun(std::string_view run_id) {
  ASSIGN_OR_RETURN(std::optional<store::RunRecord> run, store_.GetRun(run_id));
  if (!run) return NotFoundError("no run \"" + std::string(run_id) + "\"");
  if (store::IsTerminal(run->status)) {
    return FailedPreconditionError("run " + run->id + " has already " +
                                   std::string(store::RunStatusName(run->status)));
  }
  WriteBatch batch;
  batch.Add(store::RequestCancelOp{run->id});
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitAndLease(std::move(batches)));
  if (results.front().status.ok()) MarkCancelled({run->id});
  return results.front().status;
}

Status Engine::PublishRevision(const Program& program) {
  WriteBatch batch;
  batch.Add(store::PutFlowRevisionOp{store::FlowRevisionRecord{program.flow_id, program.revision,
                                                               program.document, clock_.Now()}});
  ASSIGN_OR_RETURN(BatchResult result, store_.Commit(std::move(batch)));
  return result.status;
}

StatusOr<std::optional<TimePoint>> Engine::LastCronTick(std::string_view flow_id) {
  return store_.LastCronTick(flow_id);
}

StatusOr<std::optional<store::RunRecord>> Engine::GetRun(std::string_view run_id) {
  return store_.GetRun(run_id);
}

StatusOr<std::vector<store::RunRecord>> Engine::ListRuns(const store::RunFilter& filter) {
  return store_.ListRuns(filter);
}

StatusOr<std::vector<store::JournalEntry>> Engine::GetJournal(std::string_view run_id) {
  return store_.LoadJournal(run_id);
}

StatusOr<std::optional<TimePoint>> Engine::NextDueTime() {
  if (inflight_.has_ready()) return std::optional<TimePoint>(clock_.Now());
  // Runs held in memory wait, like those in the store, while no more actions may start; a
  // returning action wakes a worker (on_work_ready).
  if (claiming_ && inflight_.actions_in_flight() < options_.max_inflight_actions &&
      !fresh_.empty()) {
    return std::optional<TimePoint>(clock_.Now());
  }
  return store_.NextDueTime();
}

}  // namespace flowrun
