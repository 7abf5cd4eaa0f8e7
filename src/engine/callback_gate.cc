#include "engine/callback_gate.h"

namespace flowrun {

bool CallbackGate::Enter() {
  MutexLock lock(mu_);
  if (!open_) return false;
  ++inside_;
  return true;
}

void CallbackGate::Leave() {
  MutexLock lock(mu_);
  if (--inside_ == 0 && !open_) all_left_.notify_all();
}

void CallbackGate::Close() {
  MutexLock lock(mu_);
  open_ = false;
  lock.Wait(all_left_, [this]() FLOWRUN_REQUIRES(mu_) { return inside_ == 0; });
}

}  // namespace flowrun
