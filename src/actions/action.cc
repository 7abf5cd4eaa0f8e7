#include "actions/action.h"

#include <condition_variable>
#include <optional>

#include "common/thread_annotations.h"

namespace flowrun {

StatusOr<Json> Action::Execute(ActionRequest request) {
  Mutex mu;
  std::condition_variable cv;
  std::optional<StatusOr<Json>> outcome;
  Start(std::move(request), [&](ActionRequest, StatusOr<Json> result) {
    MutexLock lock(mu);
    outcome.emplace(std::move(result));
    cv.notify_one();
  });
  MutexLock lock(mu);
  lock.Wait(cv, [&] { return outcome.has_value(); });
  return std::move(*outcome);
}

}  // namespace flowrun
