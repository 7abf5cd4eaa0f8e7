#include "common/timestamp.h"

#include <date/date.h>
#include <gtest/gtest.h>

#include <string>

namespace flowrun {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;

// 2024-03-01T09:30:00Z.
constexpr long long kMarchFirst0930 = 1709285400000LL;

TimePoint Parse(const std::string& text) {
  StatusOr<TimePoint> t = ParseTimestamp(text);
  EXPECT_TRUE(t.ok()) << text << ": " << t.status().ToString();
  return t.ok() ? *t : TimePoint{};
}

void ExpectInvalid(const std::string& text) {
  StatusOr<TimePoint> t = ParseTimestamp(text);
  EXPECT_FALSE(t.ok()) << text << " parsed as " << (t.ok() ? FormatTimestamp(*t) : "");
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument) << text;
}

TEST(ParseTimestampTest, Utc) {
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T09:30:00Z")), kMarchFirst0930);
  EXPECT_EQ(ToUnixMillis(Parse("1970-01-01T00:00:00Z")), 0);
}

TEST(ParseTimestampTest, FractionalSeconds) {
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T09:30:00.250Z")), kMarchFirst0930 + 250);
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T09:30:00.5Z")), kMarchFirst0930 + 500);
}

TEST(ParseTimestampTest, MicrosecondsAndNanosecondsTruncateToMilliseconds) {
  // Python's isoformat writes microseconds and Go's RFC3339Nano writes nanoseconds.
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T09:30:00.123456Z")), kMarchFirst0930 + 123);
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T09:30:00.123456789Z")), kMarchFirst0930 + 123);
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T10:30:00.999999+01:00")), kMarchFirst0930 + 999);
}

TEST(ParseTimestampTest, PositiveOffsetIsSubtracted) {
  // 10:30 at +01:00 is 09:30 UTC.
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T10:30:00+01:00")), kMarchFirst0930);
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T15:00:00+05:30")), kMarchFirst0930);
}

TEST(ParseTimestampTest, NegativeOffsetIsAdded) {
  // 01:30 at -08:00 is 09:30 UTC.
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T01:30:00-08:00")), kMarchFirst0930);
  EXPECT_EQ(ToUnixMillis(Parse("2024-02-29T23:30:00-10:00")), kMarchFirst0930);
}

TEST(ParseTimestampTest, OffsetWithFraction) {
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01T10:30:00.250+01:00")), kMarchFirst0930 + 250);
}

TEST(ParseTimestampTest, ZeroOffsetEqualsZ) {
  EXPECT_EQ(Parse("2024-03-01T09:30:00+00:00"), Parse("2024-03-01T09:30:00Z"));
  EXPECT_EQ(Parse("2024-03-01T09:30:00-00:00"), Parse("2024-03-01T09:30:00Z"));
}

TEST(ParseTimestampTest, LowerCaseSeparatorAndZone) {
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01t09:30:00z")), kMarchFirst0930);
}

TEST(ParseTimestampTest, DateAloneIsMidnightUtc) {
  EXPECT_EQ(ToUnixMillis(Parse("2024-03-01")), kMarchFirst0930 - (9 * 60 + 30) * 60'000LL);
}

TEST(ParseTimestampTest, LeapDay) {
  EXPECT_EQ(Parse("2024-02-29T00:00:00Z") + hours(24), Parse("2024-03-01"));
  ExpectInvalid("2023-02-29T00:00:00Z");
  ExpectInvalid("2023-02-29");
}

TEST(ParseTimestampTest, RejectsMalformed) {
  ExpectInvalid("");
  ExpectInvalid("now");
  ExpectInvalid("2024-03-01T09:30:00");  // No zone: ambiguous.
  ExpectInvalid("2024-03-01T09:30Z");
  ExpectInvalid("2024-13-01T00:00:00Z");
  ExpectInvalid("2024-04-31T00:00:00Z");
  ExpectInvalid("2024-03-01T24:00:01Z");
  ExpectInvalid("2024-03-01T09:60:00Z");
  ExpectInvalid("2024-03-01T09:30:00ZZ");
  ExpectInvalid("2024-03-01T09:30:00+01:00junk");
  ExpectInvalid("2024-03-01T09:30:00+25:00");
  ExpectInvalid("2024-03-01junk");
  ExpectInvalid("1709285400");
  ExpectInvalid("2024-03-01T09:30:00.Z");
  ExpectInvalid("2024-03-01 09:30:00Z");
  ExpectInvalid("2024-3-1T09:30:00Z");
  ExpectInvalid("2024-03-01T09:30:00+0100");
  ExpectInvalid("2024-03-01T09:30:00+01");
  ExpectInvalid("2024-03-01T");
  ExpectInvalid(std::string(100, '9'));
}

TEST(ParseTimestampTest, ErrorNamesTheInput) {
  StatusOr<TimePoint> t = ParseTimestamp("yesterday");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("\"yesterday\""), std::string::npos);
  EXPECT_NE(t.status().message().find("RFC 3339"), std::string::npos);
}

TEST(FormatTimestampTest, UtcWithMilliseconds) {
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(kMarchFirst0930 + 250)), "2024-03-01T09:30:00.250Z");
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(kMarchFirst0930)), "2024-03-01T09:30:00.000Z");
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(0)), "1970-01-01T00:00:00.000Z");
}

TEST(FormatTimestampTest, BeforeTheEpoch) {
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(-1)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(ToUnixMillis(Parse("1969-12-31T23:59:59.999Z")), -1);
}

TEST(FormatTimestampTest, RoundTripsThroughParse) {
  for (long long ms :
       {-86'400'000LL, 0LL, 1LL, kMarchFirst0930, kMarchFirst0930 + 999, 4102444800000LL}) {
    EXPECT_EQ(ToUnixMillis(Parse(FormatTimestamp(FromUnixMillis(ms)))), ms);
  }
}

TEST(FormatTimestampTest, AgreesWithTheCalendarLibraryAcrossCenturies) {
  // Steps of a prime number of milliseconds, so every field (leap days, month ends, the
  // millisecond digits) is exercised from 1900 to 2200; then the years at the edges.
  for (long long ms = -2'208'988'800'000LL; ms < 7'258'118'400'000LL; ms += 86'399'993LL) {
    ASSERT_EQ(FormatTimestamp(FromUnixMillis(ms)), date::format("%FT%TZ", FromUnixMillis(ms)))
        << ms;
  }
  for (long long ms : {-62'167'219'200'000LL, 253'402'300'799'999LL}) {  // 0000-01-01, 9999-12-31
    EXPECT_EQ(FormatTimestamp(FromUnixMillis(ms)), date::format("%FT%TZ", FromUnixMillis(ms)));
  }
  EXPECT_EQ(FormatTimestamp(FromUnixMillis(253'402'300'800'000LL)), "10000-01-01T00:00:00.000Z");
}

TEST(TimestampArithmeticTest, DurationsShiftTimePoints) {
  TimePoint trial_ends = Parse("2024-03-04T12:00:00Z");
  EXPECT_EQ(FormatTimestamp(trial_ends - hours(72)), "2024-03-01T12:00:00.000Z");
  EXPECT_EQ(FormatTimestamp(trial_ends + minutes(90)), "2024-03-04T13:30:00.000Z");
  EXPECT_EQ(FromUnixMillis(ToUnixMillis(trial_ends)), trial_ends);
}

}  // namespace
}  // namespace flowrun
