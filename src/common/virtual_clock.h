// VirtualClock: a clock that stands still until told to jump forward, for running flows in
// virtual time (`flowrun run --virtual-time`, `flowrun test`): a driver moves it straight to the
// next due time, so a 48 h wait takes no real time.
//
// Thread-safety: Now and AdvanceTo may be called from many threads; time never goes backwards.
#pragma once

#include <atomic>

#include "common/clock.h"

namespace flowrun {

class VirtualClock final : public Clock {
 public:
  // Starts at `start`.
  explicit VirtualClock(TimePoint start) : now_ms_(ToUnixMillis(start)) {}
  TimePoint Now() const override { return FromUnixMillis(now_ms_.load()); }
  // Moves to `t`; a time at or before the current one changes nothing.
  void AdvanceTo(TimePoint t) {
    long long target = ToUnixMillis(t);
    long long current = now_ms_.load();
    while (target > current && !now_ms_.compare_exchange_weak(current, target)) {
    }
  }

 private:
  std::atomic<long long> now_ms_;
};

}  // namespace flowrun
