// Engine: planning and starting runs (events, invoke, cron, reruns, delayed events), and the
// first walk of the runs an ingest starts. See engine.h.
#include <algorithm>
#include <limits>
#include <set>

#include "common/deterministic_id.h"
#include "common/json_path.h"
#include "common/thread_annotations.h"  // so that scripts/check-thread-safety.sh checks this file
#include "engine/engine.h"
#include "engine/flow_control_plan.h"

namespace flowrun {

using store::BatchResult;
using store::EventRecord;
using store::RunRecord;
using store::RunStatus;
using store::WaitRecord;
using store::WriteBatch;

namespace {

// The id of `step` and of every step nested in it, on_error handlers included.
void CollectStepIds(const CompiledStep& step, std::set<std::string>& ids) {
  ForEachStep(step, [&](const CompiledStep& s) { ids.insert(s.id); });
}

// A key expression's value as stored text: strings bare, null as "no key", others as JSON.
std::string KeyText(const Json& value) {
  if (value.is_null()) return "";
  if (value.is_string()) return value.get<std::string>();
  return CanonicalKey(value);
}

Status ValidateEvent(const Json& event, size_t index) {
  std::string where = "event " + std::to_string(index);
  if (!event.is_object()) {
    return InvalidArgumentError(where + ": expected an object, got " +
                                std::string(event.type_name()));
  }
  auto name = event.find("name");
  if (name == event.end() || !name->is_string() || name->get<std::string>().empty()) {
    return InvalidArgumentError(where + ": `name` must be a non-empty string");
  }
  if (name->get<std::string>().size() > 256) {
    return InvalidArgumentError(where + ": `name` is longer than 256 bytes");
  }
  auto data = event.find("data");
  if (data != event.end() && !data->is_null() && !data->is_object()) {
    return InvalidArgumentError(where + ": `data` must be an object");
  }
  auto id = event.find("id");
  if (id != event.end() && !id->is_null() && !id->is_string()) {
    return InvalidArgumentError(where + ": `id` must be a string");
  }
  return OkStatus();
}

// Runs whose creation the store may still refuse (an idempotency key), delay, merge or skip
// (flow control), or whose start waits for a concurrency slot or a due time later than their
// creation, are not walked before they exist. (The run was created after the ingest read `now`:
// its due time is compared with its own creation time.)
bool WalkableOnIngest(const store::CreateRunOp& create) {
  const RunRecord& run = create.run;
  return run.concurrency_limit <= 0 && run.idempotency_key.empty() &&
         run.status == RunStatus::kQueued && !create.HasFlowControl() &&
         !(run.due_at && *run.due_at > run.created_at);
}

// Moves the ops of a first walk into the batch that creates its run. The run is created in that
// batch: its lease needs no check, and its state after the walk goes straight into the row that
// the CreateRunOp inserts (`run`).
void FoldWalkIntoCreation(WriteBatch& walked, RunRecord& run, WriteBatch& batch) {
  for (store::WriteOp& op : walked.ops) {
    if (const auto* lease = std::get_if<store::RequireLeaseOp>(&op);
        lease && lease->run_id == run.id) {
      continue;
    }
    if (auto* update = std::get_if<store::UpdateRunOp>(&op); update && update->run_id == run.id) {
      run.status = update->status;
      run.due_at = update->due_at;
      run.output = std::move(update->output);
      run.error = std::move(update->error);
      run.ended_at = update->ended_at;
      if (update->release_lease) {
        run.lease_owner.clear();
        run.lease_until.reset();
      }
      continue;
    }
    batch.ops.push_back(std::move(op));
  }
}

}  // namespace

StatusOr<std::optional<RunRecord>> Engine::NewRun(const Program& program, const Json& event,
                                                  std::string run_id, std::string trigger_event_id,
                                                  store::CreateRunOp& op) {
  const TimePoint now = clock_.Now();
  // Only the flow's keys and cancel_on conditions read the scope: build it for them alone.
  const bool evaluates = EvaluatesAtCreation(program);
  Json scope = evaluates ? Json{{"event", event}} : Json::object();
  expr::EvalContext context;
  context.scope = &scope;
  context.now = [now] { return now; };
  context.uuid = [] { return RandomUuid(); };
  RunRecord& run = op.run;
  run.id = std::move(run_id);
  run.flow_id = program.flow_id;
  run.revision = program.revision;
  run.status = RunStatus::kQueued;
  run.event = event;
  run.trigger_event_id = std::move(trigger_event_id);
  run.created_at = now;
  run.updated_at = now;
  run.due_at = now;
  if (program.timeout) run.deadline = now + *program.timeout;
  if (program.idempotency_key) {
    auto key = program.idempotency_key->Evaluate(context);
    if (!key.ok()) {
      return key.status().WithContext("flow " + program.flow_id + ": idempotency expression `" +
                                      program.idempotency_key->source() + "`");
    }
    run.idempotency_key = KeyText(*key);
    op.idempotency_window = program.idempotency_window;
  }
  RETURN_IF_ERROR(PlanFlowControl(program, context, RunOrigin::kEvent, op));
  for (size_t i = 0; i < program.cancel_on.size(); ++i) {
    ASSIGN_OR_RETURN(WaitRecord wait, CancelOnWait(program, i, run, event, context, now));
    op.waits.push_back(std::move(wait));
  }
  return std::optional<RunRecord>(run);
}

StatusOr<WaitRecord> Engine::CancelOnWait(const Program& program, size_t index,
                                          const RunRecord& run, const Json& event,
                                          const expr::EvalContext& context, TimePoint now) {
  const CancelOn& cancel = program.cancel_on[index];
  WaitRecord wait;
  wait.id = TimeOrderedId("cancel_", now, {run.id, std::to_string(index)});
  wait.run_id = run.id;
  wait.kind = WaitRecord::Kind::kCancel;
  wait.flow_id = program.flow_id;
  wait.revision = program.revision;
  wait.step_id = std::to_string(index);
  wait.event_name = cancel.event;
  wait.since_seq = -1;
  wait.created_at = now;
  if (cancel.timeout) wait.timeout_at = now + *cancel.timeout;
  wait.context = Json{{"event", event}};
  if (cancel.condition) {
    if (auto equality = cancel.condition->AsAsyncEquality()) {
      auto value = expr::Expression::EvaluateNode(*equality->other_side, context);
      if (!value.ok()) {
        return value.status().WithContext("flow " + program.flow_id + ": cancel_on `" +
                                          cancel.condition->source() + "`");
      }
      wait.match_path = JoinJsonPath(equality->async_path);
      wait.match_key = CanonicalKey(*value);
    }
  }
  return wait;
}

void Engine::PlanRuns(const EventRecord& event, WriteBatch& batch) {
  const Json event_json = event.ToJson();
  for (const std::shared_ptr<const Program>& program : catalog_.AllCurrent()) {
    for (const EventTrigger& trigger : program->event_triggers) {
      if (!trigger.Matches(event.name)) continue;
      if (trigger.condition) {
        Json scope = Json{{"event", event_json}};
        expr::EvalContext context;
        context.scope = &scope;
        TimePoint now = clock_.Now();
        context.now = [now] { return now; };
        context.uuid = [] { return RandomUuid(); };
        auto matches = trigger.condition->EvaluateCondition(context);
        if (!matches.ok()) {
          if (options_.log) {
            options_.log("", "",
                         "flow " + program->flow_id + ": trigger condition `" +
                             trigger.condition->source() + "`: " + matches.status().message());
          }
          continue;
        }
        if (!*matches) continue;
      }
      store::CreateRunOp op;
      // Time-ordered after the event; a replay that plans the same event again is still one run,
      // since the store keeps one run per (trigger event, flow).
      auto run =
          NewRun(*program, event_json,
                 TimeOrderedId("run_", event.ts, {event.id, program->flow_id}), event.id, op);
      if (!run.ok()) {
        if (options_.log) options_.log("", "", run.status().message());
        break;
      }
      batch.Add(std::move(op));
      break;  // one run per (event, flow)
    }
  }
}

StatusOr<std::vector<IngestedEvent>> Engine::IngestEvents(const std::vector<Json>& events) {
  for (size_t i = 0; i < events.size(); ++i) RETURN_IF_ERROR(ValidateEvent(events[i], i));
  const TimePoint now = clock_.Now();
  std::vector<IngestedEvent> ingested(events.size());
  // The first walks of the runs the events start, committed with them (advance_on_ingest).
  // `log` lines are held until their run is durable.
  std::vector<HeldLog> logs;
  WalkEnvironment walk_env = env_;
  if (env_.log) {
    walk_env.log = [&logs](const std::string& run, const std::string& key, const std::string& m) {
      logs.emplace_back(run, key, m);
    };
  }
  IngestPlan plan(events.size());
  plan.batches.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    ASSIGN_OR_RETURN(WriteBatch batch, PlanIngest(i, events[i], now, walk_env, plan, ingested[i]));
    plan.batches.push_back(std::move(batch));
  }
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitAndLease(std::move(plan.batches)));
  ASSIGN_OR_RETURN(std::vector<EventRecord> to_match, CollectIngested(results, plan, ingested));
  std::vector<WaitRecord> to_scan = FinishInlineWalks(results, plan.walks, logs);
  RETURN_IF_ERROR(MatchEvents(to_match));
  RETURN_IF_ERROR(ScanWaits(to_scan));
  return ingested;
}

