#include "engine/engine.h"

#include <algorithm>
#include <limits>
#include <set>

#include "common/deterministic_id.h"
#include "common/json_path.h"
#include "engine/flow_control_plan.h"
#include "engine/step_key.h"
#include "flow/compiler.h"
#include "flow/yaml_loader.h"

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

}  // namespace

Engine::Engine(store::Store& store, const ProgramCatalog& catalog, ActionResolver actions,
               const Clock& clock, const SecretSource* secrets, EngineOptions options)
    : store_(store),
      catalog_(catalog),
      actions_(std::move(actions)),
      clock_(clock),
      options_(std::move(options)),
      inflight_(options_.on_work_ready),
      random_(options_.seed ? options_.seed : std::random_device{}()) {
  env_.catalog = &catalog_;
  env_.secrets = secrets ? secrets->All() : Json::object();
  env_.redactor = SecretRedactor::FromObject(env_.secrets);
  env_.default_attempt_timeout = options_.default_attempt_timeout;
  env_.plan_event = [this](const EventRecord& event, WriteBatch& batch) { PlanRuns(event, batch); };
  env_.log = options_.log;
  env_.uniform = [this] { return Uniform(); };
  env_.max_actions_per_run = std::max(1, options_.max_actions_per_run);
  env_.max_step_output_bytes = std::max<long long>(1, options_.max_step_output_bytes);
  env_.lease = options_.lease;
}

Engine::~Engine() {
  std::unique_lock lock(liveness_->mu);
  liveness_->alive = false;
}

void Engine::StopClaiming() { claiming_ = false; }

int Engine::ActionsInFlight() const { return inflight_.actions_in_flight(); }

bool Engine::ResultsPending() const {
  return inflight_.actions_in_flight() > 0 || inflight_.has_ready();
}

