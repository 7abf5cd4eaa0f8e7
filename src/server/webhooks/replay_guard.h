// ReplayGuard: remembers the replay keys of accepted webhook deliveries until they expire, so a
// delivery received twice within its window is refused. A verifier
// (server/webhooks/webhook_verifier.h) supplies the key and how long to remember it; past that
// point its timestamp check refuses the delivery anyway.
//
// Memory is bounded: at most `capacity` keys are held. Expired keys are dropped as new ones
// arrive. When the guard is full of unexpired keys it refuses new deliveries with
// kResourceExhausted (the sender retries later) rather than forget a key early, which would let
// that delivery be replayed.
//
// Keys of different webhooks must not collide: use one guard per webhook, or prefix the keys with
// the webhook's name.
//
// Thread-safety: safe to use from many threads.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "common/timestamp.h"

namespace flowrun {

class ReplayGuard {
 public:
  static constexpr size_t kDefaultCapacity = 100000;

  // REQUIRES: capacity > 0, `clock` outlives the guard.
  explicit ReplayGuard(const Clock& clock, size_t capacity = kDefaultCapacity);
  ReplayGuard(const ReplayGuard&) = delete;
  ReplayGuard& operator=(const ReplayGuard&) = delete;

  // Records `key` until `remember_until` and returns OK, or returns kAlreadyExists if the key is
  // already held (a replay), or kResourceExhausted if the guard is full. A key whose time has
  // already passed is accepted and not recorded. An empty key (scheme none) is always accepted.
  [[nodiscard]] Status Admit(std::string_view key, TimePoint remember_until);

  // Forgets `key`, so that a delivery the service failed to process can be retried by its sender.
  void Forget(std::string_view key);

  // The number of keys held, expired ones not yet dropped included.
  size_t size() const;

 private:
  void DropExpired(TimePoint now) FLOWRUN_REQUIRES(mu_);

  const Clock& clock_;
  const size_t capacity_;
  mutable Mutex mu_;
  // key -> its entry in expiries_, and expiry -> key, soonest first.
  std::unordered_map<std::string, std::multimap<TimePoint, std::string>::iterator> keys_
      FLOWRUN_GUARDED_BY(mu_);
  std::multimap<TimePoint, std::string> expiries_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun
