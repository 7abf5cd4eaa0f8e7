#include "actions/action.h"

#include <utility>

#include "common/await_callback.h"

namespace flowrun {

StatusOr<Json> Action::Execute(ActionRequest request) {
  return AwaitCallback<StatusOr<Json>>([&](auto done) {
    Start(std::move(request),
          [done](ActionRequest, StatusOr<Json> result) { done(std::move(result)); });
  });
}

}  // namespace flowrun
