#include "server/webhooks/signed_timestamp.h"

#include <chrono>
#include <string>

namespace flowrun {
namespace {

// Whole seconds, rounded up, so "1.2 s too old" never reads as "1 s old" against a 1 s tolerance.
long long CeilSeconds(Duration d) { return (d.count() + 999) / 1000; }

}  // namespace

StatusOr<TimePoint> ParseSignedTimestamp(std::string_view scheme, std::string_view where,
                                         std::string_view text) {
  // Twelve digits reach the year 33658, and keep the conversion to milliseconds from overflowing.
  bool well_formed = !text.empty() && text.size() <= 12;
  long long seconds = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      well_formed = false;
      break;
    }
    seconds = seconds * 10 + (c - '0');
  }
  if (!well_formed) {
    return UnauthenticatedError(std::string(scheme) + " signature: malformed timestamp in " +
                                std::string(where));
  }
  return FromUnixMillis(seconds * 1000);
}

Status CheckTimestampTolerance(std::string_view scheme, TimePoint signed_at, TimePoint now,
                               Duration tolerance) {
  Duration age = std::chrono::duration_cast<Duration>(now - signed_at);
  if (age <= tolerance && -age <= tolerance) return OkStatus();
  std::string message = std::string(scheme) + " signature: timestamp outside the " +
                        std::to_string(CeilSeconds(tolerance)) + " s tolerance (";
  if (age > tolerance) {
    message += std::to_string(CeilSeconds(age)) + " s old)";
  } else {
    message += std::to_string(CeilSeconds(-age)) + " s in the future)";
  }
  return UnauthenticatedError(std::move(message));
}

}  // namespace flowrun
