#include "common/suggest.h"

#include <gtest/gtest.h>

namespace flowrun {
namespace {

const std::vector<std::string> kStepKeys = {
    "id",    "name",           "if",    "retry",       "timeout", "on_error", "http",
    "email", "wait_for_event", "sleep", "sleep_until", "set",     "foreach"};

TEST(EditDistanceTest, CountsEachEditOnce) {
  EXPECT_EQ(EditDistance("", ""), 0u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("method", "methd"), 1u);
  EXPECT_EQ(EditDistance("method", "metohd"), 1u);  // adjacent transposition
  EXPECT_EQ(EditDistance("ca", "abc"), 3u);         // optimal string alignment, not full DL
}

TEST(EditDistanceTest, IgnoresCase) {
  EXPECT_EQ(EditDistance("Timeout", "timeout"), 0u);
  EXPECT_EQ(EditDistance("HTTP", "http"), 0u);
}

TEST(ClosestMatchTest, FindsTypos) {
  EXPECT_EQ(ClosestMatch("iff", kStepKeys), "if");
  EXPECT_EQ(ClosestMatch("timout", kStepKeys), "timeout");
  EXPECT_EQ(ClosestMatch("retyr", kStepKeys), "retry");
  EXPECT_EQ(ClosestMatch("emial", kStepKeys), "email");
  EXPECT_EQ(ClosestMatch("wait_for_evnt", kStepKeys), "wait_for_event");
  EXPECT_EQ(ClosestMatch("sleep_untl", kStepKeys), "sleep_until");
  EXPECT_EQ(ClosestMatch("on-error", kStepKeys), "on_error");
}

TEST(ClosestMatchTest, CaseOnlyDifferenceMatches) {
  EXPECT_EQ(ClosestMatch("Timeout", kStepKeys), "timeout");
}

TEST(ClosestMatchTest, PrefersTheNearestCandidate) {
  EXPECT_EQ(ClosestMatch("sleep_", kStepKeys), "sleep");
  EXPECT_EQ(ClosestMatch("sleepuntil", kStepKeys), "sleep_until");
}

TEST(ClosestMatchTest, TiesGoToTheEarlierCandidate) {
  EXPECT_EQ(ClosestMatch("ab", {"ax", "ay"}), "ax");
  EXPECT_EQ(ClosestMatch("ab", {"ay", "ax"}), "ay");
}

TEST(ClosestMatchTest, AcceptsAnUnambiguousAbbreviation) {
  const std::vector<std::string> backoffs = {"exponential", "linear", "constant"};
  EXPECT_EQ(ClosestMatch("expo", backoffs), "exponential");
  EXPECT_EQ(ClosestMatch("CONST", backoffs), "constant");
  EXPECT_EQ(ClosestMatch("ex", backoffs), std::nullopt);  // too short to be telling
  EXPECT_EQ(ClosestMatch("wait_f", {"wait_for_event", "wait_for_run"}), std::nullopt);
}

TEST(ClosestMatchTest, RejectsUnrelatedWords) {
  EXPECT_EQ(ClosestMatch("database", kStepKeys), std::nullopt);
  EXPECT_EQ(ClosestMatch("x", kStepKeys), std::nullopt);
  EXPECT_EQ(ClosestMatch("a", {"as"}), std::nullopt);
  EXPECT_EQ(ClosestMatch("", kStepKeys), std::nullopt);
  EXPECT_EQ(ClosestMatch("iff", {}), std::nullopt);
}

TEST(ClosestMatchTest, ThresholdGrowsWithLength) {
  EXPECT_EQ(ClosestMatch("abcd", {"abxy"}), std::nullopt);              // 2 edits, 4 chars
  EXPECT_EQ(ClosestMatch("abcdef", {"abcdxy"}), "abcdxy");              // 2 edits, 6 chars
  EXPECT_EQ(ClosestMatch("abcdefgh", {"abcdexyz"}), std::nullopt);      // 3 edits, 8 chars
  EXPECT_EQ(ClosestMatch("abcdefghij", {"abcdefgxyz"}), "abcdefgxyz");  // 3 edits, 10 chars
}

}  // namespace
}  // namespace flowrun
