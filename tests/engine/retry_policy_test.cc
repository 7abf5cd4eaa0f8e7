#include "engine/retry_policy.h"

#include <gtest/gtest.h>

#include "engine/step_key.h"

namespace flowrun {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

TEST(RetryPolicyTest, DefaultsDoubleFromFifteenSecondsCappedAtTwoHours) {
  RetryPolicy policy;
  policy.jitter = false;
  EXPECT_EQ(*NextRetryDelay(policy, 1, 0.0), seconds(15));
  EXPECT_EQ(*NextRetryDelay(policy, 2, 0.0), seconds(30));
  EXPECT_EQ(*NextRetryDelay(policy, 4, 0.0), seconds(120));
  EXPECT_FALSE(NextRetryDelay(policy, 5, 0.0).has_value());  // 5 attempts in all
  policy.attempts = 100;
  EXPECT_EQ(*NextRetryDelay(policy, 50, 0.0), hours(2));
}

TEST(RetryPolicyTest, FullJitterIsUniformUpToTheComputedDelay) {
  RetryPolicy policy;
  EXPECT_EQ(*NextRetryDelay(policy, 2, 0.5), seconds(15));
  EXPECT_EQ(*NextRetryDelay(policy, 2, 0.0), seconds(0));
}

TEST(RetryPolicyTest, RetryAfterReplacesTheDelayButNotTheCap) {
  RetryPolicy policy;
  EXPECT_EQ(*NextRetryDelay(policy, 1, 0.1, seconds(42)), seconds(42));
  EXPECT_EQ(*NextRetryDelay(policy, 1, 0.1, hours(5)), hours(2));
}

TEST(StepKeyTest, AppendsLoopIndices) {
  EXPECT_EQ(StepKey("send", {}), "send");
  EXPECT_EQ(StepKey("send", {3}), "send[3]");
  EXPECT_EQ(StepKey("send", {1, 0}), "send[1][0]");
  EXPECT_EQ(IdempotencyKey("run_1", "send[3]"), "run_1/send[3]");
}

}  // namespace
}  // namespace flowrun
