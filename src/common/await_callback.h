// AwaitCallback: the synchronous form of an asynchronous call.
//
// - `start(done)` begins the call and hands it `done`; the call invokes `done(value)` once, from
//   any thread, possibly before `start` returns.
// - AwaitCallback blocks the calling thread until then and returns the value.
// - For the blocking wrappers of asynchronous APIs (Action::Execute, Database::Execute) that tools
//   and tests use; the engine itself never waits this way.
#pragma once

#include <condition_variable>
#include <optional>
#include <utility>

#include "common/thread_annotations.h"

namespace flowrun {

template <class T, class Start>
T AwaitCallback(Start start) {
  Mutex mu;
  std::condition_variable cv;
  std::optional<T> outcome;
  start([&](T value) {
    MutexLock lock(mu);
    outcome.emplace(std::move(value));
    cv.notify_one();
  });
  MutexLock lock(mu);
  lock.Wait(cv, [&] { return outcome.has_value(); });
  return std::move(*outcome);
}

}  // namespace flowrun
