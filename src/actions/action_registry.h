// ActionRegistry: the explicit list of built-in actions (http, email, db, ...), built once at
// start-up: Register rejects a duplicate name, Freeze ends registration, Find looks an action up
// by the step key that selects it, and Names lists them sorted (for "did you mean").
//
// Thread-safety: Register and Freeze from one thread during start-up; after Freeze, Find and
// Names may be called from many threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "actions/action.h"
#include "common/status.h"

namespace flowrun {

class ActionRegistry {
 public:
  ActionRegistry() = default;
  ActionRegistry(const ActionRegistry&) = delete;
  ActionRegistry& operator=(const ActionRegistry&) = delete;

  // kAlreadyExists for a duplicate name, kFailedPrecondition after Freeze.
  [[nodiscard]] Status Register(std::unique_ptr<Action> action);
  void Freeze() { frozen_ = true; }
  bool frozen() const { return frozen_; }

  // nullptr when no action has that name.
  Action* Find(std::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  bool frozen_ = false;
  std::map<std::string, std::unique_ptr<Action>, std::less<>> actions_;
};

}  // namespace flowrun
