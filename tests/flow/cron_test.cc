#include "flow/cron.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace flowrun {
namespace {

CronSchedule Must(std::string_view expr, std::string_view timezone = "UTC") {
  StatusOr<CronSchedule> schedule = CronSchedule::Parse(expr, timezone);
  EXPECT_TRUE(schedule.ok()) << expr << ": " << schedule.status().ToString();
  if (!schedule.ok()) return *CronSchedule::Parse("* * * * *");
  return *schedule;
}

TimePoint At(std::string_view text) {
  StatusOr<TimePoint> t = ParseTimestamp(text);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : TimePoint{};
}

// The next `count` fire times after `from`, as UTC RFC 3339 strings ("none" past the last).
std::vector<std::string> Next(const CronSchedule& schedule, std::string_view from, int count = 1) {
  std::vector<std::string> out;
  TimePoint t = At(from);
  for (int i = 0; i < count; ++i) {
    std::optional<TimePoint> next = schedule.NextAfter(t);
    if (!next) {
      out.push_back("none");
      break;
    }
    out.push_back(FormatTimestamp(*next));
    t = *next;
  }
  return out;
}

std::vector<std::string> Next(std::string_view expr, std::string_view from, int count = 1,
                              std::string_view timezone = "UTC") {
  return Next(Must(expr, timezone), from, count);
}

std::string ErrorOf(std::string_view expr, std::string_view timezone = "UTC") {
  StatusOr<CronSchedule> schedule = CronSchedule::Parse(expr, timezone);
  EXPECT_FALSE(schedule.ok()) << expr << " parsed as " << schedule->ToString();
  if (schedule.ok()) return "";
  EXPECT_EQ(schedule.status().code(), StatusCode::kInvalidArgument);
  return schedule.status().message();
}

using Times = std::vector<std::string>;

// --- Syntax -----------------------------------------------------------------------------------

TEST(CronSyntaxTest, EveryMinuteIsStrictlyAfter) {
  EXPECT_EQ(
      Next("* * * * *", "2024-03-01T09:30:00Z", 3),
      (Times{"2024-03-01T09:31:00.000Z", "2024-03-01T09:32:00.000Z", "2024-03-01T09:33:00.000Z"}));
  EXPECT_EQ(Next("* * * * *", "2024-03-01T09:30:59.999Z"), (Times{"2024-03-01T09:31:00.000Z"}));
  EXPECT_EQ(Next("* * * * *", "2024-03-01T09:30:00.001Z"), (Times{"2024-03-01T09:31:00.000Z"}));
}

TEST(CronSyntaxTest, FixedTime) {
  EXPECT_EQ(Next("30 2 * * *", "2024-03-01T02:29:00Z", 2),
            (Times{"2024-03-01T02:30:00.000Z", "2024-03-02T02:30:00.000Z"}));
  EXPECT_EQ(Next("30 2 * * *", "2024-03-01T02:30:00Z"), (Times{"2024-03-02T02:30:00.000Z"}));
}

TEST(CronSyntaxTest, Lists) {
  EXPECT_EQ(Next("0,15,45 * * * *", "2024-03-01T09:00:00Z", 4),
            (Times{"2024-03-01T09:15:00.000Z", "2024-03-01T09:45:00.000Z",
                   "2024-03-01T10:00:00.000Z", "2024-03-01T10:15:00.000Z"}));
}

TEST(CronSyntaxTest, Ranges) {
  EXPECT_EQ(Next("0 9-11 * * *", "2024-03-01T08:00:00Z", 4),
            (Times{"2024-03-01T09:00:00.000Z", "2024-03-01T10:00:00.000Z",
                   "2024-03-01T11:00:00.000Z", "2024-03-02T09:00:00.000Z"}));
}

TEST(CronSyntaxTest, StarStep) {
  EXPECT_EQ(Next("*/15 * * * *", "2024-03-01T09:01:00Z", 4),
            (Times{"2024-03-01T09:15:00.000Z", "2024-03-01T09:30:00.000Z",
                   "2024-03-01T09:45:00.000Z", "2024-03-01T10:00:00.000Z"}));
  EXPECT_EQ(Next("0 */6 * * *", "2024-03-01T00:00:00Z", 4),
            (Times{"2024-03-01T06:00:00.000Z", "2024-03-01T12:00:00.000Z",
                   "2024-03-01T18:00:00.000Z", "2024-03-02T00:00:00.000Z"}));
}

TEST(CronSyntaxTest, RangeStep) {
  EXPECT_EQ(
      Next("1-10/3 * * * *", "2024-03-01T09:00:00Z", 5),
      (Times{"2024-03-01T09:01:00.000Z", "2024-03-01T09:04:00.000Z", "2024-03-01T09:07:00.000Z",
             "2024-03-01T09:10:00.000Z", "2024-03-01T10:01:00.000Z"}));
  EXPECT_EQ(Must("0 0 * * 1-5/2").ToString(), "0 0 * * 1,3,5");
}

TEST(CronSyntaxTest, ValueStepRunsToTheEndOfTheField) {
  EXPECT_EQ(Must("5/20 * * * *").ToString(), "5,25,45 * * * *");
  EXPECT_EQ(Must("0 0 * 2/3 *").ToString(), "0 0 * 2,5,8,11 *");
}

TEST(CronSyntaxTest, MonthNames) {
  EXPECT_EQ(Must("0 0 1 JAN,jul,AUG *").ToString(), "0 0 1 1,7-8 *");
  EXPECT_EQ(Must("0 0 1 JAN,jul *").ToString(), "0 0 1 */6 *");
  EXPECT_EQ(Must("0 0 1 Mar-May *").ToString(), "0 0 1 3-5 *");
  EXPECT_EQ(Must("0 0 1 JAN-DEC/3 *").ToString(), "0 0 1 */3 *");
  EXPECT_EQ(Next("0 0 1 JUL *", "2024-03-01T00:00:00Z"), (Times{"2024-07-01T00:00:00.000Z"}));
}

TEST(CronSyntaxTest, DayNames) {
  EXPECT_EQ(Must("0 9 * * MON-FRI").ToString(), "0 9 * * 1-5");
  EXPECT_EQ(Must("0 9 * * sat,Sun").ToString(), "0 9 * * 0,6");
  // 2024-03-01 is a Friday.
  EXPECT_EQ(Next("0 9 * * MON-FRI", "2024-03-01T10:00:00Z", 2),
            (Times{"2024-03-04T09:00:00.000Z", "2024-03-05T09:00:00.000Z"}));
}

TEST(CronSyntaxTest, SevenIsSunday) {
  EXPECT_EQ(Must("0 0 * * 7").ToString(), "0 0 * * 0");
  EXPECT_EQ(Must("0 0 * * 5-7").ToString(), "0 0 * * 0,5-6");
  EXPECT_EQ(Must("0 0 * * 0-7").ToString(), "0 0 * * 0-6");
  EXPECT_EQ(Next("0 0 * * 7", "2024-03-01T00:00:00Z"), (Times{"2024-03-03T00:00:00.000Z"}));
}

TEST(CronSyntaxTest, Macros) {
  EXPECT_EQ(Must("@yearly").ToString(), "0 0 1 1 *");
  EXPECT_EQ(Must("@annually").ToString(), "0 0 1 1 *");
  EXPECT_EQ(Must("@monthly").ToString(), "0 0 1 * *");
  EXPECT_EQ(Must("@weekly").ToString(), "0 0 * * 0");
  EXPECT_EQ(Must("@daily").ToString(), "0 0 * * *");
  EXPECT_EQ(Must("@midnight").ToString(), "0 0 * * *");
  EXPECT_EQ(Must("@hourly").ToString(), "0 * * * *");
  EXPECT_EQ(Must(" @DAILY ").ToString(), "0 0 * * *");
  EXPECT_EQ(Next("@weekly", "2024-03-01T00:00:00Z"), (Times{"2024-03-03T00:00:00.000Z"}));
  EXPECT_EQ(Next("@monthly", "2024-03-01T00:00:00Z"), (Times{"2024-04-01T00:00:00.000Z"}));
  EXPECT_EQ(Next("@hourly", "2024-03-01T00:00:00Z"), (Times{"2024-03-01T01:00:00.000Z"}));
}

TEST(CronSyntaxTest, WhitespaceBetweenFields) {
  EXPECT_EQ(Must("  0\t9  *  * \t1 ").ToString(), "0 9 * * 1");
}

TEST(CronSyntaxTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // Every Friday and every 13th. 2024-01-05 and 2024-01-12 are Fridays; the 13th is a Saturday.
  EXPECT_EQ(Next("0 0 13 * FRI", "2024-01-01T00:00:00Z", 4),
            (Times{"2024-01-05T00:00:00.000Z", "2024-01-12T00:00:00.000Z",
                   "2024-01-13T00:00:00.000Z", "2024-01-19T00:00:00.000Z"}));
  // `0 0 30 2 *` never fires, but with a weekday it fires on those weekdays of February.
  EXPECT_EQ(Next("0 0 30 2 MON", "2024-01-01T00:00:00Z"), (Times{"2024-02-05T00:00:00.000Z"}));
  // A field that does not start with `*` counts as restricted even when it covers every day.
  EXPECT_EQ(Next("0 0 1-31 * MON", "2024-03-01T12:00:00Z"), (Times{"2024-03-02T00:00:00.000Z"}));
}

TEST(CronSyntaxTest, DayOfMonthAndDayOfWeekWhenOneStartsWithStar) {
  EXPECT_EQ(Next("0 0 * * MON", "2024-03-01T00:00:00Z"), (Times{"2024-03-04T00:00:00.000Z"}));
  EXPECT_EQ(Next("0 0 1 * *", "2024-03-01T00:00:00Z"), (Times{"2024-04-01T00:00:00.000Z"}));
  // As in Vixie cron, `*/2` is still a star field: odd days that are also Mondays.
  EXPECT_EQ(Next("0 0 */2 * MON", "2023-12-31T12:00:00Z", 2),
            (Times{"2024-01-01T00:00:00.000Z", "2024-01-15T00:00:00.000Z"}));
}

// --- Canonical form ---------------------------------------------------------------------------

TEST(CronToStringTest, CanonicalForms) {
  EXPECT_EQ(Must("*/15 0-6,22,23 1,15 JAN-MAR MON-FRI").ToString(), "*/15 0-6,22-23 1,15 1-3 1-5");
  EXPECT_EQ(Must("0-59 0-23 * 1-12 *").ToString(), "* * * * *");
  EXPECT_EQ(Must("0-59/1 * * * *").ToString(), "* * * * *");
  EXPECT_EQ(Must("0,30 9,9,9 * * *").ToString(), "*/30 9 * * *");
  EXPECT_EQ(Must("0 0 */2 * *").ToString(), "0 0 */2 * *");
  EXPECT_EQ(Must("0 0 1-31 * 1").ToString(), "0 0 1-31 * 1");
  EXPECT_EQ(Must("0 0 * * */2").ToString(), "0 0 * * */2");
  EXPECT_EQ(Must("0 0 */10,5 * *").ToString(), "0 0 */10,5 * *");
}

TEST(CronToStringTest, RoundTrips) {
  for (std::string_view expr :
       {"* * * * *", "*/7 */5 */3 */2 */2", "5/20 1-10/3 13 * FRI", "0 0 1-31 * 1-5",
        "0 0 */10,5 * sun", "0 0 29 2 *", "@weekly", "1,2,3,59 23 31 DEC 0,7", "0 0 * * 6-7"}) {
    CronSchedule first = Must(expr);
    CronSchedule second = Must(first.ToString());
    EXPECT_EQ(second.ToString(), first.ToString()) << expr;
    EXPECT_EQ(Next(first, "2024-01-01T00:00:00Z", 20), Next(second, "2024-01-01T00:00:00Z", 20))
        << expr;
  }
}

TEST(CronToStringTest, EqualityComparesScheduleAndZone) {
  EXPECT_EQ(Must("@daily"), Must("0 0 * * *"));
  EXPECT_FALSE(Must("@daily") == Must("0 0 * * *", "Europe/Berlin"));
  EXPECT_FALSE(Must("@daily") == Must("@hourly"));
}

// --- Errors -----------------------------------------------------------------------------------

TEST(CronErrorTest, FieldCount) {
  EXPECT_EQ(ErrorOf("* * * *"),
            "cron \"* * * *\": expected 5 fields (minute hour day-of-month month day-of-week), "
            "got 4");
  EXPECT_NE(ErrorOf("0 * * * * *").find("got 6; seconds and years are not supported"),
            std::string::npos);
  EXPECT_NE(ErrorOf("").find("got 0"), std::string::npos);
  EXPECT_NE(ErrorOf("   ").find("got 0"), std::string::npos);
}

TEST(CronErrorTest, OutOfRangeNamesFieldAndValue) {
  EXPECT_EQ(ErrorOf("0 25 * * *"), "cron \"0 25 * * *\": hour 25 is out of range 0-23");
  EXPECT_EQ(ErrorOf("60 * * * *"), "cron \"60 * * * *\": minute 60 is out of range 0-59");
  EXPECT_EQ(ErrorOf("0 0 0 * *"), "cron \"0 0 0 * *\": day-of-month 0 is out of range 1-31");
  EXPECT_EQ(ErrorOf("0 0 32 * *"), "cron \"0 0 32 * *\": day-of-month 32 is out of range 1-31");
  EXPECT_EQ(ErrorOf("0 0 * 13 *"), "cron \"0 0 * 13 *\": month 13 is out of range 1-12");
  EXPECT_EQ(ErrorOf("0 0 * 0 *"), "cron \"0 0 * 0 *\": month 0 is out of range 1-12");
  EXPECT_EQ(ErrorOf("0 0 * * 8"), "cron \"0 0 * * 8\": day-of-week 8 is out of range 0-7");
  EXPECT_EQ(ErrorOf("0 1-24 * * *"), "cron \"0 1-24 * * *\": hour 24 is out of range 0-23");
  EXPECT_EQ(ErrorOf("99999999999 * * * *"),
            "cron \"99999999999 * * * *\": minute 99999999999 is out of range 0-59");
}

TEST(CronErrorTest, BadTokensNameFieldAndToken) {
  EXPECT_EQ(ErrorOf("x * * * *"), "cron \"x * * * *\": minute \"x\" is not a number");
  EXPECT_EQ(ErrorOf("0 MON * * *"), "cron \"0 MON * * *\": hour \"MON\" is not a number");
  EXPECT_EQ(ErrorOf("0 0 L * *"), "cron \"0 0 L * *\": day-of-month \"L\" is not a number");
  EXPECT_EQ(ErrorOf("0 0 * JANUARY *"),
            "cron \"0 0 * JANUARY *\": month \"JANUARY\" is not a number or a month name "
            "(JAN-DEC)");
  EXPECT_EQ(ErrorOf("0 0 * * MONDAY"),
            "cron \"0 0 * * MONDAY\": day-of-week \"MONDAY\" is not a number or a day name "
            "(SUN-SAT)");
  EXPECT_EQ(ErrorOf("0 0 * * -1"),
            "cron \"0 0 * * -1\": day-of-week range \"-1\" needs a start and an end");
  EXPECT_NE(ErrorOf("0 0 ? * MON").find("day-of-month \"?\""), std::string::npos);
}

TEST(CronErrorTest, BadRanges) {
  EXPECT_EQ(ErrorOf("0 0 * * FRI-MON"),
            "cron \"0 0 * * FRI-MON\": day-of-week range \"FRI-MON\" runs backwards; its start "
            "must not exceed its end");
  EXPECT_NE(ErrorOf("30-10 * * * *").find("minute range \"30-10\" runs backwards"),
            std::string::npos);
  EXPECT_NE(ErrorOf("0 9- * * *").find("hour range \"9-\" needs a start and an end"),
            std::string::npos);
  EXPECT_NE(ErrorOf("0 1-2-3 * * *").find("hour \"2-3\" is not a number"), std::string::npos);
}

TEST(CronErrorTest, BadSteps) {
  EXPECT_EQ(ErrorOf("*/0 * * * *"), "cron \"*/0 * * * *\": minute step 0 is out of range 1-60");
  EXPECT_EQ(ErrorOf("0 */25 * * *"), "cron \"0 */25 * * *\": hour step 25 is out of range 1-24");
  EXPECT_EQ(ErrorOf("*/x * * * *"), "cron \"*/x * * * *\": minute step \"x\" is not a number");
  EXPECT_EQ(ErrorOf("*/ * * * *"), "cron \"*/ * * * *\": minute step \"\" is not a number");
  EXPECT_EQ(ErrorOf("*/5/2 * * * *"),
            "cron \"*/5/2 * * * *\": minute \"*/5/2\" has more than one step");
}

TEST(CronErrorTest, EmptyListItems) {
  EXPECT_EQ(ErrorOf("1,,2 * * * *"), "cron \"1,,2 * * * *\": minute has an empty list item");
  EXPECT_NE(ErrorOf("0 0 * * 1,").find("day-of-week has an empty list item"), std::string::npos);
}

TEST(CronErrorTest, UnknownMacro) {
  EXPECT_EQ(ErrorOf("@reboot"),
            "cron \"@reboot\": unknown macro \"@reboot\" (use @yearly, @annually, @monthly, "
            "@weekly, @daily, @midnight or @hourly)");
  EXPECT_NE(ErrorOf("@every 5m").find("unknown macro \"@every 5m\""), std::string::npos);
}

TEST(CronErrorTest, UnknownTimeZone) {
  EXPECT_EQ(ErrorOf("0 0 * * *", "Mars/Olympus"), "unknown time zone \"Mars/Olympus\"");
  EXPECT_EQ(ErrorOf("0 0 * * *", ""), "unknown time zone \"\"");
  EXPECT_EQ(ErrorOf("0 0 * * *", "america/los_angeles"),
            "unknown time zone \"america/los_angeles\"");
}

TEST(CronTimeZoneTest, ValidateTimeZone) {
  EXPECT_TRUE(CronSchedule::ValidateTimeZone("UTC").ok());
  EXPECT_TRUE(CronSchedule::ValidateTimeZone("Etc/UTC").ok());
  EXPECT_TRUE(CronSchedule::ValidateTimeZone("America/Los_Angeles").ok());
  EXPECT_TRUE(CronSchedule::ValidateTimeZone("Europe/Berlin").ok());
  EXPECT_TRUE(CronSchedule::ValidateTimeZone("Asia/Kolkata").ok());
  Status bad = CronSchedule::ValidateTimeZone("Mars/Olympus");
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "unknown time zone \"Mars/Olympus\"");
  EXPECT_FALSE(CronSchedule::ValidateTimeZone("../../etc/passwd").ok());
}

