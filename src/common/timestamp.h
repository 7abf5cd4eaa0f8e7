// Points in time, with millisecond precision, and their RFC 3339 text form.
// Thread-safe, pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/duration.h"
#include "common/status.h"

namespace flowrun {

using TimePoint = std::chrono::sys_time<std::chrono::milliseconds>;

// Parses RFC 3339: "2024-03-01T09:30:00Z", "2024-03-01T09:30:00.250+01:00". A date alone
// ("2024-03-01") means midnight UTC. Errors are kInvalidArgument.
StatusOr<TimePoint> ParseTimestamp(std::string_view text);

// Formats as UTC RFC 3339 with milliseconds: "2024-03-01T08:30:00.250Z".
std::string FormatTimestamp(TimePoint t);

// Milliseconds since the Unix epoch, and back.
inline long long ToUnixMillis(TimePoint t) { return t.time_since_epoch().count(); }
inline TimePoint FromUnixMillis(long long ms) { return TimePoint(std::chrono::milliseconds(ms)); }

}  // namespace flowrun