StatusOr<WriteBatch> Engine::PlanIngest(size_t index, const Json& input, TimePoint now,
                                        const WalkEnvironment& walk_env, IngestPlan& plan,
                                        IngestedEvent& ingested) {
  EventRecord event;
  event.id = RandomId("evt_");
  event.name = input["name"].get<std::string>();
  if (input.contains("data") && input["data"].is_object()) event.data = input["data"];
  event.ts = now;
  if (input.contains("id") && input["id"].is_string()) event.client_id = input["id"];
  ingested.id = event.id;
  WriteBatch batch;
  batch.Add(store::InsertEventOp{event, options_.dedupe_window, true});
  PlanRuns(event, batch);
  for (const store::WriteOp& op : batch.ops) {
    if (const auto* create = std::get_if<store::CreateRunOp>(&op)) {
      plan.planned_runs[index].insert(create->run.id);
    }
  }
  if (options_.advance_on_ingest) WalkNewRuns(index, batch, walk_env, now, plan.walks);
  RETURN_IF_ERROR(ResolveOnIngest(event, index, batch, plan));
  return batch;
}

Status Engine::ResolveOnIngest(const EventRecord& event, size_t index, WriteBatch& batch,
                               IngestPlan& plan) {
  // The waits the event satisfies are resolved in the transaction that stores it, so that a
  // waiting run resumes one commit sooner. (A wait registered between this read and the commit
  // is caught by MatchEvents after it: the event is stored as unmatched while waits exist.)
  auto awaited = plan.awaited_names.find(event.name);
  if (awaited == plan.awaited_names.end()) {
    ASSIGN_OR_RETURN(bool any, store_.HasWaits(event.name));
    awaited = plan.awaited_names.emplace(event.name, any).first;
  }
  if (!awaited->second) return OkStatus();
  EventRecord stored = event;
  stored.seq = std::numeric_limits<int64_t>::max();  // newer than every wait's start
  ASSIGN_OR_RETURN(std::vector<WaitRecord> matching, waits_.MatchingWaits(stored));
  for (const WaitRecord& wait : matching) {
    batch.Add(store::ResolveWaitOp{wait.id, event.ToJson()});
    if (wait.kind == WaitRecord::Kind::kCancel) plan.cancelled[index].insert(wait.run_id);
  }
  return OkStatus();
}