// --- Time zones -------------------------------------------------------------------------------

TEST(CronTimeZoneTest, AccessorKeepsTheName) {
  EXPECT_EQ(Must("@daily").timezone(), "UTC");
  EXPECT_EQ(Must("@daily", "Europe/Berlin").timezone(), "Europe/Berlin");
}

TEST(CronTimeZoneTest, LocalTimeFollowsStandardAndSummerTime) {
  EXPECT_EQ(Next("0 9 * * *", "2024-01-15T00:00:00Z", 1, "America/Los_Angeles"),
            (Times{"2024-01-15T17:00:00.000Z"}));
  EXPECT_EQ(Next("0 9 * * *", "2024-07-15T00:00:00Z", 1, "America/Los_Angeles"),
            (Times{"2024-07-15T16:00:00.000Z"}));
  EXPECT_EQ(Next("0 9 * * *", "2024-01-15T00:00:00Z", 1, "Europe/Berlin"),
            (Times{"2024-01-15T08:00:00.000Z"}));
  EXPECT_EQ(Next("0 9 * * *", "2024-07-15T00:00:00Z", 1, "Europe/Berlin"),
            (Times{"2024-07-15T07:00:00.000Z"}));
  EXPECT_EQ(Next("30 9 * * *", "2024-01-15T00:00:00Z", 1, "Asia/Kolkata"),
            (Times{"2024-01-15T04:00:00.000Z"}));
}

