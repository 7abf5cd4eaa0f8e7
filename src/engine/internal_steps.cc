// RunWalker: the internal steps (set, log, return, fail, sleep, sleep_until, wait_for_event,
// send_event, invoke), which WalkAction dispatches on the step's kind. They run in memory and
// append to the walker's pending batch; see run_walker.h.
#include "common/deterministic_id.h"
#include "common/json_path.h"
#include "engine/flow_control_plan.h"
#include "engine/retry_policy.h"
#include "engine/run_walker.h"
#include "engine/step_values.h"

namespace flowrun {

using store::JournalKind;
using store::RunStatus;

RunWalker::Outcome RunWalker::RunSet(const CompiledStep& step, const std::string& key,
                                     Frame& frame) {
  auto values = Render(step, key);
  if (!values.ok())
    return FailStep(step, key, frame, ExpressionError(step, "set", nullptr, values.status()), 1);
  if (!values->is_object()) {
    return FailStep(step, key, frame,
                    ExpressionError(step, "set", nullptr,
                                    InvalidArgumentError("expected a map of names to values")),
                    1);
  }
  // The journal keeps the redacted copy; later steps see the real values, and a replay
  // re-derives them (RestoreSetVars) rather than storing a secret at rest.
  Json& vars = scope_["vars"];
  for (const auto& [name, value] : values->items()) vars[name] = value;
  Json redacted = env_.redactor.RedactJson(*values);
  Json extra = env_.secrets.empty() || redacted == *values ? Json() : Json{{"redacted", true}};
  return Complete(step, key, std::move(redacted), "next", nullptr, std::move(extra));
}

RunWalker::Outcome RunWalker::RunLog(const CompiledStep& step, const std::string& key,
                                     Frame& frame) {
  auto message = Render(step, key);
  if (!message.ok())
    return FailStep(step, key, frame, ExpressionError(step, "log", nullptr, message.status()), 1);
  Json text = Unwrap(*message, {"message"});
  std::string line = text.is_string() ? text.get<std::string>() : text.dump();
  line = env_.redactor.RedactText(line);
  if (env_.log) env_.log(run_.id, key, line);
  return Complete(step, key, nullptr, "next", Json{{"message", line}});
}

RunWalker::Outcome RunWalker::RunReturn(const CompiledStep& step, const std::string& key,
                                        Frame& frame) {
  auto value = Render(step, key);
  if (!value.ok())
    return FailStep(step, key, frame, ExpressionError(step, "return", nullptr, value.status()), 1);
  return Complete(step, key, Unwrap(*value, {"value"}), "returned");
}

RunWalker::Outcome RunWalker::RunFail(const CompiledStep& step, const std::string& key,
                                      Frame& frame) {
  const std::vector<Json>& attempts = journal_.attempts(key);
  if (!attempts.empty()) {
    const Json& last = attempts.back();
    auto retry_at = TimeField(last, "retry_at");
    if (retry_at && now_ < *retry_at) return Suspend(retry_at, RunStatus::kRunning);
  }
  auto rendered = Render(step, key);
  if (!rendered.ok()) {
    return FailStep(step, key, frame, ExpressionError(step, "fail", nullptr, rendered.status()),
                    static_cast<int>(attempts.size()) + 1);
  }
  Json args = rendered->is_object() ? *rendered : Json{{"message", *rendered}};
  Json message = args.value("message", Json("step failed"));
  bool retryable = args.value("retryable", false);
  int attempt = static_cast<int>(attempts.size()) + 1;
  Json error = Json{{"message", message.is_string() ? message.get<std::string>() : message.dump()},
                    {"code", retryable ? "UNAVAILABLE" : "FAILED_PRECONDITION"},
                    {"step", step.id},
                    {"retryable", retryable}};
  const RetryPolicy& policy = step.retry ? *step.retry : program_->retry;
  if (retryable) {
    auto delay = NextRetryDelay(policy, attempt, env_.uniform ? env_.uniform() : 0.5);
    if (delay) {
      TimePoint retry_at = now_ + *delay;
      Append(key, JournalKind::kAttempt,
             Json{{"attempt", attempt}, {"error", error}, {"retry_at", ToUnixMillis(retry_at)}});
      return Suspend(retry_at, RunStatus::kRunning);
    }
  }
  return FailStep(step, key, frame, std::move(error), attempt);
}

RunWalker::Outcome RunWalker::RunSleep(const CompiledStep& step, const std::string& key,
                                       Frame& frame) {
  std::optional<TimePoint> wake_at;
  if (const Json* started = journal_.started(key)) wake_at = TimeField(*started, "wake_at");
  if (!wake_at) {
    auto rendered = Render(step, key);
    if (!rendered.ok()) {
      return FailStep(step, key, frame,
                      ExpressionError(step, step.action, nullptr, rendered.status()), 1);
    }
    if (step.kind == StepKind::kSleep) {
      auto duration = AsDuration(Unwrap(*rendered, {"duration", "for"}), "sleep");
      if (!duration.ok()) {
        return FailStep(step, key, frame,
                        ExpressionError(step, "sleep", nullptr, duration.status()), 1);
      }
      wake_at = now_ + *duration;
    } else {
      Json until = Unwrap(*rendered, {"time", "until"});
      auto parsed = until.is_string() ? ParseTimestamp(until.get<std::string>())
                                      : StatusOr<TimePoint>(InvalidArgumentError(
                                            "expected an RFC 3339 time, got " + until.dump()));
      if (!parsed.ok()) {
        return FailStep(step, key, frame,
                        ExpressionError(step, "sleep_until", nullptr, parsed.status()), 1);
      }
      wake_at = *parsed;
    }
    Append(key, JournalKind::kStarted, Json{{"wake_at", ToUnixMillis(*wake_at)}});
  }
  if (now_ >= *wake_at) return Complete(step, key, nullptr);
  return Suspend(wake_at, RunStatus::kSleeping);
}

RunWalker::Outcome RunWalker::RunWait(const CompiledStep& step, const std::string& key,
                                      Frame& frame) {
  const Json* started = journal_.started(key);
  if (!started) {
    auto rendered = Render(step, key);
    if (!rendered.ok()) {
      return FailStep(step, key, frame,
                      ExpressionError(step, "wait_for_event", nullptr, rendered.status()), 1);
    }
    const Json& args = *rendered;
    Json name = args.value("event", Json());
    if (!name.is_string() || name.get<std::string>().empty()) {
      return FailStep(step, key, frame,
                      ExpressionError(step, "wait_for_event", nullptr,
                                      InvalidArgumentError("`event` must name an event")),
                      1);
    }
    auto timeout = AsDuration(args.value("timeout", Json()), "timeout");
    if (!timeout.ok()) {
      return FailStep(step, key, frame,
                      ExpressionError(step, "wait_for_event", nullptr, timeout.status()), 1);
    }
    store::WaitRecord wait;
    wait.id = TimeOrderedId("wait_", run_.created_at, {run_.id, key});
    wait.run_id = run_.id;
    wait.kind = store::WaitRecord::Kind::kStep;
    wait.flow_id = run_.flow_id;
    wait.revision = run_.revision;
    wait.step_key = key;
    wait.step_id = step.id;
    wait.event_name = name.get<std::string>();
    // Events after the previous step's completion are candidates: when it commits with this
    // registration, the store takes the newest seq at that commit (-2); otherwise the run's
    // mark from its last commit (-1).
    wait.since_seq = completed_in_batch_ ? -2 : -1;
    wait.timeout_at = now_ + *timeout;
    wait.created_at = now_;
    wait.context = Json{{"event", run_.event}};
    if (args.contains("lookback") && !args["lookback"].is_null()) {
      const Json& lookback = args["lookback"];
      if (lookback.is_string() && lookback.get<std::string>() == "run") {
        wait.lookback_from = run_.created_at;
      } else {
        auto window = AsDuration(lookback, "lookback");
        if (!window.ok()) {
          return FailStep(step, key, frame,
                          ExpressionError(step, "wait_for_event", nullptr, window.status()), 1);
        }
        wait.lookback_from = now_ - *window;
      }
    }
    if (step.wait_condition) {
      if (auto equality = step.wait_condition->AsAsyncEquality()) {
        auto value = expr::Expression::EvaluateNode(*equality->other_side, Context(key));
        if (!value.ok()) {
          return FailStep(step, key, frame,
                          ExpressionError(step, "match", &*step.wait_condition, value.status()), 1);
        }
        wait.match_path = JoinJsonPath(equality->async_path);
        wait.match_key = CanonicalKey(*value);
      }
    }
    Json record = Json{{"wait_id", wait.id},
                       {"timeout_at", ToUnixMillis(*wait.timeout_at)},
                       {"event", wait.event_name}};
    Append(key, JournalKind::kStarted, record);
    batch_.Add(store::RegisterWaitOp{wait});
    new_waits_.push_back(std::move(wait));
    started = journal_.started(key);
  }
  auto timeout_at = TimeField(*started, "timeout_at");
  if (timeout_at && now_ >= *timeout_at) {
    // Claim the wait for the timeout; an event may have claimed it first (see Confirm).
    std::string wait_id = started->value("wait_id", "");
    batch_.Add(store::ResolveWaitOp{wait_id, nullptr});
    expected_resolutions_.push_back(wait_id);
    Json record = Json{{"status", "completed"}, {"output", nullptr}, {"attempts", 1}};
    journal_.NoteCompleted(key, record);
    SetStepScope(step, record);
    return {Outcome::Kind::kNext, nullptr};
  }
  return Suspend(timeout_at, RunStatus::kWaiting);
}

RunWalker::Outcome RunWalker::RunSendEvent(const CompiledStep& step, const std::string& key,
                                           Frame& frame) {
  auto rendered = Render(step, key);
  if (!rendered.ok()) {
    return FailStep(step, key, frame,
                    ExpressionError(step, "send_event", nullptr, rendered.status()), 1);
  }
  Json list = rendered->is_array() ? *rendered : Json::array({*rendered});
  Json ids = Json::array();
  std::vector<store::EventRecord> events;
  std::vector<std::optional<Duration>> delays;
  for (size_t i = 0; i < list.size(); ++i) {
    const Json& item = list[i];
    Status invalid;
    if (!item.is_object() || !item.contains("name") || !item["name"].is_string() ||
        item["name"].get<std::string>().empty()) {
      invalid = InvalidArgumentError("event " + std::to_string(i) + " needs a `name`");
    } else if (item.contains("data") && !item["data"].is_null() && !item["data"].is_object()) {
      invalid = InvalidArgumentError("event " + std::to_string(i) + ": `data` must be a map");
    }
    std::optional<Duration> delay;
    if (invalid.ok() && item.contains("delay") && !item["delay"].is_null()) {
      auto parsed = AsDuration(item["delay"], "event " + std::to_string(i) + ": delay");
      if (!parsed.ok()) {
        invalid = parsed.status();
      } else if (parsed->count() < 0) {
        invalid = InvalidArgumentError("event " + std::to_string(i) + ": `delay` is negative");
      } else if (parsed->count() > 0) {
        delay = *parsed;
      }
    }
    if (!invalid.ok()) {
      return FailStep(step, key, frame, ExpressionError(step, "send_event", nullptr, invalid), 1);
    }
    delays.push_back(delay);
    store::EventRecord event;
    event.id = TimeOrderedId("evt_", run_.created_at, {run_.id, key, std::to_string(i)});
    event.name = item["name"].get<std::string>();
    event.data = item.contains("data") && item["data"].is_object() ? item["data"] : Json::object();
    event.ts = now_;
    if (item.contains("id") && item["id"].is_string()) event.client_id = item["id"];
    ids.push_back(event.id);
    events.push_back(std::move(event));
  }
  // The events, the runs they start and this step's completion commit together: exactly once.
  // A delayed event commits as scheduled; the engine releases it into the log when due.
  for (size_t i = 0; i < events.size(); ++i) {
    store::EventRecord& event = events[i];
    if (delays[i]) {
      batch_.Add(store::ScheduleEventOp{event, now_ + *delays[i]});
      continue;
    }
    store::EventRecord copy = event;
    batch_.Add(store::InsertEventOp{std::move(copy), std::chrono::hours(24),
                                    /*duplicate_aborts_batch=*/false});
    if (env_.plan_event) env_.plan_event(event, batch_);
  }
  return Complete(step, key, Json{{"ids", ids}});
}

RunWalker::Outcome RunWalker::RunInvoke(const CompiledStep& step, const std::string& key,
                                        Frame& frame) {
  const std::vector<Json>& attempts = journal_.attempts(key);
  if (!attempts.empty() && attempts.back().value("final", false)) {
    return FailStep(step, key, frame, attempts.back().value("error", Json()), 1);
  }
  const Json* started = journal_.started(key);
  if (!started) {
    auto rendered = Render(step, key);
    if (!rendered.ok()) {
      return FailStep(step, key, frame, ExpressionError(step, "invoke", nullptr, rendered.status()),
                      1);
    }
    const Json& args = *rendered;
    std::string flow = args.value("flow", "");
    std::shared_ptr<const Program> child = env_.catalog ? env_.catalog->Current(flow) : nullptr;
    if (!child) {
      return FailStep(step, key, frame,
                      StatusError(NotFoundError("invoke: no flow \"" + flow + "\""), step.id), 1);
    }
    std::optional<TimePoint> timeout_at;
    if (args.contains("timeout") && !args["timeout"].is_null()) {
      auto timeout = AsDuration(args["timeout"], "timeout");
      if (!timeout.ok()) {
        return FailStep(step, key, frame,
                        ExpressionError(step, "invoke", nullptr, timeout.status()), 1);
      }
      timeout_at = now_ + *timeout;
    }
    store::RunRecord run;
    run.id = TimeOrderedId("run_", run_.created_at, {run_.id, key});
    run.flow_id = child->flow_id;
    run.revision = child->revision;
    run.status = RunStatus::kQueued;
    Json data = args.contains("data") && args["data"].is_object() ? args["data"] : Json::object();
    run.event = Json{
        {"id", run.id}, {"name", "flowrun/invoke"}, {"data", data}, {"ts", FormatTimestamp(now_)}};
    run.created_at = now_;
    run.updated_at = now_;
    run.due_at = now_;
    if (child->timeout) run.deadline = now_ + *child->timeout;
    run.parent_run_id = run_.id;
    run.parent_step_key = key;
    store::CreateRunOp create{std::move(run), std::chrono::hours(24), {}};
    // The child's flow control applies to it as to any run (except debounce and batch: this
    // parent waits for this very run).
    if (EvaluatesAtCreation(*child)) {
      Json child_scope = Json::object();
      child_scope["event"] = create.run.event;
      expr::EvalContext child_context;
      child_context.scope = &child_scope;
      const TimePoint at = now_;
      child_context.now = [at] { return at; };
      child_context.uuid = [] { return RandomUuid(); };
      if (Status planned = PlanFlowControl(*child, child_context, RunOrigin::kInvoke, create);
          !planned.ok()) {
        return FailStep(step, key, frame, StatusError(planned, step.id), 1);
      }
    }
    batch_.Add(std::move(create));
    Json record = Json{{"child", TimeOrderedId("run_", run_.created_at, {run_.id, key})}};
    if (timeout_at) record["timeout_at"] = ToUnixMillis(*timeout_at);
    Append(key, JournalKind::kStarted, record);
    started = journal_.started(key);
  }
  auto timeout_at = TimeField(*started, "timeout_at");
  if (timeout_at && now_ >= *timeout_at) {
    batch_.Add(store::RequestCancelOp{started->value("child", "")});
    return FailStep(step, key, frame,
                    StatusError(DeadlineExceededError("invoke: the child run timed out"), step.id),
                    1);
  }
  return Suspend(timeout_at, RunStatus::kWaiting);
}

}  // namespace flowrun
