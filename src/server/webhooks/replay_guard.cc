#include "server/webhooks/replay_guard.h"

namespace flowrun {

ReplayGuard::ReplayGuard(const Clock& clock, size_t capacity)
    : clock_(clock), capacity_(capacity) {}

void ReplayGuard::DropExpired(TimePoint now) {
  while (!expiries_.empty() && expiries_.begin()->first < now) {
    keys_.erase(expiries_.begin()->second);
    expiries_.erase(expiries_.begin());
  }
}

Status ReplayGuard::Admit(std::string_view key, TimePoint remember_until) {
  if (key.empty()) return OkStatus();
  TimePoint now = clock_.Now();
  MutexLock lock(mu_);
  DropExpired(now);
  std::string owned(key);
  if (keys_.count(owned) != 0) {
    return AlreadyExistsError("webhook delivery already received (replay)");
  }
  if (remember_until < now) return OkStatus();
  if (keys_.size() >= capacity_) {
    return ResourceExhaustedError("too many recent webhook deliveries to guard against replays");
  }
  auto expiry = expiries_.emplace(remember_until, owned);
  keys_.emplace(std::move(owned), expiry);
  return OkStatus();
}

void ReplayGuard::Forget(std::string_view key) {
  MutexLock lock(mu_);
  auto it = keys_.find(std::string(key));
  if (it == keys_.end()) return;
  expiries_.erase(it->second);
  keys_.erase(it);
}

size_t ReplayGuard::size() const {
  MutexLock lock(mu_);
  return keys_.size();
}

}  // namespace flowrun
