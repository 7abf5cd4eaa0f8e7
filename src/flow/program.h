// Program: one flow revision compiled into an immutable tree that every run of that revision
// shares. The compiler (compiler.h) builds it from a validated flow document; the engine
// (engine.h) interprets it. Per-run state never lives here.
//
// Thread-safety: immutable after compilation; share freely (std::shared_ptr<const Program>).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/json.h"
#include "flow/cron.h"
#include "flow/expr/expression.h"
#include "flow/expr/template.h"
#include "flow/flow_control.h"
#include "flow/source.h"
#include "flow/step_kinds.h"

namespace flowrun {

// How a failing step is retried. Defaults: docs/flow-language.md, "retry".
struct RetryPolicy {
  enum class Backoff { kExponential, kLinear, kConstant };
  int attempts = 5;  // total attempts, including the first
  Duration delay = std::chrono::seconds(15);
  Backoff backoff = Backoff::kExponential;
  Duration max_delay = std::chrono::hours(2);
  bool jitter = true;  // full jitter: a uniform delay in [0, computed]
};

struct CompiledStep;
using StepList = std::vector<CompiledStep>;

// What a step does when it has failed for good.
struct OnError {
  enum class Mode { kFail, kContinue, kHandler };
  Mode mode = Mode::kFail;
  StepList handler;  // for kHandler; runs with `error` in scope
};

struct SwitchCase {
  expr::Expression when;
  StepList steps;
};

struct CompiledStep {
  using Kind = StepKind;  // flow/step_kinds.h

  std::string id;
  std::string name;                           // optional display name
  SourcePos pos;                              // where the step's mapping begins in the flow file
  StepKind kind = StepKind::kAction;          // set once by the compiler, from the step's key
  std::optional<expr::Expression> condition;  // `if`
  std::optional<RetryPolicy> retry;           // overrides the flow's
  std::optional<Duration> timeout;            // per attempt
  OnError on_error;

  // A leaf step (not kControl): its key, which for kAction is the action's name, and its
  // arguments. Every string in `arguments` may hold templates.
  std::string action;
  std::unique_ptr<expr::ValueTemplate> arguments;
  Json raw_arguments;  // the arguments as written, for display
  // For `wait_for_event`: the `match` or `if` condition over `event` (the run's trigger) and
  // `async` (the candidate). `match: data.x` compiles to `async.data.x == event.data.x`.
  std::optional<expr::Expression> wait_condition;

  // kSwitch
  std::vector<SwitchCase> cases;
  StepList default_steps;
  // kParallel: branch name and its steps, in the order written.
  std::vector<std::pair<std::string, StepList>> branches;
  // kForeach
  std::optional<expr::Expression> items;
  std::string loop_variable = "item";
  int concurrency = 1;
  // kForeach and kBlock
  StepList body;
};

struct EventTrigger {
  std::string event;  // exact name, or a prefix ending in '*'
  std::optional<expr::Expression> condition;
  bool Matches(std::string_view event_name) const;
};

struct CronTrigger {
  CronSchedule schedule;
  enum class Catchup { kNone, kLatest, kAll };
  Catchup catchup = Catchup::kLatest;
};

struct CancelOn {
  std::string event;
  // Either `match` (an equality between a field of the cancelling event and the trigger event)
  // compiled to `async.<field> == event.<field>`, or an `if` over `event` and `async`.
  std::optional<expr::Expression> condition;
  std::optional<Duration> timeout;
};

struct Program {
  std::string flow_id;
  std::string revision;  // hex hash of the canonical flow document
  std::string description;
  std::string source_path;
  Json document;  // the flow document as loaded

  std::vector<EventTrigger> event_triggers;
  std::vector<CronTrigger> cron_triggers;
  std::optional<expr::Expression> idempotency_key;
  Duration idempotency_window = std::chrono::hours(24);
  std::optional<expr::Expression> concurrency_key;
  int concurrency_limit = 0;  // 0: unlimited; the first entry of a `concurrency` list
  FlowControl flow_control;   // the other flow-control keys (flow_control.h)
  std::vector<CancelOn> cancel_on;
  std::optional<Duration> timeout;
  RetryPolicy retry;
  StepList on_failure;
  StepList steps;
  // True when its runs may hold waits: it has cancel_on or a wait_for_event step.
  bool registers_waits = false;
};

// Calls `visit` on `step` and on every step nested in it (on_error handlers, switch cases and
// default, parallel branches, foreach and block bodies), parents first.
void ForEachStep(const CompiledStep& step, const std::function<void(const CompiledStep&)>& visit);
// The same for every step of a list.
void ForEachStep(const StepList& steps, const std::function<void(const CompiledStep&)>& visit);

}  // namespace flowrun
