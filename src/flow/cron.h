// CronSchedule: a parsed five-field cron expression bound to an IANA time zone, answering "when
// does this fire next?". Used by flow triggers (`on: [{cron: "0 2 * * *", timezone: ...}]`) and by
// the validator to report bad schedules.
//
// Syntax (as in Vixie cron / cronie):
//   minute hour day-of-month month day-of-week
//   - `*`, numbers, lists (`1,15`), ranges (`1-5`), steps (`*/15`, `1-30/2`, `5/15` = `5-max/15`);
//   - month names JAN..DEC and weekday names SUN..SAT, case-insensitive, also inside ranges;
//   - day-of-week 0 and 7 are both Sunday;
//   - macros @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly.
// Day matching follows Vixie cron: when both day-of-month and day-of-week are restricted (their
// field does not start with `*`), a day matches if either matches; otherwise both must match.
//
// Times are computed in the local time of the zone. Daylight-saving transitions:
//   - a local time skipped by a spring-forward gap fires once, at the first instant after the gap
//     (as cronie runs jobs scheduled in the skipped hour);
//   - a local time that occurs twice in a fall-back overlap fires once, at its first occurrence.
//
// Thread-safety: immutable after Parse; safe to share and call from any number of threads.
#pragma once

#include <bitset>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/timestamp.h"

namespace date {
class time_zone;
}  // namespace date

namespace flowrun {

class CronSchedule {
 public:
  // How far ahead NextAfter looks before deciding that a schedule never fires. Nine years covers
  // the longest gap between two 29 Februaries (2096 -> 2104).
  static constexpr int kSearchYears = 9;

  // Parses `expr` for the IANA zone `timezone`. Errors are kInvalidArgument and name the field and
  // the offending token, e.g. `cron "0 25 * * *": hour 25 is out of range 0-23`, or
  // `unknown time zone "Mars/Olympus"`.
  [[nodiscard]] static StatusOr<CronSchedule> Parse(std::string_view expr,
                                                    std::string_view timezone = "UTC");

  // OK when `timezone` names a zone in the IANA database; otherwise kInvalidArgument.
  [[nodiscard]] static Status ValidateTimeZone(std::string_view timezone);

  // The first fire time strictly after `t`, at a whole minute. nullopt when the schedule does not
  // fire within kSearchYears (for example `0 0 30 2 *`).
  std::optional<TimePoint> NextAfter(TimePoint t) const;

  // The canonical five-field form: macros expanded, names replaced by numbers, Sunday as 0, sets
  // written as sorted ranges. Parsing it yields the same schedule. The zone is not included.
  std::string ToString() const;

  // The zone name as given to Parse.
  const std::string& timezone() const { return timezone_name_; }

  friend bool operator==(const CronSchedule& a, const CronSchedule& b) {
    return a.ToString() == b.ToString() && a.timezone_name_ == b.timezone_name_;
  }

 private:
  CronSchedule() = default;

  // True when local calendar day (year, month 1-12, day 1-31, weekday 0-6 with 0 = Sunday) matches
  // the day-of-month, month and day-of-week fields.
  bool MatchesDay(unsigned month, unsigned day, unsigned weekday) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_of_month_;  // Bits 1-31.
  std::bitset<13> months_;         // Bits 1-12.
  std::bitset<7> days_of_week_;    // Bit 0 = Sunday.
  // Whether the field started with `*`; decides between "and" and "or" day matching, and keeps
  // `*/N` in the canonical form.
  bool day_of_month_star_ = false;
  bool day_of_week_star_ = false;
  int day_of_month_star_step_ = 1;
  int day_of_week_star_step_ = 1;

  std::string timezone_name_;
  // Points into the process-wide tz database, which lives until exit. nullptr means UTC.
  const date::time_zone* zone_ = nullptr;
};

}  // namespace flowrun