StatusOr<std::vector<EventRecord>> Engine::CollectIngested(std::vector<BatchResult>& results,
                                                           const IngestPlan& plan,
                                                           std::vector<IngestedEvent>& ingested) {
  std::vector<EventRecord> to_match;
  for (size_t i = 0; i < results.size(); ++i) {
    BatchResult& result = results[i];
    if (result.status.code() == StatusCode::kAlreadyExists && !result.duplicate_of.empty()) {
      ingested[i].id = result.duplicate_of;
      ingested[i].duplicate = true;
      continue;
    }
    RETURN_IF_ERROR(result.status);
    // Not the runs that the first walks started (through invoke or send_event).
    for (const std::string& id : result.created_runs) {
      if (plan.planned_runs[i].count(id)) ingested[i].runs.push_back(id);
    }
    // An event that joined an open debounce or batch is in that run.
    for (const auto& [asked, joined] : result.merged_runs) {
      if (plan.planned_runs[i].count(asked)) ingested[i].runs.push_back(joined);
    }
    for (EventRecord& e : result.events_to_match) to_match.push_back(std::move(e));
    MarkCancelled(plan.cancelled[i]);
  }
  return to_match;
}

std::vector<WaitRecord> Engine::FinishInlineWalks(const std::vector<BatchResult>& results,
                                                  std::vector<InlineWalk>& walks,
                                                  const std::vector<HeldLog>& logs) {
  std::vector<WaitRecord> to_scan;
  std::set<std::string> durable_runs;
  for (InlineWalk& walk : walks) {
    if (!results[walk.batch].status.ok()) continue;
    durable_runs.insert(walk.run_id);
    if (walk.result.state != WalkResult::State::kSuspended && options_.on_run_finished) {
      options_.on_run_finished(walk.flow_id, walk.result.status);
    }
    for (WaitRecord& w : walk.result.new_waits) to_scan.push_back(std::move(w));
  }
  for (const auto& [run, key, message] : logs) {
    if (durable_runs.count(run)) env_.log(run, key, message);
  }
  return to_scan;
}

