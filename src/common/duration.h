// Durations as written in flows: "500ms", "30s", "15m", "72h", "7d", combined as "1h30m".
// Units: ms, s, m, h, d (a day is 24 h; there is no month or year). Thread-safe, pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace flowrun {

using Duration = std::chrono::milliseconds;

// The longest duration a flow may name: 10 years. Longer values are rejected as out of range.
inline constexpr Duration kMaxDuration = std::chrono::hours(24 * 3660);

// Parses a duration. Each unit may appear at most once and in decreasing order ("1h30m", not
// "30m1h"); "0s" is valid. Errors are kInvalidArgument with a message suitable for a user.
StatusOr<Duration> ParseDuration(std::string_view text);

// Formats a duration in the same notation, largest units first: 5400000ms -> "1h30m".
std::string FormatDuration(Duration d);

}  // namespace flowrun
