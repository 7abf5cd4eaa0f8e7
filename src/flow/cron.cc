#include "flow/cron.h"

#include <date/date.h>
#include <date/tz.h>

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <exception>
#include <utility>
#include <vector>

namespace flowrun {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

constexpr std::array<std::string_view, 12> kMonthNames = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                          "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<std::string_view, 7> kDayNames = {"SUN", "MON", "TUE", "WED",
                                                       "THU", "FRI", "SAT"};

// One of the five fields. `names`, when set, spells the values from `min` upwards.
struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  const std::string_view* names = nullptr;
  size_t name_count = 0;
  std::string_view name_hint = "";
};

constexpr FieldSpec kMinute{"minute", 0, 59};
constexpr FieldSpec kHour{"hour", 0, 23};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31};
constexpr FieldSpec kMonth{"month", 1, 12, kMonthNames.data(), kMonthNames.size(), "JAN-DEC"};
// 7 is accepted as a second spelling of Sunday and folded into 0 after parsing.
constexpr FieldSpec kDayOfWeek{"day-of-week", 0, 7, kDayNames.data(), kDayNames.size(), "SUN-SAT"};

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr std::array<Macro, 7> kMacros = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

// A field's values as bits (bit i = value i), and whether it started with `*`.
struct ParsedField {
  uint64_t bits = 0;
  bool star = false;
  int star_step = 1;
};

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = s.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, end - start));
    start = end + 1;
  }
}

std::vector<std::string_view> SplitFields(std::string_view s) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < s.size()) {
    while (pos < s.size() && IsSpace(s[pos])) ++pos;
    size_t start = pos;
    while (pos < s.size() && !IsSpace(s[pos])) ++pos;
    if (pos > start) fields.push_back(s.substr(start, pos - start));
  }
  return fields;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Parses and range-checks one value: a number, or a name when the field has names.
StatusOr<int> ParseValue(const FieldSpec& spec, std::string_view token) {
  bool all_digits = !token.empty();
  for (char c : token) {
    if (!std::isdigit(static_cast<unsigned char>(c))) all_digits = false;
  }
  if (all_digits) {
    int value = 0;
    auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (ec != std::errc() || value < spec.min || value > spec.max) {
      return InvalidArgumentError(std::string(spec.name) + " " + std::string(token) +
                                  " is out of range " + std::to_string(spec.min) + "-" +
                                  std::to_string(spec.max));
    }
    return value;
  }
  if (spec.names != nullptr) {
    std::string upper = Upper(token);
    for (size_t i = 0; i < spec.name_count; ++i) {
      if (spec.names[i] == upper)
        return spec.min == 0 ? static_cast<int>(i) : static_cast<int>(i) + 1;
    }
    std::string kind = spec.name == "month" ? "month" : "day";
    return InvalidArgumentError(std::string(spec.name) + " \"" + std::string(token) +
                                "\" is not a number or a " + kind + " name (" +
                                std::string(spec.name_hint) + ")");
  }
  return InvalidArgumentError(std::string(spec.name) + " \"" + std::string(token) +
                              "\" is not a number");
}

StatusOr<int> ParseStep(const FieldSpec& spec, std::string_view token) {
  bool all_digits = !token.empty();
  for (char c : token) {
    if (!std::isdigit(static_cast<unsigned char>(c))) all_digits = false;
  }
  if (!all_digits) {
    return InvalidArgumentError(std::string(spec.name) + " step \"" + std::string(token) +
                                "\" is not a number");
  }
  int step = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), step);
  int span = spec.max - spec.min + 1;
  if (ec != std::errc() || step < 1 || step > span) {
    return InvalidArgumentError(std::string(spec.name) + " step " + std::string(token) +
                                " is out of range 1-" + std::to_string(span));
  }
  return step;
}

// Parses one list item: `*`, `v`, `a-b`, each optionally followed by `/step`.
StatusOr<ParsedField> ParseItem(const FieldSpec& spec, std::string_view item) {
  if (item.empty()) {
    return InvalidArgumentError(std::string(spec.name) + " has an empty list item");
  }
  std::vector<std::string_view> slash = Split(item, '/');
  if (slash.size() > 2) {
    return InvalidArgumentError(std::string(spec.name) + " \"" + std::string(item) +
                                "\" has more than one step");
  }
  std::string_view base = slash[0];
  int step = 1;
  if (slash.size() == 2) {
    ASSIGN_OR_RETURN(step, ParseStep(spec, slash[1]));
  }
  ParsedField field;
  int low = 0;
  int high = 0;
  if (base == "*") {
    low = spec.min;
    high = spec.max;
    field.star = true;
    field.star_step = step;
  } else if (size_t dash = base.find('-'); dash != std::string_view::npos) {
    std::string_view first = base.substr(0, dash);
    std::string_view last = base.substr(dash + 1);
    if (first.empty() || last.empty()) {
      return InvalidArgumentError(std::string(spec.name) + " range \"" + std::string(base) +
                                  "\" needs a start and an end");
    }
    ASSIGN_OR_RETURN(low, ParseValue(spec, first));
    ASSIGN_OR_RETURN(high, ParseValue(spec, last));
    if (low > high) {
      return InvalidArgumentError(std::string(spec.name) + " range \"" + std::string(base) +
                                  "\" runs backwards; its start must not exceed its end");
    }
  } else {
    ASSIGN_OR_RETURN(low, ParseValue(spec, base));
    // `5/15` means from 5 to the end of the field in steps of 15.
    high = slash.size() == 2 ? spec.max : low;
  }
  for (int v = low; v <= high; v += step) field.bits |= uint64_t{1} << v;
  return field;
}

