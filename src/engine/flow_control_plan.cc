#include "engine/flow_control_plan.h"

#include <algorithm>
#include <cmath>

#include "common/deterministic_id.h"
#include "common/json_path.h"

namespace flowrun {
namespace {

constexpr char kWholeFlow[] = "*";

StatusOr<std::string> EvaluateKey(const Program& program, const char* what,
                                  const std::optional<expr::Expression>& key,
                                  const expr::EvalContext& context) {
  if (!key) return std::string(kWholeFlow);
  auto value = key->Evaluate(context);
  if (!value.ok()) {
    return value.status().WithContext("flow " + program.flow_id + ": " + what + " key `" +
                                      std::string(key->source()) + "`");
  }
  return FlowKeyText(*value);
}

store::RateSpec Gcra(const RateRule& rule, std::string key) {
  const Duration interval = rule.period / std::max(1, rule.limit);
  return store::RateSpec{std::move(key), interval, interval * (std::max(1, rule.burst) - 1)};
}

}  // namespace

std::string FlowKeyText(const Json& value) {
  std::string text;
  if (value.is_null()) {
    text = "null";
  } else if (value.is_string()) {
    text = value.get<std::string>();
  } else {
    text = CanonicalKey(value);
  }
  if (text.size() <= kMaxFlowKeyBytes) return text;
  return DeterministicId("#", {text});
}

bool EvaluatesAtCreation(const Program& program) {
  const FlowControl& c = program.flow_control;
  return program.idempotency_key || program.concurrency_key || !program.cancel_on.empty() ||
         !c.extra_concurrency.empty() || c.throttle || c.rate_limit || c.debounce || c.batch ||
         c.priority || c.singleton;
}

Status PlanFlowControl(const Program& program, const expr::EvalContext& context, RunOrigin origin,
                       store::CreateRunOp& op) {
  store::RunRecord& run = op.run;
  const FlowControl& control = program.flow_control;
  if (program.concurrency_limit > 0) {
    ASSIGN_OR_RETURN(run.concurrency_key,
                     EvaluateKey(program, "concurrency", program.concurrency_key, context));
    run.concurrency_limit = program.concurrency_limit;
  }
  for (const ConcurrencyRule& rule : control.extra_concurrency) {
    ASSIGN_OR_RETURN(std::string key, EvaluateKey(program, "concurrency", rule.key, context));
    op.extra_slots.push_back(store::ConcurrencySlot{std::move(key), rule.limit});
  }
  if (control.throttle) {
    ASSIGN_OR_RETURN(std::string key,
                     EvaluateKey(program, "throttle", control.throttle->key, context));
    op.throttle = Gcra(*control.throttle, std::move(key));
  }
  if (control.rate_limit) {
    ASSIGN_OR_RETURN(std::string key,
                     EvaluateKey(program, "rate_limit", control.rate_limit->key, context));
    op.rate_limit = Gcra(*control.rate_limit, std::move(key));
  }
  if (control.singleton) {
    ASSIGN_OR_RETURN(std::string key,
                     EvaluateKey(program, "singleton", control.singleton->key, context));
    op.singleton =
        store::SingletonRule{std::move(key), control.singleton->mode == SingletonRule::Mode::kCancel
                                                 ? store::SingletonRule::Mode::kCancel
                                                 : store::SingletonRule::Mode::kSkip};
  }
  if (control.priority) {
    op.claim_in_due_order = true;
    auto value = control.priority->Evaluate(context);
    if (!value.ok()) {
      return value.status().WithContext("flow " + program.flow_id + ": priority `" +
                                        std::string(control.priority->source()) + "`");
    }
    if (value->is_number()) {
      const double seconds = std::clamp(value->get<double>(), -double{kMaxPrioritySeconds},
                                        double{kMaxPrioritySeconds});
      if (std::isfinite(seconds)) {
        run.due_at = *run.due_at - std::chrono::milliseconds(std::llround(seconds * 1000));
      }
    }
  }
  if (origin == RunOrigin::kInvoke) return OkStatus();
  if (control.debounce) {
    ASSIGN_OR_RETURN(std::string key,
                     EvaluateKey(program, "debounce", control.debounce->key, context));
    store::GatherSpec gather;
    gather.kind = store::GatherSpec::Kind::kDebounce;
    gather.key = std::move(key);
    gather.period = control.debounce->period;
    gather.timeout = control.debounce->timeout;
    run.due_at = *run.due_at + gather.period;
    op.gather = std::move(gather);
  } else if (control.batch) {
    ASSIGN_OR_RETURN(std::string key, EvaluateKey(program, "batch", control.batch->key, context));
    store::GatherSpec gather;
    gather.kind = store::GatherSpec::Kind::kBatch;
    gather.key = std::move(key);
    gather.max_size = control.batch->max_size;
    if (gather.max_size > 1) run.due_at = *run.due_at + control.batch->timeout;
    run.events = Json::array({run.event});
    op.gather = std::move(gather);
  }
  return OkStatus();
}

}  // namespace flowrun