double Engine::Uniform() {
  std::lock_guard lock(mu_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
}

const CompiledStep* Engine::FindStep(const Program& program, const std::string& step_id) {
  std::lock_guard lock(mu_);
  auto it = step_index_.find(&program);
  if (it == step_index_.end()) {
    std::unordered_map<std::string, const CompiledStep*> index;
    auto add = [&](const CompiledStep& step) { index[step.id] = &step; };
    ForEachStep(program.steps, add);
    ForEachStep(program.on_failure, add);
    auto shared = ProgramFor(program.flow_id, program.revision);
    it = step_index_.emplace(&program, std::make_pair(shared, std::move(index))).first;
  }
  auto step = it->second.second.find(step_id);
  return step == it->second.second.end() ? nullptr : step->second;
}

StatusOr<std::vector<BatchResult>> Engine::CommitWithFailpoints(std::vector<WriteBatch> batches) {
  // Marks that MatchEvents deferred ride along, in a batch of their own (last, and not reported).
  const size_t requested = batches.size();
  std::vector<std::string> marks;
  {
    std::lock_guard lock(deferred_mu_);
    marks.swap(deferred_marks_);
  }
  if (!marks.empty()) {
    WriteBatch batch;
    batch.Add(store::MarkMatchedOp{marks, {}});
    batches.push_back(std::move(batch));
  }
  // Lease the new runs to this node while fresh_ has room; keep a copy of each to queue.
  std::vector<std::pair<size_t, RunRecord>> leased;
  int reserved_for_waits = 0;
  if (options_.fresh_run_capacity > 0) {
    const TimePoint now = clock_.Now();
    std::lock_guard lock(fresh_mu_);
    for (size_t i = 0; i < batches.size(); ++i) {
      for (store::WriteOp& op : batches[i].ops) {
        if (auto* resolve = std::get_if<store::ResolveWaitOp>(&op)) {
          // The woken run comes back leased (BatchResult::leased_runs) unless another holds it.
          if (fresh_reserved_ >= options_.fresh_run_capacity) continue;
          ++fresh_reserved_;
          ++reserved_for_waits;
          resolve->lease_owner = options_.node_id;
          resolve->lease_until = now + options_.lease + options_.default_attempt_timeout;
          continue;
        }
        auto* create = std::get_if<store::CreateRunOp>(&op);
        // A run walked on ingest is no longer queued. A run whose due time flow control moved
        // (priority, debounce, batch) is left to ClaimRuns, which orders runs by it; one that
        // throttle delays or flow control skips comes back in delayed_runs or flow_skipped and
        // is not queued here either.
        if (!create || !create->run.lease_owner.empty() || create->run.concurrency_limit > 0 ||
            create->run.status != RunStatus::kQueued || create->gather ||
            create->claim_in_due_order || create->run.due_at != create->run.created_at ||
            fresh_reserved_ >= options_.fresh_run_capacity) {
          continue;
        }
        ++fresh_reserved_;
        RunRecord& run = create->run;
        run.lease_owner = options_.node_id;
        run.lease_token = store::kFirstLeaseToken;
        run.lease_until = now + options_.lease + options_.default_attempt_timeout;
        run.due_at = run.lease_until;
        leased.emplace_back(i, run);
      }
    }
  }
  // Noted whether or not the commit succeeds: a failed commit may still have stored them.
  bool schedules = false;
  for (const WriteBatch& batch : batches) {
    for (const store::WriteOp& op : batch.ops) {
      schedules = schedules || std::holds_alternative<store::ScheduleEventOp>(op);
    }
  }
  auto results = CommitBatches(std::move(batches));
  // After the commit: a check that read the store before it must not clear the flag (see
  // ScheduledEventCheck::FoundNone).
  if (schedules) scheduled_check_.MayExist();
  bool marks_committed = false;
  if (results.ok() && results->size() > requested) {
    marks_committed = results->back().status.ok();
    results->resize(requested);
  }
  if (!marks.empty() && !marks_committed) {  // kept for the next commit
    std::lock_guard lock(deferred_mu_);
    for (std::string& id : marks) deferred_marks_.push_back(std::move(id));
  }
  std::set<std::string> cancelled;
  if (results.ok()) {
    for (const BatchResult& result : *results) {
      cancelled.insert(result.cancelled_runs.begin(), result.cancelled_runs.end());
    }
  }
  MarkCancelled(cancelled);
  std::lock_guard lock(fresh_mu_);
  for (auto& [index, run] : leased) {
    bool created = false;
    if (results.ok()) {
      const BatchResult& result = (*results)[index];
      const auto& ids = result.created_runs;
      created =
          std::find(ids.begin(), ids.end(), run.id) != ids.end() &&
          std::find(result.delayed_runs.begin(), result.delayed_runs.end(), run.id) ==
              result.delayed_runs.end() &&
          std::none_of(result.flow_skipped.begin(), result.flow_skipped.end(),
                       [&run_id = run.id](const auto& skipped) { return skipped.first == run_id; });
    }
    if (created) {
      fresh_.push_back(std::move(run));
    } else {
      --fresh_reserved_;
    }
  }
  if (results.ok()) {
    for (BatchResult& result : *results) {
      for (RunRecord& run : result.leased_runs) {
        fresh_.push_back(std::move(run));
        --reserved_for_waits;
      }
    }
  }
  fresh_reserved_ -= reserved_for_waits;
  return results;
}

void Engine::MarkCancelled(const std::set<std::string>& run_ids) {
  if (run_ids.empty()) return;
  inflight_.MarkCancelled(run_ids);
  std::lock_guard lock(fresh_mu_);
  for (RunRecord& run : fresh_) {
    if (run_ids.count(run.id)) run.cancel_requested = true;
  }
}

std::vector<RunRecord> Engine::TakeFreshRuns(int max, TimePoint now) {
  std::vector<RunRecord> taken;
  std::lock_guard lock(fresh_mu_);
  while (!fresh_.empty() && static_cast<int>(taken.size()) < max) {
    RunRecord run = std::move(fresh_.front());
    fresh_.pop_front();
    --fresh_reserved_;
    // A lease that ran out (the engine was not driven for that long) may be claimed by anyone:
    // leave the run to ClaimRuns, which sees it due.
    if (run.lease_until && *run.lease_until > now) taken.push_back(std::move(run));
  }
  return taken;
}

StatusOr<std::vector<BatchResult>> Engine::CommitBatches(std::vector<WriteBatch> batches) {
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
    const CancelOn& cancel = program.cancel_on[i];
    WaitRecord wait;
    wait.id = TimeOrderedId("cancel_", now, {run.id, std::to_string(i)});
    wait.run_id = run.id;
    wait.kind = WaitRecord::Kind::kCancel;
    wait.flow_id = program.flow_id;
    wait.revision = program.revision;
    wait.step_id = std::to_string(i);
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
    op.waits.push_back(std::move(wait));
  }
  return std::optional<RunRecord>(run);
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
  std::vector<WriteBatch> batches;
  batches.reserve(events.size());
  std::vector<IngestedEvent> ingested(events.size());
  // The first walks of the runs the events start, committed with them (advance_on_ingest).
  // `log` lines are held until their run is durable.
  std::vector<std::tuple<std::string, std::string, std::string>> logs;
  WalkEnvironment walk_env = env_;
  if (env_.log) {
    walk_env.log = [&logs](const std::string& run, const std::string& key, const std::string& m) {
      logs.emplace_back(run, key, m);
    };
  }
  std::vector<InlineWalk> walks;
  std::vector<std::set<std::string>> planned_runs(events.size());  // started by event i itself
  std::vector<std::set<std::string>> cancelled(events.size());     // runs whose cancel_on it met
  std::unordered_map<std::string, bool> awaited_names;             // event name -> waits exist
  for (size_t i = 0; i < events.size(); ++i) {
    const Json& input = events[i];
    EventRecord event;
    event.id = RandomId("evt_");
    event.name = input["name"].get<std::string>();
    if (input.contains("data") && input["data"].is_object()) event.data = input["data"];
    event.ts = now;
    if (input.contains("id") && input["id"].is_string()) event.client_id = input["id"];
    ingested[i].id = event.id;
    WriteBatch batch;
    batch.Add(store::InsertEventOp{event, options_.dedupe_window, true});
    PlanRuns(event, batch);
    for (const store::WriteOp& op : batch.ops) {
      if (const auto* create = std::get_if<store::CreateRunOp>(&op)) {
        planned_runs[i].insert(create->run.id);
      }
    }
    if (options_.advance_on_ingest) WalkNewRuns(i, batch, walk_env, now, walks);
    // The waits the event satisfies are resolved in the transaction that stores it, so that a
    // waiting run resumes one commit sooner. (A wait registered between this read and the commit
    // is caught by MatchEvents after it: the event is stored as unmatched while waits exist.)
    auto awaited = awaited_names.find(event.name);
    if (awaited == awaited_names.end()) {
      ASSIGN_OR_RETURN(bool any, store_.HasWaits(event.name));
      awaited = awaited_names.emplace(event.name, any).first;
    }
    if (!awaited->second) {
      batches.push_back(std::move(batch));
      continue;
    }
    EventRecord stored = event;
    stored.seq = std::numeric_limits<int64_t>::max();  // newer than every wait's start
    ASSIGN_OR_RETURN(std::vector<WaitRecord> matching, MatchingWaits(stored));
    for (const WaitRecord& wait : matching) {
      batch.Add(store::ResolveWaitOp{wait.id, event.ToJson()});
      if (wait.kind == WaitRecord::Kind::kCancel) cancelled[i].insert(wait.run_id);
    }
    batches.push_back(std::move(batch));
  }
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitWithFailpoints(std::move(batches)));
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
      if (planned_runs[i].count(id)) ingested[i].runs.push_back(id);
    }
    // An event that joined an open debounce or batch is in that run.
    for (const auto& [asked, joined] : result.merged_runs) {
      if (planned_runs[i].count(asked)) ingested[i].runs.push_back(joined);
    }
    for (EventRecord& e : result.events_to_match) to_match.push_back(std::move(e));
    MarkCancelled(cancelled[i]);
  }
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
  RETURN_IF_ERROR(MatchEvents(to_match));
  RETURN_IF_ERROR(ScanWaits(to_scan));
  return ingested;
}

