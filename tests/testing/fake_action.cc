#include "testing/fake_action.h"

namespace flowrun::testing {

void FakeAction::Start(ActionRequest request, ActionCallback done) {
  StatusOr<Json> result = Json{{"echo", request.arguments}, {"key", request.idempotency_key}};
  {
    std::lock_guard lock(mu_);
    requests_.push_back(request);
    if (!script_.empty()) {
      result = std::move(script_.front());
      script_.pop_front();
    }
  }
  done(std::move(request), std::move(result));
}

void FakeAction::Script(StatusOr<Json> result) {
  std::lock_guard lock(mu_);
  script_.push_back(std::move(result));
}

std::vector<ActionRequest> FakeAction::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

int FakeAction::calls() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(requests_.size());
}

}  // namespace flowrun::testing
