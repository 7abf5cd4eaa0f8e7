// SimulatedClock: a Clock that stands still until told to move, so that a 72 h sleep takes no real
// time. `flowrun run --virtual-time` and `flowrun test` move it straight to the next due time;
// tests move it by hand.
//
// - Starts at 2024-01-01T00:00:00Z unless given a start.
// - Time never goes backwards: AdvanceTo a time at or before now changes nothing.
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

  TimePoint Now() const override { return FromUnixMillis(now_ms_.load()); }
  // Moves forward by `d`. REQUIRES: d >= 0.
  void Advance(Duration d) { now_ms_.fetch_add(d.count()); }
  // Moves to `t` if it is later than now.
  void AdvanceTo(TimePoint t);

 private:
  std::atomic<long long> now_ms_;
};

}  // namespace flowrun
