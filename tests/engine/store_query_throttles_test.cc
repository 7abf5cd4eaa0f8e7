// When AdvanceReadyRuns skips the store queries for scheduled events and for due runs.
#include "engine/store_query_throttles.h"

#include <gtest/gtest.h>

namespace flowrun {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const TimePoint kStart = FromUnixMillis(1'700'000'000'000);

TEST(ScheduledEventCheckTest, AsksFromStartUpUntilNoneIsDueOrPending) {
  ScheduledEventCheck check(seconds(1));
  EXPECT_TRUE(check.may_exist());
  auto query = check.Next(kStart);
  EXPECT_TRUE(query.due);
  EXPECT_TRUE(query.pending);
  check.FoundNone(query);
  EXPECT_FALSE(check.may_exist());
  // Only the periodic recheck (for events other nodes scheduled) asks again.
  EXPECT_TRUE(check.Next(kStart).due);
  EXPECT_FALSE(check.Next(kStart + milliseconds(999)).due);
  auto recheck = check.Next(kStart + seconds(1));
  EXPECT_TRUE(recheck.due);
  EXPECT_FALSE(recheck.pending);
  EXPECT_FALSE(check.Next(kStart + seconds(1) + milliseconds(1)).due);
}

TEST(ScheduledEventCheckTest, AScheduledEventIsAskedForOnEveryCallUntilReleased) {
  ScheduledEventCheck check(seconds(1));
  check.FoundNone(check.Next(kStart));
  check.MayExist();  // the engine committed a delayed event
  EXPECT_TRUE(check.may_exist());
  auto first = check.Next(kStart + milliseconds(1));
  EXPECT_TRUE(first.due);
  EXPECT_TRUE(first.pending);
  // Still pending: due events are asked for on every call, whether any remain once per second.
  for (int ms = 2; ms < 1000; ms += 100) {
    auto query = check.Next(kStart + milliseconds(ms));
    EXPECT_TRUE(query.due);
    EXPECT_FALSE(query.pending);
  }
  auto later = check.Next(kStart + milliseconds(1001));
  EXPECT_TRUE(later.pending);
  check.FoundNone(later);
  EXPECT_FALSE(check.may_exist());
}

TEST(ScheduledEventCheckTest, AnEventScheduledDuringAQueryKeepsTheCheckOn) {
  ScheduledEventCheck check(seconds(1));
  auto query = check.Next(kStart);
  check.MayExist();  // committed after the query read the store
  check.FoundNone(query);
  EXPECT_TRUE(check.may_exist());
  auto next = check.Next(kStart);
  EXPECT_TRUE(next.due);
  EXPECT_TRUE(next.pending);
  check.FoundNone(next);
  EXPECT_FALSE(check.may_exist());
}

TEST(StoreClaimThrottleTest, ClaimsWheneverMemoryLeavesRoom) {
  StoreClaimThrottle throttle(milliseconds(10), 8);
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(throttle.ShouldClaim(false, kStart));
}

TEST(StoreClaimThrottleTest, AFullBatchClaimsEveryFewCallsOnAStoppedClock) {
  StoreClaimThrottle throttle(milliseconds(10), 8);
  EXPECT_TRUE(throttle.ShouldClaim(true, kStart));  // never claimed yet
  int claims = 0;
  for (int i = 0; i < 80; ++i) claims += throttle.ShouldClaim(true, kStart) ? 1 : 0;
  EXPECT_EQ(claims, 10);
}

TEST(StoreClaimThrottleTest, AFullBatchClaimsEveryIntervalOfTheClock) {
  StoreClaimThrottle throttle(milliseconds(10), 1000);
  EXPECT_TRUE(throttle.ShouldClaim(true, kStart));
  EXPECT_FALSE(throttle.ShouldClaim(true, kStart + milliseconds(5)));
  EXPECT_FALSE(throttle.ShouldClaim(true, kStart + milliseconds(9)));
  EXPECT_TRUE(throttle.ShouldClaim(true, kStart + milliseconds(10)));
  EXPECT_FALSE(throttle.ShouldClaim(true, kStart + milliseconds(11)));
  // A batch with room claims, and restarts the interval.
  EXPECT_TRUE(throttle.ShouldClaim(false, kStart + milliseconds(12)));
  EXPECT_FALSE(throttle.ShouldClaim(true, kStart + milliseconds(20)));
  EXPECT_TRUE(throttle.ShouldClaim(true, kStart + milliseconds(22)));
}

}  // namespace
}  // namespace flowrun
