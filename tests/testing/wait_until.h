// WaitUntil: the one bounded wait of the tests. Polls `condition` every `poll` until it holds or
// `patience` has passed, and says which. Tests assert on the answer, so a condition that never
// comes true fails the test after `patience` instead of hanging it until ctest's timeout.
#pragma once

#include <chrono>
#include <thread>

namespace flowrun::testing {

inline constexpr std::chrono::milliseconds kDefaultPatience{30'000};

template <typename Condition>
[[nodiscard]] bool WaitUntil(Condition&& condition,
                             std::chrono::milliseconds patience = kDefaultPatience,
                             std::chrono::milliseconds poll = std::chrono::milliseconds(1)) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace flowrun::testing
