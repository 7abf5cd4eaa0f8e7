#include "engine/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace flowrun {

std::optional<Duration> NextRetryDelay(const RetryPolicy& policy, int failed_attempt,
                                       double uniform, std::optional<Duration> retry_after) {
  if (failed_attempt >= policy.attempts) return std::nullopt;
  const double cap = static_cast<double>(policy.max_delay.count());
  if (retry_after) return Duration(std::min(retry_after->count(), policy.max_delay.count()));
  const double base = static_cast<double>(policy.delay.count());
  double computed = base;
  switch (policy.backoff) {
    case RetryPolicy::Backoff::kExponential:
      computed = base * std::pow(2.0, std::min(failed_attempt - 1, 62));
      break;
    case RetryPolicy::Backoff::kLinear:
      computed = base * failed_attempt;
      break;
    case RetryPolicy::Backoff::kConstant:
      break;
  }
  computed = std::min(computed, cap);
  if (policy.jitter) computed = std::clamp(uniform, 0.0, 1.0) * computed;
  return Duration(static_cast<Duration::rep>(computed));
}

}  // namespace flowrun