StatusOr<ParsedField> ParseField(const FieldSpec& spec, std::string_view text) {
  ParsedField result;
  std::vector<std::string_view> items = Split(text, ',');
  for (size_t i = 0; i < items.size(); ++i) {
    ASSIGN_OR_RETURN(ParsedField item, ParseItem(spec, items[i]));
    result.bits |= item.bits;
    // Vixie cron looks only at the field's first character to decide whether it is restricted.
    if (i == 0) {
      result.star = item.star;
      result.star_step = item.star_step;
    }
  }
  return result;
}

// The values `*/step` selects in a field.
uint64_t StarBits(const FieldSpec& spec, int step) {
  uint64_t bits = 0;
  for (int v = spec.min; v <= spec.max; v += step) bits |= uint64_t{1} << v;
  return bits;
}

uint64_t FoldSunday(uint64_t day_of_week_bits) {
  if (day_of_week_bits & (uint64_t{1} << 7)) day_of_week_bits = (day_of_week_bits | 1) & 0x7f;
  return day_of_week_bits;
}

// Writes the values of `bits` between min and max as sorted runs: "1-5,7,10-12".
std::string RenderRuns(uint64_t bits, int min, int max) {
  std::string out;
  int v = min;
  while (v <= max) {
    if (!(bits & (uint64_t{1} << v))) {
      ++v;
      continue;
    }
    int end = v;
    while (end + 1 <= max && (bits & (uint64_t{1} << (end + 1)))) ++end;
    if (!out.empty()) out += ',';
    out += std::to_string(v);
    if (end > v) out += "-" + std::to_string(end);
    v = end + 1;
  }
  return out;
}

// Canonical text of a field whose star flag does not affect matching (minute, hour, month).
std::string RenderPlainField(uint64_t bits, int min, int max) {
  FieldSpec spec{"", min, max};
  if (bits == StarBits(spec, 1)) return "*";
  for (int step = 2; step <= max - min; ++step) {
    if (bits == StarBits(spec, step)) return "*/" + std::to_string(step);
  }
  return RenderRuns(bits, min, max);
}

// Canonical text of day-of-month or day-of-week, where a leading `*` changes day matching and
// therefore must survive a round trip, and where its absence must too.
// `render_max` is 6 for day-of-week, whose 7 has been folded into 0.
std::string RenderDayField(uint64_t bits, bool star, int star_step, const FieldSpec& spec,
                           int render_max) {
  if (!star) return RenderRuns(bits, spec.min, render_max);
  uint64_t star_bits = StarBits(spec, star_step);
  if (render_max < spec.max) star_bits = FoldSunday(star_bits);
  std::string out = star_step == 1 ? "*" : "*/" + std::to_string(star_step);
  std::string rest = RenderRuns(bits & ~star_bits, spec.min, render_max);
  if (!rest.empty()) out += "," + rest;
  return out;
}

Status CronError(std::string_view expr, const Status& status) {
  return InvalidArgumentError("cron \"" + std::string(expr) + "\": " + status.message());
}

StatusOr<const date::time_zone*> LocateZone(std::string_view name) {
  if (name == "UTC") return static_cast<const date::time_zone*>(nullptr);
  std::string unknown = "unknown time zone \"" + std::string(name) + "\"";
  if (name.empty()) return InvalidArgumentError(unknown);
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return InvalidArgumentError(unknown);
  }
}

}  // namespace

Status CronSchedule::ValidateTimeZone(std::string_view timezone) {
  StatusOr<const date::time_zone*> zone = LocateZone(timezone);
  return zone.ok() ? OkStatus() : zone.status();
}

