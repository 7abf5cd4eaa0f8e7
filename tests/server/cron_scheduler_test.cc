#include "server/cron_scheduler.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/timestamp.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

TimePoint At(const std::string& text) {
  auto t = ParseTimestamp(text);
  EXPECT_TRUE(t.ok()) << text;
  return *t;
}

std::string CronFlow(const std::string& id, const std::string& cron, const std::string& zone,
                     const std::string& catchup = "") {
  std::string yaml =
      "id: " + id + "\non:\n  - cron: \"" + cron + "\"\n    timezone: " + zone + "\n";
  if (!catchup.empty()) yaml += "    catchup: " + catchup + "\n";
  yaml += "steps:\n  - id: hello\n    log: tick\n";
  return yaml;
}

class CronSchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override { harness_.clock().AdvanceTo(At("2024-01-01T00:00:00Z")); }

  // A fresh scheduler, as a newly started process would make.
  void NewScheduler(CronSchedulerOptions options = {}) {
    scheduler_ = std::make_unique<CronScheduler>(harness_.engine(), harness_.catalog(),
                                                 harness_.clock(), options);
  }

  // Simulates a crash and restart: the scheduler and engine go away, the store is reopened.
  void Restart(CronSchedulerOptions options = {}) {
    scheduler_.reset();
    harness_.Reopen();
    NewScheduler(options);
  }

  std::vector<std::string> Fire() {
    CronScheduler::Result result = scheduler_->FireDue();
    EXPECT_TRUE(result.error.ok()) << result.error.ToString();
    next_ = result.next;
    std::vector<std::string> ticks;
    for (const FiredTick& fired : result.fired) {
      ticks.push_back(FormatTimestamp(fired.tick) + (fired.run_id.empty() ? " (claimed)" : ""));
    }
    return ticks;
  }

  size_t RunsOf(const std::string& flow) {
    store::RunFilter filter;
    filter.flow_id = flow;
    filter.limit = 1000;
    auto runs = harness_.engine().ListRuns(filter);
    EXPECT_TRUE(runs.ok());
    return runs.ok() ? runs->size() : 0;
  }

  // Moves the clock from tick to tick (as the runtime's timer does) until `end`, collecting what
  // fired.
  std::vector<std::string> FollowUntil(TimePoint end) {
    std::vector<std::string> all;
    for (auto ticks = Fire();; ticks = Fire()) {
      all.insert(all.end(), ticks.begin(), ticks.end());
      if (!next_ || *next_ > end) break;
      harness_.clock().AdvanceTo(*next_);
    }
    return all;
  }

  testing::EngineHarness harness_;
  std::unique_ptr<CronScheduler> scheduler_;
  std::optional<TimePoint> next_;
};

TEST_F(CronSchedulerTest, FiresEachTickOnceOnTime) {
  harness_.AddFlow(CronFlow("hourly", "0 * * * *", "UTC"));
  NewScheduler();
  EXPECT_TRUE(Fire().empty());
  ASSERT_TRUE(next_.has_value());
  EXPECT_EQ(FormatTimestamp(*next_), "2024-01-01T01:00:00.000Z");

  harness_.clock().AdvanceTo(At("2024-01-01T01:00:00Z"));
  EXPECT_EQ(Fire(), std::vector<std::string>{"2024-01-01T01:00:00.000Z"});
  EXPECT_TRUE(Fire().empty());                             // the same tick is not fired twice
  harness_.clock().AdvanceTo(At("2024-01-01T02:00:20Z"));  // a little late, within grace
  EXPECT_EQ(Fire(), std::vector<std::string>{"2024-01-01T02:00:00.000Z"});
  EXPECT_EQ(RunsOf("hourly"), 2u);
  EXPECT_EQ(FormatTimestamp(*next_), "2024-01-01T03:00:00.000Z");
}

TEST_F(CronSchedulerTest, SpringForwardInLosAngelesFiresTheSkippedTimeOnce) {
  // 2024-03-10: clocks jump from 02:00 PST to 03:00 PDT, so 02:30 does not exist that day.
  harness_.AddFlow(CronFlow("nightly", "30 2 * * *", "America/Los_Angeles"));
  harness_.clock().AdvanceTo(At("2024-03-09T12:00:00Z"));
  NewScheduler();
  EXPECT_EQ(FollowUntil(At("2024-03-12T12:00:00Z")),
            (std::vector<std::string>{
                "2024-03-10T10:00:00.000Z",  // 03:00 PDT, the first instant after the gap
                "2024-03-11T09:30:00.000Z",  // 02:30 PDT
                "2024-03-12T09:30:00.000Z",
            }));
  EXPECT_EQ(RunsOf("nightly"), 3u);
}

TEST_F(CronSchedulerTest, FallBackInLosAngelesFiresTheRepeatedTimeOnce) {
  // 2024-11-03: clocks go back from 02:00 PDT to 01:00 PST, so 01:30 happens twice.
  harness_.AddFlow(CronFlow("nightly", "30 1 * * *", "America/Los_Angeles"));
  harness_.clock().AdvanceTo(At("2024-11-02T12:00:00Z"));
  NewScheduler();
  EXPECT_EQ(FollowUntil(At("2024-11-04T12:00:00Z")),
            (std::vector<std::string>{
                "2024-11-03T08:30:00.000Z",  // 01:30 PDT, the first occurrence only
                "2024-11-04T09:30:00.000Z",  // 01:30 PST
            }));
  EXPECT_EQ(RunsOf("nightly"), 2u);
}

