#include "common/timestamp.h"

#include <date/date.h>

#include <cctype>
#include <optional>
#include <string>

namespace flowrun {
namespace {

// Reads exactly `width` digits at `pos`, advancing it; -1 when they are not all digits.
int ReadDigits(std::string_view text, size_t& pos, size_t width) {
  if (pos + width > text.size()) return -1;
  int value = 0;
  for (size_t i = 0; i < width; ++i) {
    char c = text[pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return -1;
    value = value * 10 + (c - '0');
  }
  pos += width;
  return value;
}

bool Expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

// Parses the RFC 3339 grammar; nullopt on any deviation.
std::optional<TimePoint> ParseRfc3339(std::string_view text) {
  size_t pos = 0;
  int year = ReadDigits(text, pos, 4);
  if (year < 0 || !Expect(text, pos, '-')) return std::nullopt;
  int month = ReadDigits(text, pos, 2);
  if (month < 0 || !Expect(text, pos, '-')) return std::nullopt;
  int day = ReadDigits(text, pos, 2);
  if (day < 0) return std::nullopt;
  date::year_month_day ymd{date::year(year), date::month(static_cast<unsigned>(month)),
                           date::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  date::sys_days days(ymd);
  if (pos == text.size()) return TimePoint(days);

  if (pos >= text.size() || (text[pos] != 'T' && text[pos] != 't')) return std::nullopt;
  ++pos;
  int hour = ReadDigits(text, pos, 2);
  if (hour < 0 || hour > 23 || !Expect(text, pos, ':')) return std::nullopt;
  int minute = ReadDigits(text, pos, 2);
  if (minute < 0 || minute > 59 || !Expect(text, pos, ':')) return std::nullopt;
  int second = ReadDigits(text, pos, 2);
  if (second < 0 || second > 59) return std::nullopt;
  // Any number of fraction digits; precision beyond milliseconds is truncated.
  int millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (size_t i = digits; i < 3; ++i) millis *= 10;
  }
  if (pos >= text.size()) return std::nullopt;  // RFC 3339 requires a zone.
  std::chrono::minutes offset{0};
  char zone = text[pos++];
  if (zone == '+' || zone == '-') {
    int offset_hours = ReadDigits(text, pos, 2);
    if (offset_hours < 0 || offset_hours > 23 || !Expect(text, pos, ':')) return std::nullopt;
    int offset_minutes = ReadDigits(text, pos, 2);
    if (offset_minutes < 0 || offset_minutes > 59) return std::nullopt;
    offset = std::chrono::minutes(offset_hours * 60 + offset_minutes);
    if (zone == '-') offset = -offset;
  } else if (zone != 'Z' && zone != 'z') {
    return std::nullopt;
  }
  if (pos != text.size()) return std::nullopt;
  // The local time minus its offset from UTC is the UTC time.
  return TimePoint(days) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second) + std::chrono::milliseconds(millis) - offset;
}

}  // namespace

StatusOr<TimePoint> ParseTimestamp(std::string_view text) {
  if (text.size() > 64) return InvalidArgumentError("invalid timestamp: too long");
  if (std::optional<TimePoint> t = ParseRfc3339(text)) return *t;
  return InvalidArgumentError("invalid timestamp \"" + std::string(text) +
                              "\": expected RFC 3339 such as 2024-03-01T09:30:00Z");
}

std::string FormatTimestamp(TimePoint t) {
  // Hand-rolled: this runs for every run and journal entry, and date::format goes through
  // iostreams (about 30x slower). Years outside 0000..9999 fall back to date::format.
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) return date::format("%FT%TZ", t);
  long long ms = (t - day).count();
  const unsigned month = static_cast<unsigned>(ymd.month());
  const unsigned mday = static_cast<unsigned>(ymd.day());
  const int millis = static_cast<int>(ms % 1000);
  const int seconds = static_cast<int>(ms / 1000 % 60);
  const int minutes = static_cast<int>(ms / 60000 % 60);
  const int hours = static_cast<int>(ms / 3600000);
  char text[25];
  auto put = [&text](int at, int value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10)
      text[at + i] = static_cast<char>('0' + value % 10);
  };
  put(0, year, 4);
  text[4] = '-';
  put(5, static_cast<int>(month), 2);
  text[7] = '-';
  put(8, static_cast<int>(mday), 2);
  text[10] = 'T';
  put(11, hours, 2);
  text[13] = ':';
  put(14, minutes, 2);
  text[16] = ':';
  put(17, seconds, 2);
  text[19] = '.';
  put(20, millis, 3);
  text[23] = 'Z';
  return std::string(text, 24);
}

}  // namespace flowrun
