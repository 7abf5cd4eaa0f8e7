#include "engine/run_walker.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "common/deterministic_id.h"
#include "common/json_path.h"
#include "common/secret_redactor.h"
#include "engine/flow_control_plan.h"
#include "engine/lease_term.h"
#include "engine/retry_policy.h"
#include "engine/step_key.h"
#include "engine/step_values.h"

namespace flowrun {

using store::JournalKind;
using store::RunStatus;

RunWalker::RunWalker(std::shared_ptr<const Program> program, store::RunRecord run,
                     const std::vector<store::JournalEntry>& journal, const WalkEnvironment& env,
                     std::string lease_owner)
    : program_(std::move(program)),
      run_(std::move(run)),
      env_(env),
      lease_owner_(std::move(lease_owner)),
      journal_(journal) {}

void RunWalker::Append(const std::string& key, JournalKind kind, Json data) {
  journal_.Record(key, kind, data);
  if (kind == JournalKind::kCompleted) completed_in_batch_ = true;
  batch_.Add(store::AppendJournalOp{store::JournalEntry{
      .run_id = run_.id, .step_key = key, .kind = kind, .data = std::move(data), .at = now_}});
}

store::WriteBatch RunWalker::TakeBatch() {
  store::WriteBatch batch;
  batch.Add(store::RequireLeaseOp{run_.id, lease_owner_, run_.lease_token});
  for (auto& op : batch_.ops) batch.ops.push_back(std::move(op));
  batch_.ops.clear();
  completed_in_batch_ = false;
  return batch;
}

bool RunWalker::BatchRestatesTakenRun() const {
  if (!just_taken_ || walks_ != 1 || batch_.ops.size() != 1) return false;
  const auto* update = std::get_if<store::UpdateRunOp>(&batch_.ops.front());
  return update && update->status == RunStatus::kRunning && !update->release_lease &&
         !update->lease_until && !update->ended_at && update->output.is_null() &&
         update->error.is_null() && run_.lease_until && update->due_at == run_.lease_until;
}

bool RunWalker::Confirm(const store::BatchResult& result) const {
  for (const std::string& wait_id : expected_resolutions_) {
    if (std::find(result.resolved_waits.begin(), result.resolved_waits.end(), wait_id) ==
        result.resolved_waits.end()) {
      return false;
    }
  }
  return true;
}

expr::EvalContext RunWalker::Context(const std::string& key) {
  expr::EvalContext context;
  context.scope = &scope_;
  auto next = [this, key](const char* field, auto generate) -> Json {
    if (std::optional<Json> recorded = journal_.NextNondet(key, field)) return *recorded;
    Json value = generate();
    Json record = Json{{field, value}};
    journal_.RecordNondet(key, record);
    batch_.Add(store::AppendJournalOp{store::JournalEntry{.run_id = run_.id,
                                                          .step_key = key,
                                                          .kind = JournalKind::kNondet,
                                                          .data = record,
                                                          .at = now_}});
    return value;
  };
  context.now = [this, next]() {
    return FromUnixMillis(next("now", [this] { return Json(ToUnixMillis(now_)); }).get<int64_t>());
  };
  context.uuid = [next]() {
    return next("uuid", [] { return Json(RandomUuid()); }).get<std::string>();
  };
  return context;
}

Json RunWalker::ExpressionError(const CompiledStep& step, std::string_view field,
                                const expr::Expression* expression, const Status& status) const {
  std::string message = "step \"" + step.id + "\": " + std::string(field);
  if (expression) message += " expression `" + expression->source() + "`";
  message += ": " + status.message();
  return Json{
      {"message", message}, {"code", "INVALID_ARGUMENT"}, {"step", step.id}, {"retryable", false}};
}

StatusOr<Json> RunWalker::Render(const CompiledStep& step, const std::string& key) {
  if (!step.arguments) return step.raw_arguments;
  scope_["run"]["step_key"] = key;
  expr::EvalContext context = Context(key);
  auto rendered = step.arguments->Render(context);
  scope_["run"].erase("step_key");
  return rendered;
}

void RunWalker::ReplayStepScope(const CompiledStep& step, const Json& record) {
  auto from = last_walk_replayed_.find(step.id);
  if (from != last_walk_replayed_.end() && from->second == &record) {
    last_walk_replayed_.erase(from);
    if (auto kept = last_walk_steps_.find(step.id); kept != last_walk_steps_.end()) {
      scope_["steps"][step.id] = std::move(*kept);
      replayed_[step.id] = &record;
      return;
    }
  }
  SetStepScope(step, record);
  replayed_[step.id] = &record;
}

void RunWalker::SetStepScope(const CompiledStep& step, const Json& record) {
  replayed_.erase(step.id);
  Json& entry = scope_["steps"][step.id];
  entry = Json::object();
  // Each field is copied once, straight from the record into the scope.
  auto set = [&record, &entry](const char* name, auto fallback) {
    auto it = record.find(name);
    if (it == record.end()) {
      entry[name] = fallback;
    } else {
      entry[name] = *it;
    }
  };
  set("output", nullptr);
  set("status", "completed");
  set("error", nullptr);
  set("attempts", 0);
}

RunWalker::Outcome RunWalker::Complete(const CompiledStep& step, const std::string& key,
                                       Json output, std::string_view outcome, Json input,
                                       Json extra) {
  Json record = Json::object();
  record["status"] = "completed";
  record["outcome"] = outcome;
  // The run sees the redacted value too (a returned output is the run's stored output).
  record["output"] = env_.redactor.RedactJson(std::move(output));
  if (extra.is_object()) record.update(extra);
  record["attempts"] = static_cast<int>(journal_.attempt_count(key)) + 1;
  if (!input.is_null()) record["input"] = env_.redactor.RedactJson(std::move(input));
  SetStepScope(step, record);
  Append(key, JournalKind::kCompleted, std::move(record));
  // The output as the walker's journal now holds it; copied only where it is used.
  const Json& kept = journal_.completed(key)->at("output");
  if (outcome == "returned") return {Outcome::Kind::kReturned, kept};
  return {Outcome::Kind::kNext, nullptr, &kept};
}

RunWalker::Outcome RunWalker::Suspend(std::optional<TimePoint> due, RunStatus status) {
  if (due && (!earliest_due_ || *due < *earliest_due_)) earliest_due_ = due;
  if (status == RunStatus::kWaiting) has_wait_ = true;
  if (status == RunStatus::kSleeping) has_sleep_ = true;
  return {Outcome::Kind::kSuspended, nullptr};
}

RunWalker::Outcome RunWalker::FailStep(const CompiledStep& step, const std::string& key,
                                       Frame& frame, Json error, int attempts) {
  switch (step.on_error.mode) {
    case OnError::Mode::kFail: {
      Json record = Json{{"status", "failed"},
                         {"outcome", "failed"},
                         {"output", nullptr},
                         {"error", error},
                         {"attempts", attempts}};
      SetStepScope(step, record);
      Append(key, JournalKind::kCompleted, std::move(record));
      return {Outcome::Kind::kFailed, std::move(error)};
    }
    case OnError::Mode::kContinue: {
      Json record = Json{{"status", "failed"},
                         {"outcome", "next"},
                         {"output", nullptr},
                         {"error", error},
                         {"attempts", attempts}};
      SetStepScope(step, record);
      Append(key, JournalKind::kCompleted, std::move(record));
      return {Outcome::Kind::kNext, nullptr};
    }
    case OnError::Mode::kHandler: {
      Json saved = scope_.value("error", Json());
      scope_["error"] = error;
      Outcome handled = WalkList(step.on_error.handler, frame);
      if (saved.is_null()) {
        scope_.erase("error");
      } else {
        scope_["error"] = saved;
      }
      if (handled.kind != Outcome::Kind::kNext) return handled;
      // The step itself still failed: it keeps its error and has no output. The handler steps
      // carry their own outputs, and the run goes on after the handled step.
      Json record = Json{{"status", "failed"}, {"outcome", "next"},    {"output", nullptr},
                         {"error", error},     {"attempts", attempts}, {"handled", true}};
      SetStepScope(step, record);
      Append(key, JournalKind::kCompleted, std::move(record));
      return {Outcome::Kind::kNext, nullptr};
    }
  }
  return {Outcome::Kind::kFailed, std::move(error)};
}

RunWalker::Outcome RunWalker::Replay(const CompiledStep& step, const std::string& key,
                                     const Json& record) {
  ReplayStepScope(step, record);
  std::string outcome = record.value("outcome", "next");
  if (step.kind == StepKind::kSet && record.value("status", "") == "completed" &&
      record["output"].is_object()) {
    for (const auto& [name, value] : record["output"].items()) scope_["vars"][name] = value;
    if (record.value("redacted", false)) RestoreSetVars(step, key, record["output"]);
  }
  if (outcome == "returned") return {Outcome::Kind::kReturned, record.value("output", Json())};
  if (outcome == "failed") return {Outcome::Kind::kFailed, record.value("error", Json())};
  auto output = record.find("output");
  if (output == record.end()) return {Outcome::Kind::kNext, nullptr};
  return {Outcome::Kind::kNext, nullptr, &*output};
}

void RunWalker::RestoreSetVars(const CompiledStep& step, const std::string& key,
                               const Json& journaled) {
  // Rendering again over the replayed scope, with now() and uuid() replayed from the journal,
  // gives the values the step set. They are used only when they redact to what was journaled:
  // a secret that has since changed leaves the redacted copy in place rather than a new value.
  auto values = Render(step, key);
  if (!values.ok() || !values->is_object()) return;
  if (env_.redactor.RedactJson(*values) != journaled) return;
  for (const auto& [name, value] : values->items()) scope_["vars"][name] = value;
}

void RunWalker::ReplayHandler(const CompiledStep& step, const Json& record, Frame& frame) {
  Json saved = scope_.value("error", Json());
  scope_["error"] = record.value("error", Json());
  (void)WalkList(step.on_error.handler, frame);
  if (saved.is_null()) {
    scope_.erase("error");
  } else {
    scope_["error"] = saved;
  }
}

RunWalker::Outcome RunWalker::WalkList(const StepList& steps, Frame& frame) {
  Json last;
  const Json* last_borrowed = nullptr;
  for (const CompiledStep& step : steps) {
    Outcome outcome = WalkStep(step, frame);
    if (outcome.kind != Outcome::Kind::kNext) return outcome;
    last_borrowed = outcome.borrowed;
    if (!last_borrowed) last = std::move(outcome.value);
  }
  if (last_borrowed) return {Outcome::Kind::kNext, *last_borrowed};
  return {Outcome::Kind::kNext, std::move(last)};
}

RunWalker::Outcome RunWalker::WalkStep(const CompiledStep& step, Frame& frame) {
  const std::string key = StepKey(step.id, frame.indices);
  if (const Json* done = journal_.completed(key)) {
    const Json& record = *done;
    // Control steps are walked again so that what their children set is restored into scope.
    if (IsControl(step.kind) && record.value("status", "") != "skipped") {
      (void)WalkControl(step, key, frame);
    }
    // A failure handled by on_error steps: what the handler set is restored too.
    if (record.value("handled", false) && step.on_error.mode == OnError::Mode::kHandler) {
      ReplayHandler(step, record, frame);
    }
    return Replay(step, key, record);
  }
  // A step boundary: cancellation and the flow timeout take effect here, never inside a step.
  if (run_.cancel_requested) {
    return {Outcome::Kind::kCancelled, Json{{"message", "cancelled"}, {"code", "CANCELLED"}}};
  }
  if (run_.deadline && now_ >= *run_.deadline) {
    return {Outcome::Kind::kCancelled,
            Json{{"message", "the run exceeded its timeout"}, {"code", "DEADLINE_EXCEEDED"}}};
  }
  if (step.condition && !journal_.reached(key)) {
    auto condition = step.condition->EvaluateCondition(Context(key));
    if (!condition.ok()) {
      return FailStep(step, key, frame,
                      ExpressionError(step, "if", &*step.condition, condition.status()), 1);
    }
    if (!*condition) {
      Json record =
          Json{{"status", "skipped"}, {"outcome", "next"}, {"output", nullptr}, {"attempts", 0}};
      SetStepScope(step, record);
      Append(key, JournalKind::kCompleted, std::move(record));
      return {Outcome::Kind::kNext, nullptr};
    }
  }
  if (!IsControl(step.kind)) return WalkAction(step, key, frame);
  Outcome outcome = WalkControl(step, key, frame);
  switch (outcome.kind) {
    case Outcome::Kind::kNext:
      return Complete(step, key, std::move(outcome.value));
    case Outcome::Kind::kFailed:
      return FailStep(step, key, frame, outcome.value, 1);
    default:
      return outcome;
  }
}

RunWalker::Outcome RunWalker::WalkControl(const CompiledStep& step, const std::string& key,
                                          Frame& frame) {
  switch (step.kind) {
    case StepKind::kBlock:
      return WalkList(step.body, frame);
    case StepKind::kSwitch: {
      for (const SwitchCase& c : step.cases) {
        auto chosen = c.when.EvaluateCondition(Context(key));
        if (!chosen.ok()) {
          return {Outcome::Kind::kFailed, ExpressionError(step, "when", &c.when, chosen.status())};
        }
        if (*chosen) return WalkList(c.steps, frame);
      }
      return WalkList(step.default_steps, frame);
    }
    case StepKind::kParallel: {
      size_t actions_before = actions_.size();
      Json outputs = Json::object();
      std::optional<Outcome> first_stop;
      bool suspended = false;
      for (const auto& [name, steps] : step.branches) {
        Outcome branch = WalkList(steps, frame);
        if (branch.kind == Outcome::Kind::kNext) {
          outputs[name] = branch.value;
        } else if (branch.kind == Outcome::Kind::kSuspended) {
          suspended = true;
        } else if (!first_stop) {
          first_stop = branch;
        }
      }
      if (first_stop) {
        actions_.resize(actions_before);
        return *first_stop;
      }
      if (suspended) return {Outcome::Kind::kSuspended, nullptr};
      return {Outcome::Kind::kNext, outputs};
    }
    case StepKind::kForeach: {
      if (!step.items) return {Outcome::Kind::kNext, Json::array()};
      auto items = step.items->Evaluate(Context(key));
      if (!items.ok()) {
        return {Outcome::Kind::kFailed,
                ExpressionError(step, "items", &*step.items, items.status())};
      }
      if (!items->is_array()) {
        return {Outcome::Kind::kFailed,
                ExpressionError(step, "items", &*step.items,
                                InvalidArgumentError("expected a list, got " +
                                                     std::string(items->type_name())))};
      }
      const int limit = std::max(1, step.concurrency);
      size_t actions_before = actions_.size();
      Json outputs = Json::array();
      int in_flight = 0;
      bool suspended = false;
      Json saved = scope_.value(step.loop_variable, Json());
      bool had = scope_.contains(step.loop_variable);
      std::optional<Outcome> stop;
      for (size_t i = 0; i < items->size(); ++i) {
        if (in_flight >= limit) {
          suspended = true;
          break;
        }
        scope_[step.loop_variable] = (*items)[i];
        frame.indices.push_back(static_cast<int>(i));
        Outcome iteration = WalkList(step.body, frame);
        frame.indices.pop_back();
        if (iteration.kind == Outcome::Kind::kNext) {
          outputs.push_back(iteration.value);
        } else if (iteration.kind == Outcome::Kind::kSuspended) {
          suspended = true;
          ++in_flight;
          outputs.push_back(nullptr);
        } else {
          stop = iteration;
          break;
        }
      }
      if (had) {
        scope_[step.loop_variable] = saved;
      } else {
        scope_.erase(step.loop_variable);
      }
      if (stop) {
        actions_.resize(actions_before);
        return *stop;
      }
      if (suspended) return {Outcome::Kind::kSuspended, nullptr};
      return {Outcome::Kind::kNext, outputs};
    }
    case StepKind::kAction:
    case StepKind::kWaitForEvent:
    case StepKind::kSleep:
    case StepKind::kSleepUntil:
    case StepKind::kSendEvent:
    case StepKind::kInvoke:
    case StepKind::kSet:
    case StepKind::kLog:
    case StepKind::kFail:
    case StepKind::kReturn:
      break;  // leaves: WalkAction
  }
  return {Outcome::Kind::kNext, nullptr};
}

RunWalker::Outcome RunWalker::WalkAction(const CompiledStep& step, const std::string& key,
                                         Frame& frame) {
  switch (step.kind) {
    case StepKind::kSet:
      return RunSet(step, key, frame);
    case StepKind::kLog:
      return RunLog(step, key, frame);
    case StepKind::kReturn:
      return RunReturn(step, key, frame);
    case StepKind::kFail:
      return RunFail(step, key, frame);
    case StepKind::kSleep:
    case StepKind::kSleepUntil:
      return RunSleep(step, key, frame);
    case StepKind::kWaitForEvent:
      return RunWait(step, key, frame);
    case StepKind::kSendEvent:
      return RunSendEvent(step, key, frame);
    case StepKind::kInvoke:
      return RunInvoke(step, key, frame);
    case StepKind::kAction:
      return RunExternal(step, key, frame);
    case StepKind::kSwitch:
    case StepKind::kParallel:
    case StepKind::kForeach:
    case StepKind::kBlock:
      break;  // control steps: WalkControl
  }
  return {Outcome::Kind::kNext, nullptr};
}

RunWalker::Outcome RunWalker::RunExternal(const CompiledStep& step, const std::string& key,
                                          Frame& frame) {
  // Out already, or held back until one of the run's actions in flight comes back.
  if (in_flight_.count(key) ||
      static_cast<int>(in_flight_.size() + actions_.size()) >= env_.max_actions_per_run) {
    return Suspend(std::nullopt, RunStatus::kRunning);
  }
  const std::vector<Json>& attempts = journal_.attempts(key);
  if (!attempts.empty()) {
    const Json& last = attempts.back();
    if (last.value("final", false)) {
      return FailStep(step, key, frame, last.value("error", Json()),
                      static_cast<int>(attempts.size()));
    }
    auto retry_at = TimeField(last, "retry_at");
    if (retry_at && now_ < *retry_at) return Suspend(retry_at, RunStatus::kRunning);
  }
  auto rendered = Render(step, key);
  if (!rendered.ok()) {
    return FailStep(step, key, frame,
                    ExpressionError(step, step.action, nullptr, rendered.status()),
                    static_cast<int>(attempts.size()) + 1);
  }
  PendingAction action;
  action.step_key = key;
  action.step = &step;
  action.arguments = std::move(*rendered);
  action.attempt = static_cast<int>(attempts.size()) + 1;
  action.deadline = now_ + (step.timeout ? *step.timeout : env_.default_attempt_timeout);
  action.policy = step.retry ? *step.retry : program_->retry;
  actions_.push_back(std::move(action));
  return Suspend(now_, RunStatus::kRunning);
}

Status RunWalker::CheckOutputSize(const Json& output) const {
  const size_t bytes = output.dump().size();
  if (static_cast<long long>(bytes) <= env_.max_step_output_bytes) return OkStatus();
  return OutOfRangeError("the step's output is " + std::to_string(bytes) +
                         " bytes of JSON, over limits.max_step_output_bytes (" +
                         std::to_string(env_.max_step_output_bytes) +
                         "); return less (select fewer columns or rows, or a smaller body)");
}

void RunWalker::RecordActionResult(PendingAction action, StatusOr<Json> result, TimePoint now) {
  now_ = now;
  const std::string& key = action.step_key;
  in_flight_.erase(key);
  if (result.ok()) {
    if (Status size = CheckOutputSize(*result); !size.ok()) result = std::move(size);
  }
  if (result.ok()) {
    // Built member by member: an initializer list would copy the output and the arguments.
    Json record = Json::object();
    record["status"] = "completed";
    record["outcome"] = "next";
    record["output"] = env_.redactor.RedactJson(std::move(*result));
    record["attempts"] = action.attempt;
    record["input"] = env_.redactor.RedactJson(std::move(action.arguments));
    if (action.started_at) record["started_at"] = ToUnixMillis(*action.started_at);
    Append(key, JournalKind::kCompleted, std::move(record));
    return;
  }
  const Status& status = result.status();
  Json error = StatusError(status, action.step->id);
  std::optional<Duration> delay;
  if (status.IsRetryable()) {
    std::optional<Duration> retry_after;
    if (status.retry_after_ms()) retry_after = Duration(*status.retry_after_ms());
    delay = NextRetryDelay(action.policy, action.attempt, env_.uniform ? env_.uniform() : 0.5,
                           retry_after);
  }
  Json record = Json{{"attempt", action.attempt}, {"error", error}};
  if (delay) {
    record["retry_at"] = ToUnixMillis(now + *delay);
  } else {
    record["final"] = true;
  }
  if (action.started_at) record["started_at"] = ToUnixMillis(*action.started_at);
  Append(key, JournalKind::kAttempt, std::move(record));
}

void RunWalker::Finish(WalkResult& result, RunStatus status, Json output, Json error) {
  result.status = status;
  run_.status = status;
  batch_.Add(store::UpdateRunOp{.run_id = run_.id,
                                .status = status,
                                .due_at = std::nullopt,
                                .output = output,
                                .error = error,
                                .ended_at = now_,
                                .release_lease = true});
  if (program_->registers_waits) batch_.Add(store::DeleteWaitsOp{run_.id});
  if (!run_.parent_run_id.empty()) {
    if (status == RunStatus::kCompleted) {
      batch_.Add(store::AppendJournalOp{store::JournalEntry{.run_id = run_.parent_run_id,
                                                            .step_key = run_.parent_step_key,
                                                            .kind = JournalKind::kCompleted,
                                                            .data = Json{{"status", "completed"},
                                                                         {"outcome", "next"},
                                                                         {"output", output},
                                                                         {"attempts", 1}},
                                                            .at = now_}});
    } else {
      Json child_error = error;
      if (!child_error.is_object()) child_error = Json::object();
      child_error["message"] = "invoked run " + run_.id + " " +
                               std::string(store::RunStatusName(status)) + ": " +
                               child_error.value("message", "");
      child_error["retryable"] = false;
      batch_.Add(store::AppendJournalOp{
          store::JournalEntry{.run_id = run_.parent_run_id,
                              .step_key = run_.parent_step_key,
                              .kind = JournalKind::kAttempt,
                              .data = Json{{"attempt", 1}, {"error", child_error}, {"final", true}},
                              .at = now_}});
    }
    batch_.Add(store::WakeRunOp{run_.parent_run_id});
  }
}

WalkResult RunWalker::Walk(TimePoint now) {
  now_ = now;
  ++walks_;
  if (scope_.is_object()) {
    // A later walk of this walker: `event`, `secrets` and `run` are as the first walk built them
    // (a walk restores what it shadows, and the run and the secrets do not change), so only what
    // the walk itself sets starts over. The steps' entries of the last walk are kept aside for
    // the walk: a replay of the same record moves its entry back (ReplayStepScope).
    last_walk_steps_ = std::exchange(scope_["steps"], Json::object());
    last_walk_replayed_.swap(replayed_);
    replayed_.clear();
    scope_["vars"] = Json::object();
    scope_.erase("error");
  } else {
    // Built member by member: an initializer list would copy every value twice.
    scope_ = Json::object();
    scope_["event"] = run_.event;
    if (!run_.events.is_null()) scope_["events"] = run_.events;  // a batched run
    scope_["steps"] = Json::object();
    scope_["vars"] = Json::object();
    scope_["secrets"] = env_.secrets;
    Json& run = scope_["run"];
    run["id"] = run_.id;
    run["flow"] = run_.flow_id;
    run["revision"] = run_.revision;
    run["started_at"] = FormatTimestamp(run_.created_at);
  }
  journal_.RewindNondet();
  actions_.clear();
  new_waits_.clear();
  expected_resolutions_.clear();
  earliest_due_.reset();
  has_wait_ = has_sleep_ = false;

  WalkResult result;
  Frame frame;
  Outcome outcome = WalkList(program_->steps, frame);
  if (outcome.kind == Outcome::Kind::kFailed && !program_->on_failure.empty()) {
    Json error = outcome.value;
    scope_["error"] = error;
    actions_.clear();
    Outcome handler = WalkList(program_->on_failure, frame);
    if (handler.kind == Outcome::Kind::kSuspended) {
      outcome = handler;
    } else if (handler.kind == Outcome::Kind::kCancelled) {
      outcome = handler;
    }
    // Otherwise the run has failed for good with the original error.
    if (outcome.kind == Outcome::Kind::kFailed) outcome.value = error;
  }
  // The last walk's entries that this walk did not move back are freed now, not held until the
  // next walk.
  last_walk_steps_ = nullptr;
  last_walk_replayed_.clear();
  // Cleared at the start of the next walk anyway: handed over rather than copied.
  result.new_waits = std::move(new_waits_);
  new_waits_.clear();
  switch (outcome.kind) {
    case Outcome::Kind::kNext:
      result.state = WalkResult::State::kCompleted;
      Finish(result, RunStatus::kCompleted, nullptr, nullptr);
      return result;
    case Outcome::Kind::kReturned:
      result.state = WalkResult::State::kCompleted;
      Finish(result, RunStatus::kCompleted, outcome.value, nullptr);
      return result;
    case Outcome::Kind::kFailed:
      result.state = WalkResult::State::kFailed;
      Finish(result, RunStatus::kFailed, nullptr, outcome.value);
      return result;
    case Outcome::Kind::kCancelled:
      result.state = WalkResult::State::kCancelled;
      actions_.clear();
      Finish(result, RunStatus::kCancelled, nullptr, outcome.value);
      return result;
    case Outcome::Kind::kSuspended:
      break;
  }
  result.state = WalkResult::State::kSuspended;
  const bool keep_lease = !actions_.empty() || !in_flight_.empty();
  result.actions = std::move(actions_);
  actions_.clear();
  std::optional<TimePoint> due = earliest_due_;
  if (run_.deadline && (!due || *run_.deadline < *due)) due = run_.deadline;
  std::optional<TimePoint> extended_lease;
  for (const PendingAction& action : result.actions) {
    if (!latest_deadline_ || action.deadline > *latest_deadline_) {
      latest_deadline_ = action.deadline;
    }
  }
  if (keep_lease && latest_deadline_ &&
      (!run_.lease_until || LeaseMustGrow(*run_.lease_until, *latest_deadline_, env_.lease))) {
    extended_lease = LeaseEndFor(*latest_deadline_, env_.lease);
    run_.lease_until = extended_lease;
  }
  RunStatus status = keep_lease   ? RunStatus::kRunning
                     : has_wait_  ? RunStatus::kWaiting
                     : has_sleep_ ? RunStatus::kSleeping
                                  : RunStatus::kRunning;
  result.status = status;
  run_.status = status;
  batch_.Add(store::UpdateRunOp{
      .run_id = run_.id,
      .status = status,
      // A run kept leased for its actions falls due for others only
      // if the lease runs out.
      .due_at = keep_lease ? std::optional<TimePoint>(run_.lease_until.value_or(now_)) : due,
      .output = nullptr,
      .error = nullptr,
      .ended_at = std::nullopt,
      .release_lease = !keep_lease,
      .lease_until = extended_lease});
  return result;
}

}  // namespace flowrun
