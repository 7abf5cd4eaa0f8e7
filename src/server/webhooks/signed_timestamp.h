// The signed timestamps of webhook schemes (Stripe's t=, webhook-timestamp, a generic timestamp
// header): Unix seconds in decimal, accepted within a tolerance on either side of now, so that
// both a stale delivery and one dated in the future are refused.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <string_view>

#include "common/duration.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace flowrun {

// Parses Unix seconds: 1 to 12 decimal digits, nothing else. Errors are kUnauthenticated,
// "<scheme> signature: malformed timestamp in <where>".
StatusOr<TimePoint> ParseSignedTimestamp(std::string_view scheme, std::string_view where,
                                         std::string_view text);

// OK when `signed_at` is no further than `tolerance` from `now` in either direction. Otherwise
// kUnauthenticated, "<scheme> signature: timestamp outside the 300 s tolerance (412 s old)" or
// "(...in the future)".
Status CheckTimestampTolerance(std::string_view scheme, TimePoint signed_at, TimePoint now,
                               Duration tolerance);

}  // namespace flowrun
