// SimulatedClock: a Clock that stands still until told to move, so that a 72 h sleep takes no real
// time. `flowrun run --virtual-time` and `flowrun test` move it straight to the next due time;
// tests move it by hand.
//
// - Starts at 2024-01-01T00:00:00Z unless given a start.
// - Time never goes backwards: AdvanceTo a time at or before now changes nothing.
// - MoveOnEveryRead makes each Now() move the clock first, as a real clock moves between two
//   readings (for tests of code that reads the time more than once).
//
// Thread-safety: Now, Advance and AdvanceTo may be called from many threads at once.
#pragma once

#include <atomic>

#include "common/clock.h"

namespace flowrun {

class SimulatedClock final : public Clock {
 public:
  SimulatedClock();
  explicit SimulatedClock(TimePoint start) : now_ms_(ToUnixMillis(start)) {}
  SimulatedClock(const SimulatedClock&) = delete;
  SimulatedClock& operator=(const SimulatedClock&) = delete;

  TimePoint Now() const override {
    const long long step = step_ms_.load();
    return FromUnixMillis(step ? now_ms_.fetch_add(step) + step : now_ms_.load());
  }
  // Moves forward by `d`. REQUIRES: d >= 0.
  void Advance(Duration d) { now_ms_.fetch_add(d.count()); }
  // Moves to `t` if it is later than now.
  void AdvanceTo(TimePoint t);
  // From now on, every Now() moves the clock by `step` before reading it. Zero: stands still.
  // REQUIRES: step >= 0.
  void MoveOnEveryRead(Duration step) { step_ms_.store(step.count()); }

 private:
  mutable std::atomic<long long> now_ms_;
  std::atomic<long long> step_ms_{0};
};

}  // namespace flowrun