void Engine::WalkNewRuns(size_t batch_index, WriteBatch& batch, const WalkEnvironment& walk_env,
                         TimePoint now, std::vector<InlineWalk>& walks) {
  const size_t planned = batch.ops.size();
  for (size_t k = 0; k < planned; ++k) {
    auto* create = std::get_if<store::CreateRunOp>(&batch.ops[k]);
    if (!create || !WalkableOnIngest(*create)) continue;
    std::optional<InlineWalk> walk = WalkNewRun(k, batch, walk_env, now);
    if (!walk) continue;
    walk->batch = batch_index;
    walks.push_back(std::move(*walk));
  }
}

std::optional<Engine::InlineWalk> Engine::WalkNewRun(size_t op_index, WriteBatch& batch,
                                                     const WalkEnvironment& walk_env,
                                                     TimePoint now) {
  auto& create = std::get<store::CreateRunOp>(batch.ops[op_index]);
  std::shared_ptr<const Program> program = ProgramFor(create.run.flow_id, create.run.revision);
  if (!program) return std::nullopt;
  // The record moves into the walker and back, so that it is never copied.
  const std::optional<TimePoint> planned_due = create.run.due_at;
  RunRecord leased = std::move(create.run);
  leased.lease_owner = options_.node_id;
  leased.lease_token = store::kFirstLeaseToken;
  leased.lease_until = now + NewLeaseSpan();
  leased.due_at = leased.lease_until;
  auto walker = std::make_unique<RunWalker>(
      program, std::move(leased), std::vector<store::JournalEntry>{}, walk_env, options_.node_id);
  WalkResult result = walker->Walk(now);
  // A run that reaches an action is queued instead (its actions run on the workers, after the
  // commit); so is one whose first walk writes more than an ingest batch should carry.
  bool queue = result.state == WalkResult::State::kSuspended && !result.actions.empty();
  WriteBatch walked;
  if (!queue) {
    walked = walker->TakeBatch();
    queue = walked.ops.size() > kMaxOpsWalkedOnIngest;
  }
  RunRecord back = walker->TakeRun();
  walker.reset();
  if (queue) {
    back.status = RunStatus::kQueued;
    back.due_at = planned_due;
    back.lease_owner.clear();
    back.lease_token = 0;
    back.lease_until.reset();
    std::get<store::CreateRunOp>(batch.ops[op_index]).run = std::move(back);
    return std::nullopt;
  }
  FoldWalkIntoCreation(walked, back, batch);
  InlineWalk walk{0, back.id, back.flow_id, std::move(result)};
  // Re-fetched: appending above may have moved the ops.
  std::get<store::CreateRunOp>(batch.ops[op_index]).run = std::move(back);
  return walk;
}