void Engine::WalkNewRuns(size_t batch_index, WriteBatch& batch, const WalkEnvironment& walk_env,
                         TimePoint now, std::vector<InlineWalk>& walks) {
  const size_t planned = batch.ops.size();
  for (size_t k = 0; k < planned; ++k) {
    auto* create = std::get_if<store::CreateRunOp>(&batch.ops[k]);
    if (!create) continue;
    const RunRecord& run = create->run;
    // Runs whose creation the store may still refuse (an idempotency key), delay, merge or skip
    // (flow control), or whose start waits for a concurrency slot or its due time, are not walked
    // before they exist.
    if (run.concurrency_limit > 0 || !run.idempotency_key.empty() ||
        run.status != RunStatus::kQueued || create->HasFlowControl() ||
        (run.due_at && *run.due_at > now)) {
      continue;
    }
    std::shared_ptr<const Program> program = ProgramFor(run.flow_id, run.revision);
    if (!program) continue;
    // The record moves into the walker and back, so that it is never copied.
    const std::optional<TimePoint> planned_due = run.due_at;
    RunRecord leased = std::move(create->run);
    leased.lease_owner = options_.node_id;
    leased.lease_token = store::kFirstLeaseToken;
    leased.lease_until = now + options_.lease + options_.default_attempt_timeout;
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
      std::get<store::CreateRunOp>(batch.ops[k]).run = std::move(back);
      continue;
    }
    // The run is created in this batch: its lease needs no check, and its state after the walk
    // goes straight into the row that the CreateRunOp inserts.
    for (store::WriteOp& op : walked.ops) {
      if (const auto* lease = std::get_if<store::RequireLeaseOp>(&op);
          lease && lease->run_id == back.id) {
        continue;
      }
      if (auto* update = std::get_if<store::UpdateRunOp>(&op);
          update && update->run_id == back.id) {
        back.status = update->status;
        back.due_at = update->due_at;
        back.output = std::move(update->output);
        back.error = std::move(update->error);
        back.ended_at = update->ended_at;
        if (update->release_lease) {
          back.lease_owner.clear();
          back.lease_until.reset();
        }
        continue;
      }
      batch.ops.push_back(std::move(op));
    }
    const std::string run_id = back.id, flow_id = back.flow_id;
    // Re-fetched: appending above may have moved the ops.
    std::get<store::CreateRunOp>(batch.ops[k]).run = std::move(back);
    walks.push_back(InlineWalk{batch_index, run_id, flow_id, std::move(result)});
  }
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
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitWithFailpoints(std::move(batches)));
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
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitWithFailpoints(std::move(batches)));
  BatchResult& result = results.front();
  RETURN_IF_ERROR(result.status);
  RETURN_IF_ERROR(MatchEvents(result.events_to_match));
  if (!result.cron_tick_claimed || result.created_runs.empty()) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(run_id);
}

