// StepKinds: what a step can be, one row per StepKind. A step's kind is chosen by the one key
// besides the common keys (id, name, if, retry, timeout, on_error) that it holds: a key of this
// table, or the name of an action (http, email, db, ...), which the action registry owns. The
// compiler reads the table to recognise step keys, to check literal durations and to say what a
// step may hold; the engine and the graph switch on the kind the compiler stored.
//
// Adding a step kind: a StepKind value, one row in step_kinds.cc, its entry in
// schemas/flow.schema.json, and a case in each switch on StepKind (-Wswitch names them).
// Adding an action needs no row: see actions/builtin_actions.h.
//
// Thread-safety: the table is built once on first use and immutable afterwards.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace flowrun {

// The step kinds in the order schemas/flow.schema.json lists their keys.
enum class StepKind {
  kAction,  // hands its arguments to the Action its key names (actions/action.h)
  kWaitForEvent,
  kSleep,
  kSleepUntil,
  kSendEvent,
  kInvoke,
  kSet,
  kLog,
  kFail,
  kReturn,
  kSwitch,
  kParallel,
  kForeach,
  kBlock,  // a nested `steps:` list
};

enum class StepCategory {
  kInternal,  // a leaf the engine runs itself: it touches only the run
  kAction,    // a leaf with a side effect, run by an Action
  kControl,   // holds nested steps
};

// How a node is drawn in a FlowGraph (flow_graph.h).
enum class GraphShape { kTerminal, kStep, kDecision, kWait, kSleep, kLoop, kFork, kJoin };

// An argument that holds a duration. The compiler checks a literal one; a `${{ }}` one is
// checked when it is rendered.
struct DurationField {
  std::string_view name;              // "" is the step's value itself
  std::string_view also_allows = {};  // a word accepted in its place ("run"); may be empty
};

struct StepKindInfo {
  std::string_view key;  // as written in a flow; empty for kAction, whose key is the action's name
  StepKind kind;
  StepCategory category;
  GraphShape shape;  // of the step's node in a FlowGraph
  std::vector<DurationField> duration_fields = {};
  bool takes_a_list = false;  // the value may be a list; each element has the duration fields
};

class StepKinds {
 public:
  static const StepKinds& BuiltIn();

  // The row of a key as written in a flow; nullptr for action names and unknown keys.
  const StepKindInfo* Find(std::string_view key) const;
  // The row of a kind.
  const StepKindInfo& Of(StepKind kind) const { return rows_[static_cast<size_t>(kind)]; }

  // In StepKind order.
  const std::vector<StepKindInfo>& rows() const { return rows_; }
  // The keys of one category's rows, in StepKind order.
  std::vector<std::string> Keys(StepCategory category) const;

  StepKinds(const StepKinds&) = delete;
  StepKinds& operator=(const StepKinds&) = delete;

 private:
  explicit StepKinds(std::vector<StepKindInfo> rows);
  std::vector<StepKindInfo> rows_;
};

inline bool IsControl(StepKind kind) {
  return StepKinds::BuiltIn().Of(kind).category == StepCategory::kControl;
}

// The keys every step may hold besides the one that gives its kind.
const std::vector<std::string>& CommonStepKeys();

// The actions schemas/flow.schema.json declares, in the schema's order: its step keys that are
// neither common keys nor keys of the table. They are the built-in actions
// (tests/actions/builtin_actions_test.cc checks that the registry agrees).
const std::vector<std::string>& SchemaActionNames();

// The arguments of `action` that its definition in schemas/flow.schema.json declares as
// durations. Empty for a name the schema does not declare.
const std::vector<DurationField>& SchemaActionDurationFields(std::string_view action);

}  // namespace flowrun