TEST(CronTimeZoneTest, LocalDayDecidesTheWeekday) {
  // Monday 00:30 in Berlin is still Sunday in UTC.
  EXPECT_EQ(Next("30 0 * * MON", "2024-01-01T12:00:00Z", 1, "Europe/Berlin"),
            (Times{"2024-01-07T23:30:00.000Z"}));
}

// Los Angeles springs forward on 2024-03-10: 02:00 PST becomes 03:00 PDT (10:00Z).
TEST(CronDstTest, LosAngelesSpringForwardGapFiresOnceAfterTheGap) {
  EXPECT_EQ(
      Next("30 2 * * *", "2024-03-09T08:00:00Z", 3, "America/Los_Angeles"),
      (Times{"2024-03-09T10:30:00.000Z", "2024-03-10T10:00:00.000Z", "2024-03-11T09:30:00.000Z"}));
  EXPECT_EQ(Next("0 3 * * *", "2024-03-09T12:00:00Z", 2, "America/Los_Angeles"),
            (Times{"2024-03-10T10:00:00.000Z", "2024-03-11T10:00:00.000Z"}));
  EXPECT_EQ(Next("0 1 * * *", "2024-03-09T12:00:00Z", 2, "America/Los_Angeles"),
            (Times{"2024-03-10T09:00:00.000Z", "2024-03-11T08:00:00.000Z"}));
}

