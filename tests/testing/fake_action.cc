#include "testing/fake_action.h"

#include <algorithm>
#include <random>

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
    if (hold_) {
      held_.emplace_back(std::move(request), std::move(result), std::move(done));
      return;
    }
  }
  done(std::move(request), std::move(result));
}

void FakeAction::Hold(bool held) {
  std::lock_guard lock(mu_);
  hold_ = held;
}

int FakeAction::ReleaseHeld(int max, uint64_t shuffle_seed) {
  decltype(held_) answering;
  {
    std::lock_guard lock(mu_);
    if (shuffle_seed != 0) std::shuffle(held_.begin(), held_.end(), std::mt19937_64(shuffle_seed));
    const size_t n = max < 0 ? held_.size() : std::min(held_.size(), static_cast<size_t>(max));
    answering.assign(std::make_move_iterator(held_.begin()),
                     std::make_move_iterator(held_.begin() + n));
    held_.erase(held_.begin(), held_.begin() + n);
  }
  for (auto& [request, result, done] : answering) done(std::move(request), std::move(result));
  return static_cast<int>(answering.size());
}

void FakeAction::DropHeld() {
  std::lock_guard lock(mu_);
  held_.clear();
}

int FakeAction::held() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(held_.size());
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
