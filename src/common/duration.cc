#include "common/duration.h"

#include <array>
#include <cctype>

namespace flowrun {
namespace {

struct Unit {
  std::string_view suffix;
  long long ms;
};
// Ordered from largest to smallest; "ms" must be tried before "m" when reading a suffix.
constexpr std::array<Unit, 5> kUnits = {
    {{"d", 86'400'000LL}, {"h", 3'600'000LL}, {"m", 60'000LL}, {"s", 1'000LL}, {"ms", 1LL}}};

Status Invalid(std::string_view text, std::string_view why) {
  return InvalidArgumentError("invalid duration \"" + std::string(text) +
                              "\": " + std::string(why) +
                              " (use forms like 500ms, 30s, 15m, 72h, 7d, 1h30m)");
}

}  // namespace

StatusOr<Duration> ParseDuration(std::string_view text) {
  if (text.empty()) return Invalid(text, "it is empty");
  long long total = 0;
  size_t pos = 0;
  int last_unit = -1;
  while (pos < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[pos]))) {
      return Invalid(text, "expected a number at position " + std::to_string(pos + 1));
    }
    long long number = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      number = number * 10 + (text[pos] - '0');
      if (number > kMaxDuration.count()) return Invalid(text, "it is longer than 10 years");
      ++pos;
    }
    size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    std::string_view suffix = text.substr(unit_start, pos - unit_start);
    if (suffix.empty()) return Invalid(text, "a number needs a unit");
    int unit = -1;
    for (size_t i = 0; i < kUnits.size(); ++i) {
      if (kUnits[i].suffix == suffix) unit = static_cast<int>(i);
    }
    if (unit < 0) return Invalid(text, "unknown unit \"" + std::string(suffix) + "\"");
    if (unit <= last_unit) return Invalid(text, "units must appear once, largest first");
    last_unit = unit;
    if (number > kMaxDuration.count() / kUnits[unit].ms) {
      return Invalid(text, "it is longer than 10 years");
    }
    total += number * kUnits[unit].ms;
    if (total > kMaxDuration.count()) return Invalid(text, "it is longer than 10 years");
  }
  return Duration(total);
}

std::string FormatDuration(Duration d) {
  long long remaining = d.count();
  if (remaining == 0) return "0s";
  std::string out;
  if (remaining < 0) {
    out = "-";
    remaining = -remaining;
  }
  for (const Unit& unit : kUnits) {
    if (remaining >= unit.ms) {
      out += std::to_string(remaining / unit.ms);
      out += unit.suffix;
      remaining %= unit.ms;
    }
  }
  return out;
}

}  // namespace flowrun