StatusOr<std::string> Engine::StartRun(std::string_view flow_id, Json data) {
  std::shared_ptr<const Program> program = catalog_.Current(flow_id);
  if (!program) return NotFoundError("no flow \"" + std::string(flow_id) + "\"");
  if (!data.is_object() && !data.is_null()) {
    return InvalidArgumentError("invoke: `data` must be an object");
  }
  const TimePoint now = clock_.Now();
  std::string run_id = RandomId("run_");
  Json event = Json{{"id", run_id},
                    {"name", "flowrun/invoke"},
                    {"data", data.is_object() ? data : Json::object()},
                    {"ts", FormatTimestamp(now)}};
  store::CreateRunOp op;
  ASSIGN_OR_RETURN(auto run, NewRun(*program, event, run_id, "", op));
  WriteBatch batch;
  batch.Add(std::move(op));
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitAndLease(std::move(batches)));
  RETURN_IF_ERROR(results.front().status);
  if (results.front().created_runs.empty()) {
    return AlreadyExistsError("flow " + program->flow_id +
                              ": a run with the same idempotency key was started recently");
  }
  return run_id;
}

StatusOr<std::optional<std::string>> Engine::FireCronTick(std::string_view flow_id,
                                                          TimePoint tick) {
  std::shared_ptr<const Program> program = catalog_.Current(flow_id);
  if (!program) return NotFoundError("no flow \"" + std::string(flow_id) + "\"");
  if (program->cron_triggers.empty()) {
    return FailedPreconditionError("flow " + program->flow_id + " has no cron trigger");
  }
  const CronTrigger* trigger = &program->cron_triggers.front();
  for (const CronTrigger& candidate : program->cron_triggers) {
    auto next = candidate.schedule.NextAfter(tick - std::chrono::minutes(1));
    if (next && *next == tick) {
      trigger = &candidate;
      break;
    }
  }
  const std::string tick_text = FormatTimestamp(tick);
  EventRecord event;
  event.id = TimeOrderedId("evt_", tick, {"cron", program->flow_id, tick_text});
  event.name = "cron";
  event.data = Json{{"tick", tick_text},
                    {"schedule", trigger->schedule.ToString()},
                    {"timezone", trigger->schedule.timezone()}};
  event.ts = tick;
  const std::string run_id = TimeOrderedId("run_", tick, {event.id, program->flow_id});
  store::CreateRunOp op;
  ASSIGN_OR_RETURN(auto run, NewRun(*program, event.ToJson(), run_id, event.id, op));
  (void)run;
  WriteBatch batch;
  batch.Add(store::ClaimCronTickOp{program->flow_id, tick});
  batch.Add(store::InsertEventOp{event, options_.dedupe_window, false});
  batch.Add(std::move(op));
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitAndLease(std::move(batches)));
  BatchResult& result = results.front();
  RETURN_IF_ERROR(result.status);
  RETURN_IF_ERROR(MatchEvents(result.events_to_match));
  if (!result.cron_tick_claimed || result.created_runs.empty()) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(run_id);
}

