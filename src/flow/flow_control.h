// Flow control: the compiled form of a flow's top-level `concurrency` (beyond the first limit),
// `throttle`, `rate_limit`, `debounce`, `batch`, `priority` and `singleton` keys. Every key is an
// expression over `event`; a rule without one applies to the whole flow as one group. The
// semantics are held by the store (see store.h, "Flow control"): the engine only evaluates the
// keys when it plans a run and hands the store the values (FlowControlPlan in flow_control_plan.h).
//
// Thread-safety: immutable after compilation, part of Program.
#pragma once

#include <optional>
#include <vector>

#include "common/duration.h"
#include "flow/expr/expression.h"

namespace flowrun {

// One concurrency limit: at most `limit` runs of one key execute a step at once.
struct ConcurrencyRule {
  int limit = 0;
  std::optional<expr::Expression> key;  // none: one group for the flow
};

// `throttle` (starts delayed, never dropped) and `rate_limit` (extra events give a skipped run).
// Starts of one key are spaced period / limit apart on average (GCRA); `burst` of them may start
// back to back. rate_limit lets `limit` start at once (its burst is its limit).
struct RateRule {
  int limit = 1;
  Duration period{};
  int burst = 1;
  std::optional<expr::Expression> key;
};

// `debounce`: one run, with the last event, `period` after the last event of its key, and at the
// latest `timeout` after the first.
struct DebounceRule {
  Duration period{};
  std::optional<Duration> timeout;
  std::optional<expr::Expression> key;
};

// `batch`: one run per up to `max_size` events of a key, started when full or `timeout` after its
// first event.
struct BatchRule {
  int max_size = 1;
  Duration timeout{};
  std::optional<expr::Expression> key;
};

// `singleton`: at most one unfinished run per key.
struct SingletonRule {
  enum class Mode { kSkip, kCancel };
  Mode mode = Mode::kSkip;
  std::optional<expr::Expression> key;
};

// The bounds of `priority.run`, in seconds; values outside are clamped.
inline constexpr int kMaxPrioritySeconds = 600;

struct FlowControl {
  // The second and later entries of a `concurrency` list (the first is Program::concurrency_*).
  std::vector<ConcurrencyRule> extra_concurrency;
  std::optional<RateRule> throttle;
  std::optional<RateRule> rate_limit;
  std::optional<DebounceRule> debounce;
  std::optional<BatchRule> batch;
  std::optional<expr::Expression> priority;  // seconds ahead in the queue
  std::optional<SingletonRule> singleton;

  // True when the store may refuse, delay, merge or skip a run at its creation, so the engine
  // must not walk the run before the store has decided.
  bool DecidedAtCreation() const {
    return throttle || rate_limit || debounce || batch || singleton || priority;
  }
};

}  // namespace flowrun