StatusOr<std::optional<TimePoint>> Engine::LastCronTick(std::string_view flow_id) {
  return store_.LastCronTick(flow_id);
}

StatusOr<bool> Engine::WaitMatches(const WaitRecord& wait, const EventRecord& event) {
  if (event.name != wait.event_name) return false;
  const Json& trigger = wait.context.contains("event") ? wait.context["event"] : Json();
  if (trigger.is_object() && trigger.value("id", "") == event.id) return false;
  bool in_window =
      event.seq > wait.since_seq || (wait.lookback_from && event.ts >= *wait.lookback_from);
  if (!in_window) return false;
  Json candidate = event.ToJson();
  if (!wait.match_path.empty()) {
    return CanonicalKey(ExtractPath(candidate, SplitJsonPath(wait.match_path))) == wait.match_key;
  }
  std::shared_ptr<const Program> program = ProgramFor(wait.flow_id, wait.revision);
  if (!program) return false;
  const expr::Expression* condition = nullptr;
  if (wait.kind == WaitRecord::Kind::kCancel) {
    size_t index = std::stoul(wait.step_id.empty() ? "0" : wait.step_id);
    if (index >= program->cancel_on.size()) return false;
    if (program->cancel_on[index].condition) condition = &*program->cancel_on[index].condition;
  } else {
    const CompiledStep* step = FindStep(*program, wait.step_id);
    if (!step) return false;
    if (step->wait_condition) condition = &*step->wait_condition;
  }
  if (!condition) return true;
  Json scope = wait.context;
  scope["async"] = std::move(candidate);
  expr::EvalContext context;
  context.scope = &scope;
  TimePoint now = clock_.Now();
  context.now = [now] { return now; };
  context.uuid = [] { return RandomUuid(); };
  auto matches = condition->EvaluateCondition(context);
  if (!matches.ok()) return false;  // a condition that cannot be evaluated matches nothing
  return *matches;
}

