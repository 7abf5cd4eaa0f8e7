#include "flow/compiler.h"

#include <algorithm>
#include <map>
#include <set>

#include "common/suggest.h"
#include "flow/revision.h"
#include "flow/schema_validator.h"
#include "flow/step_kinds.h"

namespace flowrun {
namespace {

// What an expression may name at the place it is written.
struct Scope {
  std::set<std::string> visible_steps;  // earlier steps whose results exist by now
  std::vector<std::string> loop_variables;
  bool allow_async = false;   // in wait and cancel_on conditions
  bool allow_error = false;   // in on_error handlers and on_failure
  bool allow_events = false;  // in steps of a flow with `batch`
};

const std::vector<std::string> kStepFields = {"output", "status", "error", "attempts"};
const std::vector<std::string> kRunFields = {"id",         "flow",     "revision",
                                             "started_at", "step_key", "attempt"};

class FlowCompiler {
 public:
  FlowCompiler(const LoadedDocument& doc, const CompileOptions& options)
      : doc_(doc),
        options_(options),
        action_names_(options.action_names.empty() ? SchemaActionNames() : options.action_names) {}

  CompiledFlow Run();

 private:
  // --- Reporting -------------------------------------------------------------------------
  void Report(const std::string& pointer, SourcePos pos, std::string message, std::string rule,
              std::string hint = "") {
    reported_pointers_.insert(pointer);
    diagnostics_.push_back({doc_.source.path(), pos, Severity::kError, std::move(message),
                            std::move(rule), std::move(hint)});
  }
  void ReportAtValue(const std::string& pointer, std::string message, std::string rule,
                     std::string hint = "") {
    Report(pointer, doc_.positions.ValuePosition(pointer), std::move(message), std::move(rule),
           std::move(hint));
  }
  void ReportAtKey(const std::string& pointer, std::string message, std::string rule,
                   std::string hint = "") {
    Report(pointer, doc_.positions.KeyPosition(pointer), std::move(message), std::move(rule),
           std::move(hint));
  }
  static std::string DidYouMean(std::string_view word, const std::vector<std::string>& options) {
    auto match = ClosestMatch(word, options);
    return match ? "did you mean \"" + *match + "\"?" : "";
  }

  // --- Pre-pass ----------------------------------------------------------------------------
  void CollectNames(const Json& steps, const std::string& pointer);

  // --- Values ------------------------------------------------------------------------------
  std::optional<Duration> CompileDuration(const Json& value, const std::string& pointer);
  // Checks the literal durations among a leaf step's arguments (StepKindInfo::duration_fields).
  void CheckDurationFields(const std::vector<DurationField>& fields, const Json& value,
                           const std::string& pointer);
  std::optional<expr::Expression> CompileBare(const Json& value, const std::string& pointer,
                                              const Scope& scope);
  std::optional<expr::Expression> CompileMatch(const Json& value, const std::string& pointer,
                                               const Scope& scope);
  std::unique_ptr<expr::ValueTemplate> CompileArguments(const Json& value,
                                                        const std::string& pointer,
                                                        const Scope& scope);
  void CheckExpression(const expr::Expression& expression, const std::string& pointer,
                       size_t base_offset, const Scope& scope);
  void CheckReference(const expr::Reference& ref, const std::string& pointer, size_t offset,
                      const Scope& scope);
  void ReportParseError(const expr::ParseError& error, const std::string& pointer,
                        size_t base_offset);
  RetryPolicy CompileRetry(const Json& value, const std::string& pointer, RetryPolicy base);

  // --- Steps -------------------------------------------------------------------------------
  StepList CompileSteps(const Json& steps, const std::string& pointer, Scope& scope);
  std::optional<CompiledStep> CompileStep(const Json& step, const std::string& pointer,
                                          const Scope& scope);
  // What the step's key selects: its kind, and its arguments or nested steps.
  void CompileStepBody(CompiledStep& step, const std::string& key, const Json& value,
                       const std::string& pointer, const Scope& scope);
  bool IsStepKey(const std::string& key) const {
    return StepKinds::BuiltIn().Find(key) != nullptr ||
           std::find(action_names_.begin(), action_names_.end(), key) != action_names_.end();
  }

  // --- Flow --------------------------------------------------------------------------------
  void CompileTriggers(const Json& on, Program& program);
  void CompileFlowOptions(const Json& doc, Program& program);
  // concurrency, throttle, rate_limit, debounce, batch, priority, singleton (flow_control.h).
  void CompileFlowControl(const Json& doc, Program& program);
  std::optional<RateRule> CompileRate(const Json& value, const std::string& pointer);
  // A duration in [min, max], reported at `pointer` otherwise.
  std::optional<Duration> CompileBoundedDuration(const Json& value, const std::string& pointer,
                                                 Duration min, Duration max);
  std::optional<expr::Expression> CompileKey(const Json& rule, const std::string& pointer);