TEST(CronDstTest, LosAngelesSpringForwardEveryQuarterHour) {
  // 01:45 PST, then the four skipped quarter hours collapse into 03:00 PDT, then 03:15 PDT.
  EXPECT_EQ(
      Next("*/15 * * * *", "2024-03-10T09:40:00Z", 3, "America/Los_Angeles"),
      (Times{"2024-03-10T09:45:00.000Z", "2024-03-10T10:00:00.000Z", "2024-03-10T10:15:00.000Z"}));
  // From the instant after the gap, the skipped times are not fired again.
  EXPECT_EQ(Next("30 2 * * *", "2024-03-10T10:00:00Z", 1, "America/Los_Angeles"),
            (Times{"2024-03-11T09:30:00.000Z"}));
}

// Los Angeles falls back on 2024-11-03: 02:00 PDT becomes 01:00 PST, so 01:xx happens twice
// (08:xxZ in PDT, then 09:xxZ in PST).
TEST(CronDstTest, LosAngelesFallBackFiresAtTheFirstOccurrenceOnly) {
  EXPECT_EQ(Next("30 1 * * *", "2024-11-02T12:00:00Z", 2, "America/Los_Angeles"),
            (Times{"2024-11-03T08:30:00.000Z", "2024-11-04T09:30:00.000Z"}));
  // Asked during the second occurrence, the repeated time does not fire again.
  EXPECT_EQ(Next("30 1 * * *", "2024-11-03T09:10:00Z", 1, "America/Los_Angeles"),
            (Times{"2024-11-04T09:30:00.000Z"}));
  EXPECT_EQ(
      Next("0 * * * *", "2024-11-03T07:30:00Z", 3, "America/Los_Angeles"),
      (Times{"2024-11-03T08:00:00.000Z", "2024-11-03T10:00:00.000Z", "2024-11-03T11:00:00.000Z"}));
  EXPECT_EQ(Next("0 2 * * *", "2024-11-02T12:00:00Z", 1, "America/Los_Angeles"),
            (Times{"2024-11-03T10:00:00.000Z"}));
}

