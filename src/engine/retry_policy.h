// Backoff of a failing step under its RetryPolicy (program.h): how long to wait before the next
// attempt. Pure functions; thread-safe.
#pragma once

#include <optional>

#include "common/duration.h"
#include "flow/program.h"

namespace flowrun {

// The delay before attempt `failed_attempt + 1`, after attempt `failed_attempt` (1-based) failed.
// `uniform` is a random number in [0, 1), used for full jitter (a delay uniform in
// [0, computed]). `retry_after` is a delay the failing party asked for (HTTP Retry-After); it
// replaces the computed delay, capped at the policy's max_delay. nullopt when no attempt is left.
std::optional<Duration> NextRetryDelay(const RetryPolicy& policy, int failed_attempt,
                                       double uniform,
                                       std::optional<Duration> retry_after = std::nullopt);

}  // namespace flowrun
