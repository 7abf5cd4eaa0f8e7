// PlanFlowControl: evaluates a flow's flow-control keys (flow_control.h) for a run about to be
// created and writes the result into its CreateRunOp: the run's own concurrency key and limit, the
// extra concurrency slots, the GCRA specs of throttle and rate_limit, the singleton rule, the
// debounce or batch gather, and the priority offset of its due time. The store then decides
// (store.h, "Flow control"); nothing here reads the store.
//
// Keys: a rule without `key` groups the whole flow ("*"); a key whose value is null groups as
// "null"; other values as their text (strings bare, others canonical JSON). Key texts longer than
// kMaxFlowKeyBytes are replaced by a 128-bit digest of them ("#" and 32 hex digits), so the
// store's rows stay bounded whatever the events hold.
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <string>

#include "common/json.h"
#include "common/status.h"
#include "common/timestamp.h"
#include "flow/expr/expression.h"
#include "flow/program.h"
#include "store/store.h"

namespace flowrun {

inline constexpr size_t kMaxFlowKeyBytes = 128;

// The group text of a key value, bounded as described above.
std::string FlowKeyText(const Json& value);

// Where a run comes from: invoked children skip debounce and batch (their parent waits for that
// very run), every other key applies to them.
enum class RunOrigin { kEvent, kInvoke };

// Fills `op`'s flow-control fields and the run's concurrency key and limit, and moves its due_at
// by the priority offset (clamped to ±kMaxPrioritySeconds) and, for a debounce or batch, to when
// the gather would close. REQUIRES: `op.run.due_at` is set (the run's creation time). `context`
// has `event` in scope. Errors (a key that fails to evaluate) name the flow and the expression.
[[nodiscard]] Status PlanFlowControl(const Program& program, const expr::EvalContext& context,
                                     RunOrigin origin, store::CreateRunOp& op);

// Whether a program's runs need `event` in scope at creation (any key or cancel_on to evaluate).
bool EvaluatesAtCreation(const Program& program);

}  // namespace flowrun