StatusOr<std::string> Engine::RerunRun(std::string_view run_id,
                                       std::optional<std::string> from_step) {
  ASSIGN_OR_RETURN(std::optional<RunRecord> original, store_.GetRun(run_id));
  if (!original) return NotFoundError("no run \"" + std::string(run_id) + "\"");
  std::shared_ptr<const Program> program = ProgramFor(original->flow_id, original->revision);
  if (!program) {
    return FailedPreconditionError("run " + original->id + ": revision " + original->revision +
                                   " of flow " + original->flow_id + " is no longer available");
  }
  ASSIGN_OR_RETURN(std::vector<store::JournalEntry> copied,
                   RerunJournal(*original, *program, from_step));
  const std::string new_id = RandomId("run_");
  store::CreateRunOp op;
  ASSIGN_OR_RETURN(auto planned, NewRun(*program, original->event, new_id, "", op));
  (void)planned;
  // A rerun is asked for explicitly: the idempotency key that dropped duplicates of the original
  // trigger must not drop it, and neither may flow control delay, merge or skip it (its
  // concurrency limits still apply). A batched run is rerun with the same events.
  op.run.idempotency_key.clear();
  op.throttle.reset();
  op.rate_limit.reset();
  op.singleton.reset();
  op.gather.reset();
  op.claim_in_due_order = false;
  op.run.due_at = op.run.created_at;
  op.run.events = original->events;
  // With steps taken over, the run has already begun: the walker loads its journal.
  if (!copied.empty()) op.run.status = RunStatus::kRunning;
  WriteBatch batch;
  batch.Add(std::move(op));
  for (store::JournalEntry& entry : copied) {
    entry.run_id = new_id;
    entry.seq = 0;
    if (entry.kind == store::JournalKind::kCompleted && entry.data.is_object()) {
      entry.data["copied_from"] = original->id;
    }
    batch.Add(store::AppendJournalOp{std::move(entry)});
  }
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitAndLease(std::move(batches)));
  RETURN_IF_ERROR(results.front().status);
  if (results.front().created_runs.empty()) {
    return AbortedError("run " + new_id + " could not be created");
  }
  return new_id;
}

StatusOr<std::vector<store::JournalEntry>> Engine::RerunJournal(
    const RunRecord& original, const Program& program,
    const std::optional<std::string>& from_step) {
  // The ids of every step (nested ones included) that the new run takes over as recorded.
  std::set<std::string> kept;
  if (from_step) {
    auto start = std::find_if(program.steps.begin(), program.steps.end(),
                              [&](const CompiledStep& step) { return step.id == *from_step; });
    if (start == program.steps.end()) {
      return InvalidArgumentError("flow " + program.flow_id + " has no top-level step \"" +
                                  *from_step + "\" to rerun from");
    }
    for (auto step = program.steps.begin(); step != start; ++step) CollectStepIds(*step, kept);
  }
  std::vector<store::JournalEntry> copied;
  if (kept.empty()) return copied;
  ASSIGN_OR_RETURN(std::vector<store::JournalEntry> journal, store_.LoadJournal(original.id));
  for (store::JournalEntry& entry : journal) {
    if (entry.kind != store::JournalKind::kCompleted && entry.kind != store::JournalKind::kNondet) {
      continue;
    }
    if (!kept.count(entry.step_key.substr(0, entry.step_key.find('[')))) continue;
    copied.push_back(std::move(entry));
  }
  return copied;
}

Status Engine::ReleaseDueEvents(TimePoint now) {
  const ScheduledEventCheck::Query query = scheduled_check_.Next(now);
  if (!query.due) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<EventRecord> due,
                   store_.DueScheduledEvents(now, options_.scan_limit));
  // All due ones are released below (or the call fails); whether any remain for later decides
  // whether the next calls ask again.
  bool none_left = false;
  if (query.pending && static_cast<int>(due.size()) < options_.scan_limit) {
    ASSIGN_OR_RETURN(std::vector<EventRecord> pending,
                     store_.DueScheduledEvents(TimePoint::max(), 1 + static_cast<int>(due.size())));
    none_left = pending.size() == due.size();
  }
  if (due.empty()) {
    if (none_left) scheduled_check_.FoundNone(query);
    return OkStatus();
  }
  std::vector<WriteBatch> batches;
  batches.reserve(due.size());
  for (EventRecord& event : due) {
    event.ts = now;
    WriteBatch batch;
    batch.Add(store::ReleaseScheduledEventOp{event.id});
    batch.Add(store::InsertEventOp{event, options_.dedupe_window, false});
    PlanRuns(event, batch);
    batches.push_back(std::move(batch));
  }
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitAndLease(std::move(batches)));
  std::vector<EventRecord> to_match;
  for (BatchResult& result : results) {
    RETURN_IF_ERROR(result.status);
    for (EventRecord& e : result.events_to_match) to_match.push_back(std::move(e));
  }
  if (none_left) scheduled_check_.FoundNone(query);
  return MatchEvents(to_match);
}

}  // namespace flowrun
