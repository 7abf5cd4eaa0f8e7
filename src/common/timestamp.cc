#include "common/timestamp.h"

#include <date/date.h>

#include <sstream>

namespace flowrun {

StatusOr<TimePoint> ParseTimestamp(std::string_view text) {
  if (text.size() > 64) return InvalidArgumentError("invalid timestamp: too long");
  std::string input(text);
  // Accept a lower-case separator and zone designator, as RFC 3339 allows.
  for (char& c : input) {
    if (c == 't') c = 'T';
    if (c == 'z') c = 'Z';
  }
  auto try_parse = [&](const char* format, bool with_offset) -> std::optional<TimePoint> {
    std::istringstream in(input);
    date::sys_time<std::chrono::milliseconds> tp;
    std::chrono::minutes offset{0};
    if (with_offset) {
      in >> date::parse(format, tp, offset);
    } else {
      in >> date::parse(format, tp);
    }
    if (in.fail()) return std::nullopt;
    in.peek();
    if (!in.eof()) return std::nullopt;
    return TimePoint(tp - offset);
  };
  if (input.size() == 10) {
    if (auto t = try_parse("%F", false)) return *t;
  } else if (!input.empty() && input.back() == 'Z') {
    input.pop_back();
    if (auto t = try_parse("%FT%T", false)) return *t;
  } else {
    if (auto t = try_parse("%FT%T%Ez", true)) return *t;
  }
  return InvalidArgumentError("invalid timestamp \"" + std::string(text) +
                              "\": expected RFC 3339 such as 2024-03-01T09:30:00Z");
}

std::string FormatTimestamp(TimePoint t) { return date::format("%FT%TZ", t); }

}  // namespace flowrun