StatusOr<std::vector<WaitRecord>> Engine::MatchingWaits(const EventRecord& event) {
  std::vector<WaitRecord> candidates;
  ASSIGN_OR_RETURN(std::vector<std::string> paths, store_.WaitPaths(event.name));
  const Json candidate = event.ToJson();
  for (const std::string& path : paths) {
    std::string key = CanonicalKey(ExtractPath(candidate, SplitJsonPath(path)));
    ASSIGN_OR_RETURN(std::vector<WaitRecord> found,
                     store_.FindIndexedWaits(event.name, path, key, options_.scan_limit));
    for (WaitRecord& w : found) candidates.push_back(std::move(w));
  }
  ASSIGN_OR_RETURN(std::vector<WaitRecord> scanned,
                   store_.ScanWaits(event.name, options_.scan_limit));
  for (WaitRecord& w : scanned) candidates.push_back(std::move(w));
  std::vector<WaitRecord> matching;
  for (WaitRecord& wait : candidates) {
    ASSIGN_OR_RETURN(bool matches, WaitMatches(wait, event));
    if (matches) matching.push_back(std::move(wait));
  }
  return matching;
}

Status Engine::MatchEvents(const std::vector<EventRecord>& events, MarkMatched mark) {
  if (events.empty()) return OkStatus();
  WriteBatch batch;
  store::MarkMatchedOp marked;
  std::set<std::string> cancelled;  // runs whose cancel_on matched
  for (const EventRecord& event : events) {
    marked.event_ids.push_back(event.id);
    ASSIGN_OR_RETURN(std::vector<WaitRecord> matching, MatchingWaits(event));
    for (const WaitRecord& wait : matching) {
      batch.Add(store::ResolveWaitOp{wait.id, event.ToJson()});
      if (wait.kind == WaitRecord::Kind::kCancel) cancelled.insert(wait.run_id);
    }
  }
  if (batch.empty() && mark == MarkMatched::kWithNextCommit) {
    // Nothing to resolve (IngestEvents resolved what these events matched before committing
    // them): the marks need not hold anyone up, so they ride along with a later commit. Until
    // then the events stay unmatched, and Recover would match them again, which changes nothing.
    std::lock_guard lock(deferred_mu_);
    for (std::string& id : marked.event_ids) deferred_marks_.push_back(std::move(id));
    if (deferred_marks_.size() < kMaxDeferredMarks) return OkStatus();
    marked.event_ids = std::move(deferred_marks_);
    deferred_marks_.clear();
  }
  batch.Add(std::move(marked));
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitWithFailpoints(std::move(batches)));
  if (results.front().status.ok()) MarkCancelled(cancelled);
  return results.front().status;
}

Status Engine::ScanWaits(const std::vector<WaitRecord>& waits) {
  if (waits.empty()) return OkStatus();
  WriteBatch batch;
  store::MarkMatchedOp marked;
  std::set<std::string> cancelled;  // runs whose cancel_on matched
  for (const WaitRecord& registered : waits) {
    // The stored row carries since_seq as the store resolved it.
    ASSIGN_OR_RETURN(std::vector<WaitRecord> rows, store_.WaitsOfRun(registered.run_id));
    auto row = std::find_if(rows.begin(), rows.end(),
                            [&](const WaitRecord& w) { return w.id == registered.id; });
    if (row == rows.end()) continue;  // already resolved
    const WaitRecord& wait = *row;
    marked.wait_ids.push_back(wait.id);
    store::EventFilter filter;
    filter.name = wait.event_name;
    filter.after_seq = wait.since_seq;
    filter.stored_since = wait.lookback_from;
    filter.limit = options_.scan_limit;
    ASSIGN_OR_RETURN(std::vector<EventRecord> events, store_.ListEvents(filter));
    for (const EventRecord& event : events) {
      ASSIGN_OR_RETURN(bool matches, WaitMatches(wait, event));
      if (matches) {
        batch.Add(store::ResolveWaitOp{wait.id, event.ToJson()});
        if (wait.kind == WaitRecord::Kind::kCancel) cancelled.insert(wait.run_id);
        break;
      }
    }
  }
  batch.Add(std::move(marked));
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitWithFailpoints(std::move(batches)));
  if (results.front().status.ok()) MarkCancelled(cancelled);
  return results.front().status;
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
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitWithFailpoints(std::move(batches)));
  std::vector<EventRecord> to_match;
  for (BatchResult& result : results) {
    RETURN_IF_ERROR(result.status);
    for (EventRecord& e : result.events_to_match) to_match.push_back(std::move(e));
  }
  if (none_left) scheduled_check_.FoundNone(query);
  return MatchEvents(to_match);
}

