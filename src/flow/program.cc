#include "flow/program.h"

namespace flowrun {

bool EventTrigger::Matches(std::string_view event_name) const {
  if (!event.empty() && event.back() == '*') {
    std::string_view prefix = std::string_view(event).substr(0, event.size() - 1);
    return event_name.substr(0, prefix.size()) == prefix;
  }
  return event_name == event;
}

void ForEachStep(const CompiledStep& step, const std::function<void(const CompiledStep&)>& visit) {
  visit(step);
  ForEachStep(step.on_error.handler, visit);
  for (const SwitchCase& c : step.cases) ForEachStep(c.steps, visit);
  ForEachStep(step.default_steps, visit);
  for (const auto& [name, branch] : step.branches) ForEachStep(branch, visit);
  ForEachStep(step.body, visit);
}

void ForEachStep(const StepList& steps, const std::function<void(const CompiledStep&)>& visit) {
  for (const CompiledStep& step : steps) ForEachStep(step, visit);
}

}  // namespace flowrun
