#include "common/simulated_clock.h"

namespace flowrun {

SimulatedClock::SimulatedClock() : now_ms_(1704067200000LL) {}

void SimulatedClock::AdvanceTo(TimePoint t) {
  long long target = ToUnixMillis(t);
  long long current = now_ms_.load();
  while (current < target && !now_ms_.compare_exchange_weak(current, target)) {
  }
}

}  // namespace flowrun
