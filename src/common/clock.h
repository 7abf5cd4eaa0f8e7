// Clock: where the engine and the service read the time. The real clock is SystemClock; tests and
// virtual-time runs use SimulatedClock (common/simulated_clock.h), which moves only when told to.
//
// Thread-safety: implementations must be safe to call from many threads.
#pragma once

#include <chrono>

#include "common/timestamp.h"

namespace flowrun {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimePoint Now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
};

}  // namespace flowrun
