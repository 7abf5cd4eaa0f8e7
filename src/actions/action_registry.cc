#include "actions/action_registry.h"

namespace flowrun {

Status ActionRegistry::Register(std::unique_ptr<Action> action) {
  if (frozen_) return FailedPreconditionError("the action registry is frozen");
  std::string name(action->name());
  if (actions_.count(name))
    return AlreadyExistsError("action \"" + name + "\" is registered twice");
  actions_.emplace(std::move(name), std::move(action));
  return OkStatus();
}

Action* ActionRegistry::Find(std::string_view name) const {
  auto it = actions_.find(name);
  return it == actions_.end() ? nullptr : it->second.get();
}

std::vector<std::string> ActionRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, action] : actions_) names.push_back(name);
  return names;
}

}  // namespace flowrun
