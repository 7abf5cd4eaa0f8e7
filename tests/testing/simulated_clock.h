// SimulatedClock: a Clock that moves only when a test tells it to, so a 72 h sleep takes
// microseconds. Starts at 2024-01-01T00:00:00Z unless given a start.
//
// Thread-safety: safe to read and advance from many threads.
#pragma once

#include <atomic>

#include "common/clock.h"

namespace flowrun::testing {

class SimulatedClock final : public Clock {
 public:
  SimulatedClock();
  explicit SimulatedClock(TimePoint start) : now_ms_(ToUnixMillis(start)) {}
  SimulatedClock(const SimulatedClock&) = delete;
  SimulatedClock& operator=(const SimulatedClock&) = delete;

  TimePoint Now() const override { return FromUnixMillis(now_ms_.load()); }
  void Advance(Duration d) { now_ms_.fetch_add(d.count()); }
  // Moves to `t` if it is later than now; time never goes back.
  void AdvanceTo(TimePoint t);

 private:
  std::atomic<long long> now_ms_;
};

}  // namespace flowrun::testing
