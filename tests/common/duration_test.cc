#include "common/duration.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

namespace flowrun {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

Duration Parse(const std::string& text) {
  StatusOr<Duration> d = ParseDuration(text);
  EXPECT_TRUE(d.ok()) << text << ": " << d.status().ToString();
  return d.ok() ? *d : Duration(-1);
}

std::string ErrorOf(const std::string& text) {
  StatusOr<Duration> d = ParseDuration(text);
  EXPECT_FALSE(d.ok()) << text << " parsed as " << (d.ok() ? d->count() : 0);
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  return d.status().message();
}

TEST(ParseDurationTest, SingleUnits) {
  EXPECT_EQ(Parse("500ms"), milliseconds(500));
  EXPECT_EQ(Parse("30s"), seconds(30));
  EXPECT_EQ(Parse("15m"), minutes(15));
  EXPECT_EQ(Parse("72h"), hours(72));
  EXPECT_EQ(Parse("7d"), hours(24 * 7));
}

TEST(ParseDurationTest, Zero) {
  EXPECT_EQ(Parse("0s"), Duration(0));
  EXPECT_EQ(Parse("0ms"), Duration(0));
  EXPECT_EQ(Parse("0d"), Duration(0));
}

TEST(ParseDurationTest, CombinedUnitsLargestFirst) {
  EXPECT_EQ(Parse("1h30m"), minutes(90));
  EXPECT_EQ(Parse("1d2h3m4s5ms"), hours(26) + minutes(3) + seconds(4) + milliseconds(5));
  EXPECT_EQ(Parse("2m500ms"), minutes(2) + milliseconds(500));
  EXPECT_EQ(Parse("1s1ms"), milliseconds(1001));
}

TEST(ParseDurationTest, LargeNumbersInSmallUnits) {
  EXPECT_EQ(Parse("90m"), minutes(90));
  EXPECT_EQ(Parse("1500ms"), milliseconds(1500));
  EXPECT_EQ(Parse("48h"), hours(48));
}

TEST(ParseDurationTest, LeadingZeros) { EXPECT_EQ(Parse("007s"), seconds(7)); }

TEST(ParseDurationTest, TenYearLimit) {
  EXPECT_EQ(Parse("3660d"), kMaxDuration);
  EXPECT_NE(ErrorOf("3661d").find("longer than 10 years"), std::string::npos);
  EXPECT_NE(ErrorOf("3660d1ms").find("longer than 10 years"), std::string::npos);
  EXPECT_NE(ErrorOf("99999999999999999999999s").find("longer than 10 years"), std::string::npos);
  EXPECT_NE(ErrorOf("87841h").find("longer than 10 years"), std::string::npos);
}

TEST(ParseDurationTest, RejectsEmpty) { EXPECT_NE(ErrorOf("").find("empty"), std::string::npos); }

TEST(ParseDurationTest, RejectsMissingUnit) {
  EXPECT_NE(ErrorOf("30").find("needs a unit"), std::string::npos);
  EXPECT_NE(ErrorOf("1h30").find("needs a unit"), std::string::npos);
}

TEST(ParseDurationTest, RejectsMissingNumber) {
  EXPECT_NE(ErrorOf("h").find("expected a number at position 1"), std::string::npos);
  EXPECT_NE(ErrorOf("1hm").find("unknown unit \"hm\""), std::string::npos);
}

TEST(ParseDurationTest, RejectsUnknownUnits) {
  EXPECT_NE(ErrorOf("3w").find("unknown unit \"w\""), std::string::npos);
  EXPECT_NE(ErrorOf("1y").find("unknown unit \"y\""), std::string::npos);
  EXPECT_NE(ErrorOf("5sec").find("unknown unit \"sec\""), std::string::npos);
  EXPECT_NE(ErrorOf("5H").find("unknown unit \"H\""), std::string::npos);
  EXPECT_NE(ErrorOf("10us").find("unknown unit \"us\""), std::string::npos);
}

TEST(ParseDurationTest, RejectsUnitsOutOfOrderOrRepeated) {
  EXPECT_NE(ErrorOf("30m1h").find("largest first"), std::string::npos);
  EXPECT_NE(ErrorOf("1h1h").find("largest first"), std::string::npos);
  EXPECT_NE(ErrorOf("1ms1s").find("largest first"), std::string::npos);
}

TEST(ParseDurationTest, RejectsSignsSpacesAndFractions) {
  ErrorOf("-5s");
  ErrorOf("+5s");
  ErrorOf(" 5s");
  ErrorOf("5s ");
  ErrorOf("1h 30m");
  ErrorOf("1.5h");
  ErrorOf("PT5S");
}

TEST(ParseDurationTest, ErrorNamesTheInputAndTheForms) {
  std::string message = ErrorOf("3w");
  EXPECT_NE(message.find("invalid duration \"3w\""), std::string::npos) << message;
  EXPECT_NE(message.find("1h30m"), std::string::npos) << message;
}

TEST(FormatDurationTest, Examples) {
  EXPECT_EQ(FormatDuration(Duration(0)), "0s");
  EXPECT_EQ(FormatDuration(milliseconds(5400000)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(500)), "500ms");
  EXPECT_EQ(FormatDuration(seconds(30)), "30s");
  EXPECT_EQ(FormatDuration(hours(72)), "3d");
  EXPECT_EQ(FormatDuration(hours(26) + minutes(3) + seconds(4) + milliseconds(5)), "1d2h3m4s5ms");
  EXPECT_EQ(FormatDuration(milliseconds(1001)), "1s1ms");
  EXPECT_EQ(FormatDuration(-seconds(90)), "-1m30s");
}

TEST(FormatDurationTest, RoundTripsThroughParse) {
  for (long long ms :
       std::initializer_list<long long>{1LL, 999LL, 1000LL, 61'000LL, 3'600'000LL, 86'399'999LL,
                                        86'400'000LL, 123'456'789LL, kMaxDuration.count()}) {
    std::string text = FormatDuration(Duration(ms));
    EXPECT_EQ(Parse(text), Duration(ms)) << text;
  }
}

}  // namespace
}  // namespace flowrun