StatusOr<CronSchedule> CronSchedule::Parse(std::string_view expr, std::string_view timezone) {
  std::string_view text = Trim(expr);
  std::string expanded;
  if (!text.empty() && text.front() == '@') {
    std::string lower(text);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const Macro& macro : kMacros) {
      if (macro.name == lower) expanded = std::string(macro.expansion);
    }
    if (expanded.empty()) {
      return InvalidArgumentError(
          "cron \"" + std::string(expr) + "\": unknown macro \"" + std::string(text) +
          "\" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)");
    }
    text = expanded;
  }

  std::vector<std::string_view> fields = SplitFields(text);
  if (fields.size() != 5) {
    std::string hint =
        fields.size() == 6 || fields.size() == 7 ? "; seconds and years are not supported" : "";
    return InvalidArgumentError("cron \"" + std::string(expr) +
                                "\": expected 5 fields (minute hour day-of-month month "
                                "day-of-week), got " +
                                std::to_string(fields.size()) + hint);
  }

  CronSchedule schedule;
  const std::array<const FieldSpec*, 5> specs = {&kMinute, &kHour, &kDayOfMonth, &kMonth,
                                                 &kDayOfWeek};
  std::array<ParsedField, 5> parsed;
  for (size_t i = 0; i < specs.size(); ++i) {
    StatusOr<ParsedField> field = ParseField(*specs[i], fields[i]);
    if (!field.ok()) return CronError(expr, field.status());
    parsed[i] = *field;
  }
  schedule.minutes_ = std::bitset<60>(parsed[0].bits);
  schedule.hours_ = std::bitset<24>(parsed[1].bits);
  schedule.days_of_month_ = std::bitset<32>(parsed[2].bits);
  schedule.months_ = std::bitset<13>(parsed[3].bits);
  schedule.days_of_week_ = std::bitset<7>(FoldSunday(parsed[4].bits));
  schedule.day_of_month_star_ = parsed[2].star;
  schedule.day_of_month_star_step_ = parsed[2].star_step;
  schedule.day_of_week_star_ = parsed[4].star;
  schedule.day_of_week_star_step_ = parsed[4].star_step;

  ASSIGN_OR_RETURN(schedule.zone_, LocateZone(timezone));
  schedule.timezone_name_ = std::string(timezone);
  return schedule;
}

bool CronSchedule::MatchesDay(unsigned month, unsigned day, unsigned weekday) const {
  if (!months_[month]) return false;
  bool dom = days_of_month_[day];
  bool dow = days_of_week_[weekday];
  if (day_of_month_star_ || day_of_week_star_) return dom && dow;
  return dom || dow;
}

std::optional<TimePoint> CronSchedule::NextAfter(TimePoint t) const {
  // Walk candidate local times in order. Each maps to an instant: directly when unique, to its
  // first occurrence in a fall-back overlap, and to the end of the gap when skipped by a
  // spring-forward. That mapping never goes backwards in time, so the first candidate after `t`
  // is the answer.
  auto to_instant = [this](date::local_time<minutes> local) -> TimePoint {
    if (zone_ == nullptr) return TimePoint(local.time_since_epoch());
    date::local_info info = zone_->get_info(local);
    if (info.result == date::local_info::nonexistent) {
      return std::chrono::time_point_cast<std::chrono::milliseconds>(info.second.begin);
    }
    return TimePoint(local.time_since_epoch() - info.first.offset);
  };

  date::local_time<minutes> start;
  if (zone_ == nullptr) {
    start = date::local_time<minutes>(date::floor<minutes>(t).time_since_epoch());
  } else {
    start = date::floor<minutes>(zone_->to_local(t));
  }
  date::local_days day = date::floor<date::days>(start);
  const date::local_days last_day = day + date::days(366 * kSearchYears);
  for (; day <= last_day; day += date::days(1)) {
    date::year_month_day ymd(day);
    date::weekday weekday(day);
    if (!MatchesDay(static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                    weekday.c_encoding())) {
      continue;
    }
    for (int h = 0; h < 24; ++h) {
      if (!hours_[h]) continue;
      for (int m = 0; m < 60; ++m) {
        if (!minutes_[m]) continue;
        date::local_time<minutes> local = day + hours(h) + minutes(m);
        if (local < start) continue;
        TimePoint instant = to_instant(local);
        if (instant > t) return instant;
      }
    }
  }
  return std::nullopt;
}

std::string CronSchedule::ToString() const {
  std::string out;
  out += RenderPlainField(minutes_.to_ullong(), kMinute.min, kMinute.max);
  out += ' ';
  out += RenderPlainField(hours_.to_ullong(), kHour.min, kHour.max);
  out += ' ';
  out += RenderDayField(days_of_month_.to_ullong(), day_of_month_star_, day_of_month_star_step_,
                        kDayOfMonth, kDayOfMonth.max);
  out += ' ';
  out += RenderPlainField(months_.to_ullong(), kMonth.min, kMonth.max);
  out += ' ';
  out += RenderDayField(days_of_week_.to_ullong(), day_of_week_star_, day_of_week_star_step_,
                        kDayOfWeek, 6);
  return out;
}

}  // namespace flowrun