// Berlin springs forward on 2024-03-31: 02:00 CET becomes 03:00 CEST (01:00Z).
TEST(CronDstTest, BerlinSpringForward) {
  EXPECT_EQ(Next("30 2 * * *", "2024-03-30T12:00:00Z", 2, "Europe/Berlin"),
            (Times{"2024-03-31T01:00:00.000Z", "2024-04-01T00:30:00.000Z"}));
  EXPECT_EQ(Next("0 2 * * *", "2024-03-30T12:00:00Z", 1, "Europe/Berlin"),
            (Times{"2024-03-31T01:00:00.000Z"}));
  EXPECT_EQ(Next("0 * * * *", "2024-03-31T00:30:00Z", 2, "Europe/Berlin"),
            (Times{"2024-03-31T01:00:00.000Z", "2024-03-31T02:00:00.000Z"}));
}

// Berlin falls back on 2024-10-27: 03:00 CEST becomes 02:00 CET (01:00Z); 02:xx happens twice.
TEST(CronDstTest, BerlinFallBack) {
  EXPECT_EQ(Next("30 2 * * *", "2024-10-26T12:00:00Z", 2, "Europe/Berlin"),
            (Times{"2024-10-27T00:30:00.000Z", "2024-10-28T01:30:00.000Z"}));
  EXPECT_EQ(
      Next("*/30 * * * *", "2024-10-27T00:15:00Z", 3, "Europe/Berlin"),
      (Times{"2024-10-27T00:30:00.000Z", "2024-10-27T02:00:00.000Z", "2024-10-27T02:30:00.000Z"}));
}

