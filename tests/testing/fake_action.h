// FakeAction: an Action for engine tests. It records every request and answers from a script of
// results, then with a default output ({"echo": arguments, "key": idempotency key}).
//
// Thread-safety: safe to call from many threads.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "actions/action.h"

namespace flowrun::testing {

class FakeAction final : public Action {
 public:
  explicit FakeAction(std::string name) : name_(std::move(name)) {}
  FakeAction(const FakeAction&) = delete;
  FakeAction& operator=(const FakeAction&) = delete;

  std::string_view name() const override { return name_; }
  void Start(ActionRequest request, ActionCallback done) override;

  // Queues the result of the next call.
  void Script(StatusOr<Json> result);
  std::vector<ActionRequest> requests() const;
  int calls() const;

 private:
  const std::string name_;
  mutable std::mutex mu_;
  std::deque<StatusOr<Json>> script_;    // GUARDED_BY(mu_)
  std::vector<ActionRequest> requests_;  // GUARDED_BY(mu_)
};

}  // namespace flowrun::testing
