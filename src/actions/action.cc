#include "actions/action.h"

#include <condition_variable>
#include <mutex>
#include <optional>

namespace flowrun {

StatusOr<Json> Action::Execute(ActionRequest request) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<StatusOr<Json>> outcome;
  Start(std::move(request), [&](ActionRequest, StatusOr<Json> result) {
    std::lock_guard lock(mu);
    outcome.emplace(std::move(result));
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return outcome.has_value(); });
  return std::move(*outcome);
}

}  // namespace flowrun