StatusOr<int> Engine::AdvanceReadyRuns(int max) {
  if (crashed_) return AbortedError("crashed at failpoint after_action");
  const TimePoint claim_time = clock_.Now();
  if (claiming_) RETURN_IF_ERROR(ReleaseDueEvents(claim_time));
  // Runs whose actions came back go first: their results are waiting to be made durable.
  std::vector<std::unique_ptr<RunWalker>> active = TakeCompletedRuns(max);
  // Each new run may start an action or more: claim no more runs than actions may still start.
  const int room = std::min(max - static_cast<int>(active.size()),
                            options_.max_inflight_actions - inflight_.actions_in_flight());
  if (room > 0 && claiming_) {
    ASSIGN_OR_RETURN(std::vector<RunRecord> claimed, ClaimDueRuns(room, claim_time));
    RETURN_IF_ERROR(BuildWalkers(std::move(claimed), active));
  }
  int advanced = 0;
  // Actions that finish at once (an outbox write, an argument error) bring their run straight
  // back: it goes on in this call, its result committing with the next batch.
  for (int round = 0; !active.empty() && round < kMaxRoundsPerAdvance; ++round) {
    advanced += static_cast<int>(active.size());
    ASSIGN_OR_RETURN(std::vector<WalkedRun> walked, WalkAndCommit(std::move(active)));
    RETURN_IF_ERROR(StartActions(std::move(walked)));
    active = TakeCompletedRuns(max);
  }
  // Runs taken back but not walked within the round limit wait for the next call.
  for (auto& walker : active) ParkReady(std::move(walker));
  return advanced;
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
  std::vector<RunRecord> claimed = TakeFreshRuns(max, now);
  // Runs due in the store are claimed whenever fresh runs leave room in the batch, and otherwise
  // every few calls or milliseconds, so that a steady stream of fresh runs does not hold back
  // woken sleepers and waits.
  const bool memory_filled_batch = static_cast<int>(claimed.size()) >= max;
  if (!store_claims_.ShouldClaim(memory_filled_batch, now)) return claimed;
  const int from_store = std::max(max - static_cast<int>(claimed.size()), std::max(1, max / 8));
  ASSIGN_OR_RETURN(std::vector<RunRecord> due,
                   store_.ClaimRuns(options_.node_id, now, from_store,
                                    options_.lease + options_.default_attempt_timeout));
  for (RunRecord& run : due) claimed.push_back(std::move(run));
  return claimed;
}

Status Engine::BuildWalkers(std::vector<RunRecord> claimed,
                            std::vector<std::unique_ptr<RunWalker>>& walkers) {
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
    if (run.status != RunStatus::kQueued) {
      ASSIGN_OR_RETURN(journal, store_.LoadJournal(run.id));
    }
    walkers.push_back(std::make_unique<RunWalker>(std::move(program), std::move(run), journal, env_,
                                                  options_.node_id));
  }
  if (!orphans.empty()) {
    ASSIGN_OR_RETURN(auto ignored, CommitWithFailpoints(std::move(orphans)));
    (void)ignored;
  }
  return OkStatus();
}