TEST_F(CronSchedulerTest, RestartRightAfterATickDoesNotFireItAgain) {
  harness_.AddFlow(CronFlow("hourly", "0 * * * *", "UTC"));
  NewScheduler();
  Fire();
  harness_.clock().AdvanceTo(At("2024-01-01T01:00:00Z"));
  EXPECT_EQ(Fire().size(), 1u);

  // The process dies and comes back within the same minute.
  harness_.clock().AdvanceTo(At("2024-01-01T01:00:10Z"));
  Restart();
  EXPECT_TRUE(Fire().empty());
  EXPECT_EQ(RunsOf("hourly"), 1u);
}

TEST_F(CronSchedulerTest, RestartThatSpansATickFiresItOnce) {
  harness_.AddFlow(CronFlow("hourly", "0 * * * *", "UTC"));
  NewScheduler();
  Fire();
  harness_.clock().AdvanceTo(At("2024-01-01T01:00:00Z"));
  EXPECT_EQ(Fire().size(), 1u);

  // Down from 01:30 to 02:10: the 02:00 tick was missed and fires once on the way back up.
  harness_.clock().AdvanceTo(At("2024-01-01T01:30:00Z"));
  scheduler_.reset();
  harness_.clock().AdvanceTo(At("2024-01-01T02:10:00Z"));
  Restart();
  EXPECT_EQ(Fire(), std::vector<std::string>{"2024-01-01T02:00:00.000Z"});
  EXPECT_TRUE(Fire().empty());

  // A second process on the same store (or a crash after the claim) cannot fire it again.
  Restart();
  EXPECT_TRUE(Fire().empty());
  EXPECT_EQ(RunsOf("hourly"), 2u);
}

TEST_F(CronSchedulerTest, TwoSchedulersOnOneStoreStartOneRunPerTick) {
  harness_.AddFlow(CronFlow("hourly", "0 * * * *", "UTC"));
  NewScheduler();
  CronScheduler other(harness_.engine(), harness_.catalog(), harness_.clock());
  Fire();
  EXPECT_TRUE(other.FireDue().fired.empty());
  harness_.clock().AdvanceTo(At("2024-01-01T01:00:00Z"));
  EXPECT_EQ(Fire(), std::vector<std::string>{"2024-01-01T01:00:00.000Z"});
  CronScheduler::Result second = other.FireDue();
  ASSERT_EQ(second.fired.size(), 1u);
  EXPECT_TRUE(second.fired[0].run_id.empty());  // claimed by the first
  EXPECT_EQ(RunsOf("hourly"), 1u);
}

class CatchupTest : public CronSchedulerTest {
 protected:
  // Fires 01:00, then stays down until 06:30 and restarts; what fires on the way back up.
  std::vector<std::string> Outage(const std::string& catchup, CronSchedulerOptions options = {}) {
    harness_.AddFlow(CronFlow("hourly", "0 * * * *", "UTC", catchup));
    NewScheduler(options);
    Fire();
    harness_.clock().AdvanceTo(At("2024-01-01T01:00:00Z"));
    EXPECT_EQ(Fire().size(), 1u);
    scheduler_.reset();
    harness_.clock().AdvanceTo(At("2024-01-01T06:30:00Z"));
    Restart(options);
    return Fire();
  }
};

TEST_F(CatchupTest, LatestIsTheDefaultAndFiresOnlyTheLatestMissedTick) {
  EXPECT_EQ(Outage(""), std::vector<std::string>{"2024-01-01T06:00:00.000Z"});
  EXPECT_EQ(RunsOf("hourly"), 2u);
  EXPECT_EQ(FormatTimestamp(*next_), "2024-01-01T07:00:00.000Z");
}

TEST_F(CatchupTest, NoneSkipsMissedTicks) {
  EXPECT_TRUE(Outage("none").empty());
  EXPECT_EQ(RunsOf("hourly"), 1u);
  harness_.clock().AdvanceTo(At("2024-01-01T07:00:00Z"));
  EXPECT_EQ(Fire(), std::vector<std::string>{"2024-01-01T07:00:00.000Z"});
}

TEST_F(CatchupTest, AllFiresEveryMissedTickOldestFirst) {
  EXPECT_EQ(Outage("all"), (std::vector<std::string>{
                               "2024-01-01T02:00:00.000Z",
                               "2024-01-01T03:00:00.000Z",
                               "2024-01-01T04:00:00.000Z",
                               "2024-01-01T05:00:00.000Z",
                               "2024-01-01T06:00:00.000Z",
                           }));
  EXPECT_EQ(RunsOf("hourly"), 6u);
}

TEST_F(CatchupTest, AllIsBounded) {
  EXPECT_EQ(Outage("all", {.max_catchup = 2}), (std::vector<std::string>{
                                                   "2024-01-01T05:00:00.000Z",
                                                   "2024-01-01T06:00:00.000Z",
                                               }));
}

TEST_F(CronSchedulerTest, ANewFlowDoesNotFireTicksFromBeforeItWasSeen) {
  NewScheduler();
  Fire();
  harness_.clock().AdvanceTo(At("2024-01-01T05:30:00Z"));
  harness_.AddFlow(CronFlow("hourly", "0 * * * *", "UTC", "all"));
  EXPECT_TRUE(Fire().empty());
  harness_.clock().AdvanceTo(At("2024-01-01T06:00:00Z"));
  EXPECT_EQ(Fire(), std::vector<std::string>{"2024-01-01T06:00:00.000Z"});
}

}  // namespace
}  // namespace flowrun
