#include "engine/failpoint.h"

namespace flowrun {

Status Failpoints::Hit(std::string_view name) {
  int hit = hits_.fetch_add(1) + 1;
  if (recording_.load()) {
    MutexLock lock(mu_);
    trace_.emplace_back(name);
  }
  int armed = crash_at_.load();
  if (armed > 0 && hit == armed) {
    return AbortedError("crashed at failpoint " + std::string(name) + " (pass " +
                        std::to_string(hit) + ")");
  }
  return OkStatus();
}

void Failpoints::TEST_CrashAt(int k) {
  hits_.store(0);
  crash_at_.store(k);
}

void Failpoints::TEST_Record(bool on) { recording_.store(on); }

std::vector<std::string> Failpoints::TEST_trace() const {
  MutexLock lock(mu_);
  return trace_;
}

}  // namespace flowrun