StatusOr<std::vector<Engine::WalkedRun>> Engine::WalkAndCommit(
    std::vector<std::unique_ptr<RunWalker>> walkers) {
  const TimePoint now = clock_.Now();
  std::vector<WalkResult> walks;
  std::vector<WriteBatch> batches;
  walks.reserve(walkers.size());
  batches.reserve(walkers.size());
  for (auto& walker : walkers) {
    walks.push_back(walker->Walk(now));
    batches.push_back(walker->TakeBatch());
  }
  StatusOr<std::vector<BatchResult>> committed = CommitWithFailpoints(std::move(batches));
  if (!committed.ok()) {
    // Nothing of these walks is durable: the runs resume from the store once their leases end.
    for (auto& walker : walkers) inflight_.Forget(walker->run().id);
    return committed.status();
  }
  std::vector<BatchResult>& results = *committed;
  std::vector<EventRecord> to_match;
  std::vector<WaitRecord> to_scan;
  std::vector<WalkedRun> walked;
  Status first_error;
  for (size_t i = 0; i < walkers.size(); ++i) {
    BatchResult& result = results[i];
    const std::string run_id = walkers[i]->run().id;
    if (!result.status.ok()) {
      // kAborted: the lease was lost, and the run belongs to another worker or node now.
      inflight_.Forget(run_id);
      if (result.status.code() != StatusCode::kAborted && first_error.ok()) {
        first_error = result.status;
      }
      continue;
    }
    for (EventRecord& e : result.events_to_match) to_match.push_back(std::move(e));
    if (!walkers[i]->Confirm(result)) {
      // An event resolved a wait this walk timed out: rebuild from the stored journal. Actions
      // still in flight come back to the new walker (the entry is kept).
      ASSIGN_OR_RETURN(std::vector<store::JournalEntry> journal, store_.LoadJournal(run_id));
      RunRecord run = walkers[i]->run();
      run.status = RunStatus::kRunning;
      auto program = ProgramFor(run.flow_id, run.revision);
      auto rebuilt = std::make_unique<RunWalker>(std::move(program), std::move(run), journal, env_,
                                                 options_.node_id);
      for (const std::string& key : walkers[i]->in_flight()) rebuilt->MarkInFlight(key);
      ParkReady(std::move(rebuilt));
      continue;
    }
    WalkResult& walk = walks[i];
    if (walk.state != WalkResult::State::kSuspended) {
      if (options_.on_run_finished) {
        options_.on_run_finished(walkers[i]->run().flow_id, walk.status);
      }
      inflight_.Forget(run_id);  // results of actions still out no longer matter
      continue;
    }
    for (WaitRecord& w : walk.new_waits) to_scan.push_back(std::move(w));
    if (walk.actions.empty() && !walkers[i]->has_actions_in_flight()) {
      inflight_.Forget(run_id);  // asleep, waiting or queued: its row in the store says when
      continue;
    }
    walked.push_back({std::move(walkers[i]), std::move(walk.actions)});
  }
  Status status = first_error;
  if (status.ok()) status = MatchEvents(to_match);
  if (status.ok()) status = ScanWaits(to_scan);
  if (!status.ok()) {
    // Their progress is durable, but their actions will not start now: the runs resume from the
    // store once their leases end.
    for (WalkedRun& run : walked) inflight_.Forget(run.walker->run().id);
    return status;
  }
  return walked;
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
      std::move(request), [this, liveness = liveness_, action = std::move(action), began](
                              ActionRequest done, StatusOr<Json> result) mutable {
        std::shared_lock alive(liveness->mu);
        if (!liveness->alive) return;
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
      });
}

std::shared_ptr<const Program> Engine::ProgramFor(std::string_view flow_id,
                                                  std::string_view revision) {
  if (auto program = catalog_.Find(flow_id, revision)) return program;
  std::lock_guard lock(recovered_mu_);
  auto key = std::make_pair(std::string(flow_id), std::string(revision));
  auto it = recovered_.find(key);
  if (it != recovered_.end()) return it->second;
  auto stored = store_.GetFlowRevision(flow_id, revision);
  if (!stored.ok() || !stored->has_value()) return nullptr;
  // JSON is YAML, so the stored document goes through the same loader and compiler as a file.
  const std::string origin = "store:" + key.first + "@" + key.second;
  CompiledFlow compiled = CompileFlow(LoadYaml(origin, (*stored)->document.dump()));
  auto report = [&](const std::string& message) {
    if (options_.log)
      options_.log("", "", "flow " + key.first + " revision " + key.second + ": " + message);
  };
  if (!compiled.program) {
    std::string errors;
    for (const Diagnostic& d : compiled.diagnostics)
      errors += (errors.empty() ? "" : "; ") + d.message;
    report("the stored revision does not compile: " + errors);
    return nullptr;
  }
  if (compiled.program->flow_id != key.first || compiled.program->revision != key.second) {
    report("the stored document compiles to revision " + compiled.program->revision);
    return nullptr;
  }
  recovered_.emplace(key, compiled.program);
  return compiled.program;
}

Status Engine::Recover() {
  // Events scheduled before a restart, or by another node, may be waiting.
  scheduled_check_.MayExist();
  RETURN_IF_ERROR(store_.ReleaseLeases(options_.node_id));
  ASSIGN_OR_RETURN(auto revisions, store_.ActiveRevisions());
  for (const auto& [flow_id, revision] : revisions) (void)ProgramFor(flow_id, revision);
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<EventRecord> events, store_.UnmatchedEvents(options_.scan_limit));
    if (events.empty()) break;
    // Marked now: the next round reads the events still unmatched.
    RETURN_IF_ERROR(MatchEvents(events, MarkMatched::kNow));
  }
  for (;;) {
    ASSIGN_OR_RETURN(std::vector<WaitRecord> waits, store_.UnscannedWaits(options_.scan_limit));
    if (waits.empty()) break;
    RETURN_IF_ERROR(ScanWaits(waits));
  }
  return OkStatus();
}