// --- Calendar edge cases ----------------------------------------------------------------------

TEST(CronCalendarTest, LeapDay) {
  EXPECT_EQ(Next("0 0 29 2 *", "2023-01-01T00:00:00Z", 2),
            (Times{"2024-02-29T00:00:00.000Z", "2028-02-29T00:00:00.000Z"}));
  EXPECT_EQ(Next("0 0 29 2 *", "2024-02-29T00:00:00Z"), (Times{"2028-02-29T00:00:00.000Z"}));
  // 2100 is not a leap year: the longest gap, eight years.
  EXPECT_EQ(Next("0 0 29 2 *", "2096-03-01T00:00:00Z"), (Times{"2104-02-29T00:00:00.000Z"}));
}

TEST(CronCalendarTest, ImpossibleSchedulesReturnNothing) {
  EXPECT_EQ(Next("0 0 30 2 *", "2024-01-01T00:00:00Z"), (Times{"none"}));
  EXPECT_EQ(Next("0 0 31 4,6,9,11 *", "2024-01-01T00:00:00Z"), (Times{"none"}));
  EXPECT_EQ(Next("0 0 30,31 FEB *", "2024-01-01T00:00:00Z", 1, "Europe/Berlin"), (Times{"none"}));
}

TEST(CronCalendarTest, ShortMonthsAreSkipped) {
  EXPECT_EQ(Next("0 0 31 * *", "2024-01-31T01:00:00Z", 2),
            (Times{"2024-03-31T00:00:00.000Z", "2024-05-31T00:00:00.000Z"}));
}

TEST(CronCalendarTest, YearRollover) {
  EXPECT_EQ(Next("0 0 1 1 *", "2024-12-31T23:59:30Z"), (Times{"2025-01-01T00:00:00.000Z"}));
  EXPECT_EQ(Next("59 23 31 12 *", "2024-12-31T23:59:00Z"), (Times{"2025-12-31T23:59:00.000Z"}));
  EXPECT_EQ(Next("* * * * *", "2024-12-31T23:59:00Z"), (Times{"2025-01-01T00:00:00.000Z"}));
  EXPECT_EQ(Next("@yearly", "2024-12-31T12:00:00Z", 1, "America/Los_Angeles"),
            (Times{"2025-01-01T08:00:00.000Z"}));
  EXPECT_EQ(Next("@yearly", "2024-12-31T12:00:00Z", 1, "Europe/Berlin"),
            (Times{"2024-12-31T23:00:00.000Z"}));
}

}  // namespace
}  // namespace flowrun