  const LoadedDocument& doc_;
  const CompileOptions& options_;
  const std::vector<std::string>& action_names_;
  std::vector<Diagnostic> diagnostics_;
  std::set<std::string> reported_pointers_;
  // Every step id in the flow with the pointer of its first definition.
  std::map<std::string, std::string> step_ids_;
  std::vector<std::string> all_step_ids_;
  std::set<std::string> var_names_;
  std::set<std::string> loop_step_ids_;  // steps inside a foreach body
};

void FlowCompiler::CollectNames(const Json& steps, const std::string& pointer) {
  if (!steps.is_array()) return;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Json& step = steps[i];
    std::string step_pointer = JsonPointerAppend(pointer, i);
    if (!step.is_object()) continue;
    if (auto id = step.find("id"); id != step.end() && id->is_string()) {
      std::string name = id->get<std::string>();
      auto [it, inserted] = step_ids_.emplace(name, step_pointer);
      if (inserted) {
        all_step_ids_.push_back(name);
      } else {
        SourcePos first = doc_.positions.ValuePosition(it->second + "/id");
        ReportAtValue(step_pointer + "/id",
                      "duplicate step id \"" + name + "\" (first used at line " +
                          std::to_string(first.line) + ")",
                      "duplicate-step-id", "step ids must be unique in the whole flow");
      }
    }
    if (auto set = step.find("set"); set != step.end() && set->is_object()) {
      for (const auto& [name, unused] : set->items()) var_names_.insert(name);
    }
    for (const auto& [key, value] : step.items()) {
      std::string child = JsonPointerAppend(step_pointer, key);
      if (key == "steps" || (key == "on_error" && value.is_array())) {
        CollectNames(value, child);
      } else if (key == "switch" && value.is_object()) {
        if (auto cases = value.find("cases"); cases != value.end() && cases->is_array()) {
          for (size_t c = 0; c < cases->size(); ++c) {
            if ((*cases)[c].is_object() && (*cases)[c].contains("steps")) {
              CollectNames((*cases)[c]["steps"],
                           JsonPointerAppend(JsonPointerAppend(child + "/cases", c), "steps"));
            }
          }
        }
        if (value.contains("default")) CollectNames(value["default"], child + "/default");
      } else if (key == "parallel" && value.is_object() && value.contains("branches") &&
                 value["branches"].is_object()) {
        for (const auto& [branch, branch_steps] : value["branches"].items()) {
          CollectNames(branch_steps, JsonPointerAppend(child + "/branches", branch));
        }
      } else if (key == "foreach" && value.is_object() && value.contains("steps")) {
        size_t before = all_step_ids_.size();
        CollectNames(value["steps"], child + "/steps");
        for (size_t k = before; k < all_step_ids_.size(); ++k) {
          loop_step_ids_.insert(all_step_ids_[k]);
        }
      }
    }
  }
}

std::optional<Duration> FlowCompiler::CompileDuration(const Json& value,
                                                      const std::string& pointer) {
  if (!value.is_string()) return std::nullopt;  // the schema reports the type
  auto parsed = ParseDuration(value.get<std::string>());
  if (!parsed.ok()) {
    ReportAtValue(pointer, parsed.status().message(), "duration");
    return std::nullopt;
  }
  return *parsed;
}

void FlowCompiler::CheckDurationFields(const std::vector<DurationField>& fields, const Json& value,
                                       const std::string& pointer) {
  for (const DurationField& field : fields) {
    const Json* literal = &value;
    std::string literal_pointer = pointer;
    if (!field.name.empty()) {
      if (!value.is_object()) continue;
      auto it = value.find(field.name);
      if (it == value.end()) continue;
      literal = &*it;
      literal_pointer = JsonPointerAppend(pointer, std::string(field.name));
    }
    if (!literal->is_string()) continue;  // the schema reports the type
    const std::string& text = literal->get_ref<const std::string&>();
    if (text.find("${{") != std::string::npos) continue;  // checked when rendered
    if (!field.also_allows.empty() && text == field.also_allows) continue;
    CompileDuration(*literal, literal_pointer);
  }
}

void FlowCompiler::ReportParseError(const expr::ParseError& error, const std::string& pointer,
                                    size_t base_offset) {
  std::string rule = "expression";
  if (error.kind == expr::ParseError::Kind::kUnknownFunction) rule = "unknown-function";
  if (error.kind == expr::ParseError::Kind::kWrongArity) rule = "arity";
  Report(pointer, doc_.positions.PositionInString(pointer, base_offset + error.offset, doc_.source),
         error.message, rule);
}

// Strips a `${{ … }}` wrapper from a bare-expression field, returning the expression text and
// its offset in the field's string.
std::pair<std::string, size_t> UnwrapBare(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t");
  size_t end = text.find_last_not_of(" \t");
  if (begin != std::string::npos && text.compare(begin, 3, "${{") == 0 && end >= begin + 4 &&
      text.compare(end - 1, 2, "}}") == 0 && text.find("${{", begin + 3) == std::string::npos) {
    return {text.substr(begin + 3, end - 1 - (begin + 3)), begin + 3};
  }
  return {text, 0};
}

std::optional<expr::Expression> FlowCompiler::CompileBare(const Json& value,
                                                          const std::string& pointer,
                                                          const Scope& scope) {
  std::string text;
  size_t offset = 0;
  if (value.is_boolean()) {
    text = value.get<bool>() ? "true" : "false";
  } else if (value.is_number()) {
    text = value.dump();
  } else if (value.is_string()) {
    std::tie(text, offset) = UnwrapBare(value.get<std::string>());
  } else {
    return std::nullopt;  // the schema reports the type
  }
  auto parsed = expr::Expression::Parse(text);
  if (auto* error = std::get_if<expr::ParseError>(&parsed)) {
    ReportParseError(*error, pointer, offset);
    return std::nullopt;
  }
  auto& expression = std::get<expr::Expression>(parsed);
  CheckExpression(expression, pointer, offset, scope);
  return std::move(expression);
}

// `match: data.orderId` means `async.data.orderId == event.data.orderId`.
std::optional<expr::Expression> FlowCompiler::CompileMatch(const Json& value,
                                                           const std::string& pointer,
                                                           const Scope& scope) {
  if (!value.is_string()) return std::nullopt;
  auto [field, offset] = UnwrapBare(value.get<std::string>());
  size_t b = field.find_first_not_of(' ');
  size_t e = field.find_last_not_of(' ');
  if (b == std::string::npos) {
    ReportAtValue(pointer, "match needs a field path such as data.orderId", "expression");
    return std::nullopt;
  }
  field = field.substr(b, e - b + 1);
  if (field.rfind("event.", 0) == 0) field = field.substr(6);
  if (field.rfind("async.", 0) == 0) field = field.substr(6);
  // A field path: segments of letters, digits, '_' and '-', separated by dots.
  bool valid = !field.empty() && field.front() != '.' && field.back() != '.' &&
               field.find("..") == std::string::npos &&
               field.find_first_not_of(
                   "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                   "0123456789_-.") == std::string::npos;
  if (!valid) {
    ReportAtValue(pointer,
                  "match takes a field path such as data.orderId, not \"" + field +
                      "\"; use `if` for other conditions",
                  "expression");
    return std::nullopt;
  }
  auto parsed = expr::Expression::Parse("async." + field + " == event." + field);
  if (auto* error = std::get_if<expr::ParseError>(&parsed)) {
    ReportAtValue(pointer, error->message, "expression");
    return std::nullopt;
  }
  return std::move(std::get<expr::Expression>(parsed));
}

void FlowCompiler::CheckReference(const expr::Reference& ref, const std::string& pointer,
                                  size_t offset, const Scope& scope) {
  if (ref.path.empty()) return;
  const std::string& root = ref.path[0];
  auto report = [&](std::string message, std::string rule, std::string hint = "") {
    Report(pointer, doc_.positions.PositionInString(pointer, offset, doc_.source),
           std::move(message), std::move(rule), std::move(hint));
  };
  if (std::find(scope.loop_variables.begin(), scope.loop_variables.end(), root) !=
      scope.loop_variables.end()) {
    return;
  }
  if (root == "event" || root == "secrets") return;
  if (root == "events") {
    if (!scope.allow_events) {
      report("`events` is only available in the steps of a flow with `batch`", "unknown-variable");
    }
    return;
  }
  if (root == "steps") {
    if (ref.path.size() < 2) return;  // `steps` as a whole, e.g. keys(steps)
    const std::string& id = ref.path[1];
    if (!scope.visible_steps.count(id)) {
      if (!step_ids_.count(id)) {
        std::vector<std::string> visible(scope.visible_steps.begin(), scope.visible_steps.end());
        report("unknown step \"" + id + "\"", "step-reference", DidYouMean(id, visible));
      } else if (loop_step_ids_.count(id)) {
        report("step \"" + id +
                   "\" is inside a foreach; its results exist per item, only within the loop",
               "step-reference");
      } else {
        report("step \"" + id +
                   "\" is not available here: a step can only use the results of steps that "
                   "finished before it",
               "step-reference");
      }
      return;
    }
    if (ref.path.size() >= 3 &&
        std::find(kStepFields.begin(), kStepFields.end(), ref.path[2]) == kStepFields.end()) {
      report("steps." + id + " has no field \"" + ref.path[2] +
                 "\"; a step has output, status, error and attempts",
             "step-reference", DidYouMean(ref.path[2], kStepFields));
    }
    return;
  }
  if (root == "vars") {
    if (ref.path.size() >= 2 && !var_names_.count(ref.path[1])) {
      std::vector<std::string> names(var_names_.begin(), var_names_.end());
      report("no `set` step defines vars." + ref.path[1], "unknown-variable",
             DidYouMean(ref.path[1], names));
    }
    return;
  }
  if (root == "run") {
    if (ref.path.size() >= 2 &&
        std::find(kRunFields.begin(), kRunFields.end(), ref.path[1]) == kRunFields.end()) {
      report("run has no field \"" + ref.path[1] +
                 "\"; it has id, flow, revision, started_at, step_key and attempt",
             "unknown-variable", DidYouMean(ref.path[1], kRunFields));
    }
    return;
  }
  if (root == "async") {
    if (!scope.allow_async) {
      report("`async` is only available in the conditions of wait_for_event and cancel_on",
             "unknown-variable");
    }
    return;
  }
  if (root == "error") {
    if (!scope.allow_error) {
      report("`error` is only available in on_error handlers and on_failure", "unknown-variable");
    }
    return;
  }
  std::vector<std::string> roots = {"event", "steps", "vars", "secrets", "run"};
  if (scope.allow_async) roots.push_back("async");
  if (scope.allow_error) roots.push_back("error");
  roots.insert(roots.end(), scope.loop_variables.begin(), scope.loop_variables.end());
  std::string hint = DidYouMean(root, roots);
  if (hint.empty()) {
    hint = "available here: ";
    for (size_t i = 0; i < roots.size(); ++i) hint += (i ? ", " : "") + roots[i];
  }
  report("unknown variable \"" + root + "\"", "unknown-variable", hint);
}

void FlowCompiler::CheckExpression(const expr::Expression& expression, const std::string& pointer,
                                   size_t base_offset, const Scope& scope) {
  for (const auto& ref : expression.references()) {
    CheckReference(ref, pointer, base_offset + ref.offset, scope);
  }
}

std::unique_ptr<expr::ValueTemplate> FlowCompiler::CompileArguments(const Json& value,
                                                                    const std::string& pointer,
                                                                    const Scope& scope) {
  auto compiled = expr::ValueTemplate::Compile(value);
  if (auto* error = std::get_if<expr::ValueTemplate::CompileError>(&compiled)) {
    ReportParseError(error->error, pointer + error->pointer, 0);
    return nullptr;
  }
  auto result =
      std::make_unique<expr::ValueTemplate>(std::move(std::get<expr::ValueTemplate>(compiled)));
  for (const auto& site : result->Sites()) {
    CheckExpression(site.embedded->expression, pointer + site.pointer, site.embedded->offset,
                    scope);
  }
  return result;
}

RetryPolicy FlowCompiler::CompileRetry(const Json& value, const std::string& pointer,
                                       RetryPolicy base) {
  if (!value.is_object()) return base;
  if (auto it = value.find("attempts"); it != value.end() && it->is_number_integer()) {
    base.attempts = it->get<int>();
  }
  if (auto it = value.find("delay"); it != value.end()) {
    if (auto d = CompileDuration(*it, pointer + "/delay")) base.delay = *d;
  }
  if (auto it = value.find("max_delay"); it != value.end()) {
    if (auto d = CompileDuration(*it, pointer + "/max_delay")) base.max_delay = *d;
  }
  if (auto it = value.find("backoff"); it != value.end() && it->is_string()) {
    std::string backoff = it->get<std::string>();
    if (backoff == "linear") base.backoff = RetryPolicy::Backoff::kLinear;
    if (backoff == "constant") base.backoff = RetryPolicy::Backoff::kConstant;
    if (backoff == "exponential") base.backoff = RetryPolicy::Backoff::kExponential;
  }
  if (auto it = value.find("jitter"); it != value.end() && it->is_boolean()) {
    base.jitter = it->get<bool>();
  }
  return base;
}

StepList FlowCompiler::CompileSteps(const Json& steps, const std::string& pointer, Scope& scope) {
  StepList result;
  if (!steps.is_array()) return result;
  for (size_t i = 0; i < steps.size(); ++i) {
    std::string step_pointer = JsonPointerAppend(pointer, i);
    auto step = CompileStep(steps[i], step_pointer, scope);
    if (steps[i].is_object() && steps[i].contains("id") && steps[i]["id"].is_string()) {
      // Later steps may use this step, and the steps nested inside it.
      scope.visible_steps.insert(steps[i]["id"].get<std::string>());
    }
    if (step) {
      // Nested steps (except inside a foreach) are visible after their parent.
      std::function<void(const StepList&)> add_nested = [&](const StepList& list) {
        for (const auto& nested : list) {
          scope.visible_steps.insert(nested.id);
          add_nested(nested.default_steps);
          add_nested(nested.on_error.handler);
          if (nested.kind == StepKind::kBlock) add_nested(nested.body);
          for (const auto& c : nested.cases) add_nested(c.steps);
          for (const auto& b : nested.branches) add_nested(b.second);
        }
      };
      StepList single;
      single.push_back(std::move(*step));
      add_nested(single);
      result.push_back(std::move(single.front()));
    }
  }
  return result;
}

std::optional<CompiledStep> FlowCompiler::CompileStep(const Json& value, const std::string& pointer,
                                                      const Scope& scope) {
  if (!value.is_object()) return std::nullopt;  // the schema reports the type
  CompiledStep step;
  step.pos = doc_.positions.ValuePosition(pointer);
  if (auto id = value.find("id"); id != value.end() && id->is_string()) step.id = *id;
  if (auto name = value.find("name"); name != value.end() && name->is_string()) {
    step.name = *name;
  }
  std::string label = step.id.empty() ? "this step" : "step \"" + step.id + "\"";

  std::vector<std::string> action_keys;
  for (const auto& [key, unused] : value.items()) {
    if (IsStepKey(key)) action_keys.push_back(key);
  }
  if (action_keys.empty()) {
    const std::vector<std::string>& common = CommonStepKeys();
    bool has_unknown = false;
    for (const auto& [key, unused] : value.items()) {
      has_unknown |= std::find(common.begin(), common.end(), key) == common.end();
    }
    if (!has_unknown) {  // an unknown key is likely a misspelt action: the schema reports it
      std::vector<std::string> keys = StepActionKeys(action_names_);
      std::vector<std::string> controls = StepControlKeys();
      keys.insert(keys.end(), controls.begin(), controls.end());
      std::string hint = "add one of ";
      for (size_t i = 0; i < keys.size(); ++i) {
        hint += (i == 0 ? "" : i + 1 == keys.size() ? " or " : ", ") + keys[i];
      }
      ReportAtValue(pointer, label + " has no action", "missing-action", std::move(hint));
    }
  } else if (action_keys.size() > 1) {
    // Report at the key that comes second in the file.
    std::sort(action_keys.begin(), action_keys.end(), [&](const auto& a, const auto& b) {
      SourcePos pa = doc_.positions.KeyPosition(JsonPointerAppend(pointer, a));
      SourcePos pb = doc_.positions.KeyPosition(JsonPointerAppend(pointer, b));
      return std::pair(pa.line, pa.column) < std::pair(pb.line, pb.column);
    });
    ReportAtKey(JsonPointerAppend(pointer, action_keys[1]),
                label + " has both \"" + action_keys[0] + "\" and \"" + action_keys[1] +
                    "\"; a step does exactly one thing",
                "multiple-actions", "split it into two steps");
  }

  if (auto cond = value.find("if"); cond != value.end()) {
    step.condition = CompileBare(*cond, pointer + "/if", scope);
  }
  if (auto retry = value.find("retry"); retry != value.end()) {
    step.retry = CompileRetry(*retry, pointer + "/retry", RetryPolicy{});
  }
  if (auto timeout = value.find("timeout"); timeout != value.end()) {
    step.timeout = CompileDuration(*timeout, pointer + "/timeout");
  }
  if (auto on_error = value.find("on_error"); on_error != value.end()) {
    if (on_error->is_string()) {
      if (*on_error == "continue") step.on_error.mode = OnError::Mode::kContinue;
    } else if (on_error->is_array()) {
      step.on_error.mode = OnError::Mode::kHandler;
      Scope handler_scope = scope;
      handler_scope.allow_error = true;
      if (!step.id.empty()) handler_scope.visible_steps.insert(step.id);
      step.on_error.handler = CompileSteps(*on_error, pointer + "/on_error", handler_scope);
    }
  }
  if (action_keys.size() >= 1) {
    const std::string& key = action_keys[0];
    CompileStepBody(step, key, value[key], JsonPointerAppend(pointer, key), scope);
  }
  return step;
}

void FlowCompiler::CompileStepBody(CompiledStep& step, const std::string& key, const Json& value,
                                   const std::string& pointer, const Scope& scope) {
  const StepKindInfo* row = StepKinds::BuiltIn().Find(key);
  step.kind = row != nullptr ? row->kind : StepKind::kAction;
  if (step.kind == StepKind::kSwitch) {
    if (!value.is_object()) return;
    if (auto cases = value.find("cases"); cases != value.end() && cases->is_array()) {
      for (size_t i = 0; i < cases->size(); ++i) {
        const Json& c = (*cases)[i];
        std::string case_pointer = JsonPointerAppend(pointer + "/cases", i);
        if (!c.is_object()) continue;
        std::optional<expr::Expression> when;
        if (auto w = c.find("when"); w != c.end())
          when = CompileBare(*w, case_pointer + "/when", scope);
        Scope case_scope = scope;
        StepList steps;
        if (auto s = c.find("steps"); s != c.end()) {
          steps = CompileSteps(*s, case_pointer + "/steps", case_scope);
        }
        if (when) step.cases.push_back({std::move(*when), std::move(steps)});
      }
    }
    if (auto d = value.find("default"); d != value.end()) {
      Scope default_scope = scope;
      step.default_steps = CompileSteps(*d, pointer + "/default", default_scope);
    }
    return;
  }
  if (step.kind == StepKind::kParallel) {
    if (!value.is_object() || !value.contains("branches") || !value["branches"].is_object()) return;
    for (const auto& [name, branch] : value["branches"].items()) {
      Scope branch_scope = scope;
      step.branches.emplace_back(
          name, CompileSteps(branch, JsonPointerAppend(pointer + "/branches", name), branch_scope));
    }
    return;
  }
  if (step.kind == StepKind::kForeach) {
    if (!value.is_object()) return;
    if (auto items = value.find("items"); items != value.end()) {
      step.items = CompileBare(*items, pointer + "/items", scope);
    }
    if (auto as = value.find("as"); as != value.end() && as->is_string()) {
      step.loop_variable = *as;
      static const std::set<std::string> reserved = {"event", "steps", "vars", "secrets",
                                                     "run",   "async", "error"};
      if (reserved.count(step.loop_variable)) {
        ReportAtValue(pointer + "/as",
                      "the loop variable cannot be named \"" + step.loop_variable +
                          "\": that name is already in scope",
                      "unknown-variable");
      }
    }
    if (auto c = value.find("concurrency"); c != value.end() && c->is_number_integer()) {
      step.concurrency = c->get<int>();
    }
    Scope body_scope = scope;
    body_scope.loop_variables.push_back(step.loop_variable);
    if (auto s = value.find("steps"); s != value.end()) {
      step.body = CompileSteps(*s, pointer + "/steps", body_scope);
    }
    return;
  }
  if (step.kind == StepKind::kBlock) {
    Scope block_scope = scope;
    step.body = CompileSteps(value, pointer, block_scope);
    return;
  }

  step.action = key;
  step.raw_arguments = value;
  Json arguments = value;
  if (step.kind == StepKind::kWaitForEvent && value.is_object()) {
    Scope wait_scope = scope;
    wait_scope.allow_async = true;
    if (!value.contains("timeout")) {
      ReportAtKey(pointer, "wait_for_event needs a timeout; a wait without one can hang forever",
                  "wait-timeout", "add e.g. `timeout: 48h`; the step's output is null on timeout");
    }
    if (value.contains("match") && value.contains("if")) {
      ReportAtKey(pointer + "/if", "wait_for_event takes either match or if, not both", "schema");
    }
    if (auto m = value.find("match"); m != value.end()) {
      step.wait_condition = CompileMatch(*m, pointer + "/match", wait_scope);
    } else if (auto c = value.find("if"); c != value.end()) {
      step.wait_condition = CompileBare(*c, pointer + "/if", wait_scope);
    }
    arguments.erase("match");
    arguments.erase("if");
  }
  // A `${{ }}` duration is rendered with the other arguments and read as a duration when the
  // step runs; only literals are checked here.
  const std::vector<DurationField>& durations =
      row != nullptr ? row->duration_fields : SchemaActionDurationFields(key);
  if (row != nullptr && row->takes_a_list && value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      CheckDurationFields(durations, value[i], JsonPointerAppend(pointer, i));
    }
  } else {
    CheckDurationFields(durations, value, pointer);
  }
  step.arguments = CompileArguments(arguments, pointer, scope);
  if (step.kind == StepKind::kAction && options_.check_action) {
    Status status = options_.check_action(key, value);
    if (!status.ok()) ReportAtKey(pointer, status.message(), "schema");
  }
}

void FlowCompiler::CompileTriggers(const Json& on, Program& program) {
  std::vector<std::pair<const Json*, std::string>> triggers;
  if (on.is_array()) {
    for (size_t i = 0; i < on.size(); ++i)
      triggers.emplace_back(&on[i], JsonPointerAppend("/on", i));
  } else {
    triggers.emplace_back(&on, "/on");
  }
  Scope trigger_scope;
  for (const auto& [trigger, pointer] : triggers) {
    if (!trigger->is_object()) continue;
    if (auto event = trigger->find("event"); event != trigger->end() && event->is_string()) {
      EventTrigger compiled;
      compiled.event = *event;
      if (auto cond = trigger->find("if"); cond != trigger->end()) {
        compiled.condition = CompileBare(*cond, pointer + "/if", trigger_scope);
      }
      program.event_triggers.push_back(std::move(compiled));
    }
    if (auto cron = trigger->find("cron"); cron != trigger->end() && cron->is_string()) {
      std::string zone = "UTC";
      if (auto tz = trigger->find("timezone"); tz != trigger->end() && tz->is_string()) {
        zone = *tz;
        Status valid = CronSchedule::ValidateTimeZone(zone);
        if (!valid.ok()) {
          ReportAtValue(pointer + "/timezone", valid.message(), "timezone",
                        "use an IANA name such as America/Los_Angeles or Europe/Berlin");
          zone = "UTC";
        }
      }
      auto schedule = CronSchedule::Parse(cron->get<std::string>(), zone);
      if (!schedule.ok()) {
        ReportAtValue(pointer + "/cron", schedule.status().message(), "cron",
                      "five fields: minute hour day-of-month month day-of-week, or @daily, "
                      "@hourly, …");
        continue;
      }
      CronTrigger compiled{std::move(*schedule)};
      if (auto catchup = trigger->find("catchup");
          catchup != trigger->end() && catchup->is_string()) {
        if (*catchup == "none") compiled.catchup = CronTrigger::Catchup::kNone;
        if (*catchup == "all") compiled.catchup = CronTrigger::Catchup::kAll;
      }
      program.cron_triggers.push_back(std::move(compiled));
    }
  }
}

void FlowCompiler::CompileFlowOptions(const Json& doc, Program& program) {
  Scope event_scope;  // flow options see only the trigger event
  if (auto it = doc.find("idempotency"); it != doc.end()) {
    if (it->is_object()) {
      if (auto key = it->find("key"); key != it->end()) {
        program.idempotency_key = CompileBare(*key, "/idempotency/key", event_scope);
      }
      if (auto window = it->find("window"); window != it->end()) {
        if (auto d = CompileDuration(*window, "/idempotency/window")) {
          program.idempotency_window = *d;
        }
      }
    } else {
      program.idempotency_key = CompileBare(*it, "/idempotency", event_scope);
    }
  }
  CompileFlowControl(doc, program);
  if (auto it = doc.find("cancel_on"); it != doc.end() && it->is_array()) {
    Scope cancel_scope;
    cancel_scope.allow_async = true;
    for (size_t i = 0; i < it->size(); ++i) {
      const Json& c = (*it)[i];
      std::string pointer = JsonPointerAppend("/cancel_on", i);
      if (!c.is_object() || !c.contains("event") || !c["event"].is_string()) continue;
      CancelOn cancel;
      cancel.event = c["event"];
      if (c.contains("match")) {
        cancel.condition = CompileMatch(c["match"], pointer + "/match", cancel_scope);
      } else if (c.contains("if")) {
        cancel.condition = CompileBare(c["if"], pointer + "/if", cancel_scope);
      }
      if (c.contains("timeout"))
        cancel.timeout = CompileDuration(c["timeout"], pointer + "/timeout");
      program.cancel_on.push_back(std::move(cancel));
    }
  }
  if (auto it = doc.find("timeout"); it != doc.end()) {
    program.timeout = CompileDuration(*it, "/timeout");
  }
  if (auto it = doc.find("retry"); it != doc.end()) {
    program.retry = CompileRetry(*it, "/retry", RetryPolicy{});
  }
}

std::optional<Duration> FlowCompiler::CompileBoundedDuration(const Json& value,
                                                             const std::string& pointer,
                                                             Duration min, Duration max) {
  std::optional<Duration> d = CompileDuration(value, pointer);
  if (!d) return std::nullopt;
  if (*d < min || *d > max) {
    ReportAtValue(pointer,
                  "must be between " + FormatDuration(min) + " and " + FormatDuration(max) +
                      ", got " + FormatDuration(*d),
                  "flow-control");
    return std::nullopt;
  }
  return d;
}

std::optional<expr::Expression> FlowCompiler::CompileKey(const Json& rule,
                                                         const std::string& pointer) {
  Scope event_scope;  // keys see only the trigger event
  auto key = rule.find("key");
  if (key == rule.end()) return std::nullopt;
  return CompileBare(*key, pointer + "/key", event_scope);
}

std::optional<RateRule> FlowCompiler::CompileRate(const Json& value, const std::string& pointer) {
  if (!value.is_object()) return std::nullopt;  // the schema reports the type
  RateRule rule;
  auto limit = value.find("limit");
  auto period = value.find("period");
  if (limit == value.end() || !limit->is_number_integer() || period == value.end()) {
    return std::nullopt;
  }
  rule.limit = limit->get<int>();
  if (rule.limit < 1) return std::nullopt;
  auto d = CompileBoundedDuration(*period, pointer + "/period", std::chrono::seconds(1),
                                  std::chrono::hours(24 * 7));
  if (!d) return std::nullopt;
  rule.period = *d;
  if (auto burst = value.find("burst"); burst != value.end() && burst->is_number_integer()) {
    rule.burst = std::max(1, burst->get<int>());
  }
  rule.key = CompileKey(value, pointer);
  return rule;
}

void FlowCompiler::CompileFlowControl(const Json& doc, Program& program) {
  FlowControl& control = program.flow_control;
  if (auto it = doc.find("concurrency"); it != doc.end()) {
    // One limit, or a list of limits that all apply: the first takes the run's own columns.
    std::vector<std::pair<const Json*, std::string>> limits;
    if (it->is_object()) limits.emplace_back(&*it, "/concurrency");
    if (it->is_array()) {
      for (size_t i = 0; i < it->size(); ++i) {
        limits.emplace_back(&(*it)[i], JsonPointerAppend("/concurrency", i));
      }
    }
    std::map<std::string, std::string> seen;  // key source -> pointer
    for (const auto& [value, pointer] : limits) {
      if (!value->is_object()) continue;
      auto limit = value->find("limit");
      if (limit == value->end() || !limit->is_number_integer() || limit->get<int>() < 1) continue;
      ConcurrencyRule rule{limit->get<int>(), CompileKey(*value, pointer)};
      const std::string source = rule.key ? std::string(rule.key->source()) : "";
      if (auto [first, inserted] = seen.emplace(source, pointer); !inserted) {
        ReportAtKey(pointer, "two concurrency limits with the same key; the smaller one decides",
                    "flow-control", "keep one limit per key");
        continue;
      }
      if (program.concurrency_limit == 0) {
        program.concurrency_limit = rule.limit;
        program.concurrency_key = std::move(rule.key);
      } else {
        control.extra_concurrency.push_back(std::move(rule));
      }
    }
  }
  if (auto it = doc.find("throttle"); it != doc.end())
    control.throttle = CompileRate(*it, "/throttle");
  if (auto it = doc.find("rate_limit"); it != doc.end()) {
    control.rate_limit = CompileRate(*it, "/rate_limit");
    if (control.rate_limit) control.rate_limit->burst = control.rate_limit->limit;
  }
  if (auto it = doc.find("debounce"); it != doc.end() && it->is_object()) {
    DebounceRule rule;
    std::optional<Duration> period;
    if (auto p = it->find("period"); p != it->end()) {
      period = CompileBoundedDuration(*p, "/debounce/period", std::chrono::seconds(1),
                                      std::chrono::hours(24 * 7));
    }
    if (auto t = it->find("timeout"); t != it->end()) {
      rule.timeout = CompileBoundedDuration(*t, "/debounce/timeout", std::chrono::seconds(1),
                                            std::chrono::hours(24 * 7));
      if (rule.timeout && period && *rule.timeout < *period) {
        ReportAtValue("/debounce/timeout",
                      "debounce timeout " + FormatDuration(*rule.timeout) +
                          " is shorter than its period " + FormatDuration(*period),
                      "flow-control", "the timeout bounds how long a burst may put the run off");
      }
    }
    rule.key = CompileKey(*it, "/debounce");
    if (period) {
      rule.period = *period;
      control.debounce = std::move(rule);
    }
  }
  if (auto it = doc.find("batch"); it != doc.end() && it->is_object()) {
    BatchRule rule;
    auto size = it->find("max_size");
    std::optional<Duration> timeout;
    if (auto t = it->find("timeout"); t != it->end()) {
      timeout = CompileBoundedDuration(*t, "/batch/timeout", std::chrono::seconds(1),
                                       std::chrono::hours(1));
    }
    rule.key = CompileKey(*it, "/batch");
    if (timeout && size != it->end() && size->is_number_integer() && size->get<int>() >= 1) {
      rule.max_size = size->get<int>();
      rule.timeout = *timeout;
      control.batch = std::move(rule);
    }
  }
  if (auto it = doc.find("priority"); it != doc.end() && it->is_object()) {
    Scope event_scope;
    if (auto run = it->find("run"); run != it->end()) {
      control.priority = CompileBare(*run, "/priority/run", event_scope);
    }
  }
  if (auto it = doc.find("singleton"); it != doc.end() && it->is_object()) {
    SingletonRule rule;
    auto mode = it->find("mode");
    if (mode != it->end() && mode->is_string() && (*mode == "skip" || *mode == "cancel")) {
      rule.mode = *mode == "cancel" ? SingletonRule::Mode::kCancel : SingletonRule::Mode::kSkip;
      rule.key = CompileKey(*it, "/singleton");
      control.singleton = std::move(rule);
    }
  }
  // A batch run stands for many events: keys that decide per event do not combine with it.
  if (doc.contains("batch")) {
    for (const char* other : {"debounce", "rate_limit", "singleton", "idempotency"}) {
      if (!doc.contains(other)) continue;
      ReportAtKey(std::string("/") + other,
                  std::string("`") + other + "` cannot be combined with `batch`", "flow-control",
                  "a batched run stands for many events; decide per event before batching");
    }
  }
}

CompiledFlow FlowCompiler::Run() {
  CompiledFlow result;
  if (HasErrors(doc_.diagnostics)) {
    result.diagnostics = doc_.diagnostics;
    return result;
  }
  diagnostics_ = doc_.diagnostics;  // warnings, if any
  const Json& doc = doc_.document;
  auto program = std::make_shared<Program>();
  program->source_path = doc_.source.path();
  if (!options_.diagnostics_only) {
    program->document = doc;
    program->revision = RevisionOf(doc);
  }
  if (auto id = doc.find("id"); id != doc.end() && id->is_string()) program->flow_id = *id;
  if (auto d = doc.find("description"); d != doc.end() && d->is_string()) {
    program->description = *d;
  }

  const Json empty_list = Json::array();
  const Json& steps = doc.contains("steps") ? doc["steps"] : empty_list;
  CollectNames(steps, "/steps");
  if (doc.contains("on_failure")) CollectNames(doc["on_failure"], "/on_failure");

  if (auto on = doc.find("on"); on != doc.end()) CompileTriggers(*on, *program);
  CompileFlowOptions(doc, *program);
  Scope scope;
  scope.allow_events = program->flow_control.batch.has_value();
  program->steps = CompileSteps(steps, "/steps", scope);
  if (auto on_failure = doc.find("on_failure"); on_failure != doc.end()) {
    Scope failure_scope;
    failure_scope.allow_error = true;
    failure_scope.allow_events = scope.allow_events;
    for (const auto& id : all_step_ids_) failure_scope.visible_steps.insert(id);
    program->on_failure = CompileSteps(*on_failure, "/on_failure", failure_scope);
  }
  program->registers_waits = !program->cancel_on.empty();
  auto note_waits = [&](const CompiledStep& step) {
    if (step.kind == StepKind::kWaitForEvent) program->registers_waits = true;
  };
  ForEachStep(program->steps, note_waits);
  ForEachStep(program->on_failure, note_waits);

  // Schema violations, except where a semantic check already said something more precise.
  for (const auto& violation : SchemaValidator::ForFlows().Validate(doc)) {
    if (reported_pointers_.count(violation.pointer)) continue;
    SourcePos pos = violation.points_at_key ? doc_.positions.KeyPosition(violation.pointer)
                                            : doc_.positions.ValuePosition(violation.pointer);
    diagnostics_.push_back({doc_.source.path(), pos, Severity::kError, violation.message,
                            violation.rule, violation.hint});
  }
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(), [](const auto& a, const auto& b) {
    return std::pair(a.pos.line, a.pos.column) < std::pair(b.pos.line, b.pos.column);
  });
  result.diagnostics = std::move(diagnostics_);
  if (!HasErrors(result.diagnostics) && !options_.diagnostics_only) {
    result.program = std::move(program);
  }
  return result;
}

}  // namespace

std::vector<std::string> StepActionKeys(const std::vector<std::string>& action_names) {
  std::vector<std::string> keys = action_names.empty() ? SchemaActionNames() : action_names;
  std::vector<std::string> internal = StepKinds::BuiltIn().Keys(StepCategory::kInternal);
  keys.insert(keys.end(), internal.begin(), internal.end());
  return keys;
}

std::vector<std::string> StepControlKeys() {
  return StepKinds::BuiltIn().Keys(StepCategory::kControl);
}

CompiledFlow CompileFlow(const LoadedDocument& document, const CompileOptions& options) {
  return FlowCompiler(document, options).Run();
}

}  // namespace flowrun