Status Engine::ReleaseLeases() {
  // Results that come back after this are not recorded: the runs resume from their journals.
  (void)inflight_.ForgetAll();
  {
    std::lock_guard lock(fresh_mu_);
    fresh_reserved_ -= static_cast<int>(fresh_.size());
    fresh_.clear();
  }
  return store_.ReleaseLeases(options_.node_id);
}

Status Engine::CancelRun(std::string_view run_id) {
  ASSIGN_OR_RETURN(std::optional<RunRecord> run, store_.GetRun(run_id));
  if (!run) return NotFoundError("no run \"" + std::string(run_id) + "\"");
  if (store::IsTerminal(run->status)) {
    return FailedPreconditionError("run " + run->id + " has already " +
                                   std::string(store::RunStatusName(run->status)));
  }
  WriteBatch batch;
  batch.Add(store::RequestCancelOp{run->id});
  std::vector<WriteBatch> batches;
  batches.push_back(std::move(batch));
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitWithFailpoints(std::move(batches)));
  if (results.front().status.ok()) MarkCancelled({run->id});
  return results.front().status;
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
  // The ids of every step (nested ones included) that the new run takes over as recorded.
  std::set<std::string> kept;
  if (from_step) {
    auto start = std::find_if(program->steps.begin(), program->steps.end(),
                              [&](const CompiledStep& step) { return step.id == *from_step; });
    if (start == program->steps.end()) {
      return InvalidArgumentError("flow " + program->flow_id + " has no top-level step \"" +
                                  *from_step + "\" to rerun from");
    }
    for (auto step = program->steps.begin(); step != start; ++step) CollectStepIds(*step, kept);
  }
  std::vector<store::JournalEntry> copied;
  if (!kept.empty()) {
    ASSIGN_OR_RETURN(std::vector<store::JournalEntry> journal, store_.LoadJournal(original->id));
    for (store::JournalEntry& entry : journal) {
      if (entry.kind != store::JournalKind::kCompleted &&
          entry.kind != store::JournalKind::kNondet) {
        continue;
      }
      if (!kept.count(entry.step_key.substr(0, entry.step_key.find('[')))) continue;
      copied.push_back(std::move(entry));
    }
  }

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
  ASSIGN_OR_RETURN(std::vector<BatchResult> results, CommitWithFailpoints(std::move(batches)));
  RETURN_IF_ERROR(results.front().status);
  if (results.front().created_runs.empty()) {
    return AbortedError("run " + new_id + " could not be created");
  }
  return new_id;
}

Status Engine::PublishRevision(const Program& program) {
  WriteBatch batch;
  batch.Add(store::PutFlowRevisionOp{store::FlowRevisionRecord{program.flow_id, program.revision,
                                                               program.document, clock_.Now()}});
  ASSIGN_OR_RETURN(BatchResult result, store_.Commit(std::move(batch)));
  return result.status;
}

StatusOr<std::optional<RunRecord>> Engine::GetRun(std::string_view run_id) {
  return store_.GetRun(run_id);
}

StatusOr<std::vector<RunRecord>> Engine::ListRuns(const store::RunFilter& filter) {
  return store_.ListRuns(filter);
}

StatusOr<std::vector<store::JournalEntry>> Engine::GetJournal(std::string_view run_id) {
  return store_.LoadJournal(run_id);
}

StatusOr<std::optional<TimePoint>> Engine::NextDueTime() {
  if (inflight_.has_ready()) return std::optional<TimePoint>(clock_.Now());
  // Runs held in memory wait, like those in the store, while no more actions may start; a
  // returning action wakes a worker (on_work_ready).
  if (claiming_ && inflight_.actions_in_flight() < options_.max_inflight_actions) {
    std::lock_guard lock(fresh_mu_);
    if (!fresh_.empty()) return std::optional<TimePoint>(clock_.Now());
  }
  return store_.NextDueTime();
}

}  // namespace flowrun
