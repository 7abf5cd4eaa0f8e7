// Engine cron ticks: FireCronTick starts one run per (flow, tick), however often it is fired,
// across reopening the store and from several engines on one store.
#include <gtest/gtest.h>

#include <thread>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

constexpr char kNightly[] = R"(
id: nightly
on:
  - cron: "0 2 * * *"
    timezone: Europe/Berlin
steps:
  - id: echo
    return: {tick: "${{ event.data.tick }}", name: "${{ event.name }}"}
)";

TimePoint Tick(const char* text) {
  auto t = ParseTimestamp(text);
  EXPECT_TRUE(t.ok()) << text;
  return *t;
}

TEST(EngineCronTest, TickStartsOneRunWithTheCronEvent) {
  EngineHarness h;
  h.AddFlow(kNightly);
  const TimePoint tick = Tick("2024-01-02T01:00:00Z");  // 02:00 in Berlin
  auto fired = h.engine().FireCronTick("nightly", tick);
  ASSERT_TRUE(fired.ok()) << fired.status().ToString();
  ASSERT_TRUE(fired->has_value());
  ASSERT_TRUE(h.Drive().ok());
  auto run = h.Run(**fired);
  EXPECT_EQ(run.status, RunStatus::kCompleted);
  EXPECT_EQ(run.output, (Json{{"tick", "2024-01-02T01:00:00.000Z"}, {"name", "cron"}}));
  EXPECT_EQ(run.event["data"]["schedule"], "0 2 * * *");
  EXPECT_EQ(run.event["data"]["timezone"], "Europe/Berlin");
  EXPECT_EQ(run.event["ts"], "2024-01-02T01:00:00.000Z");
  auto last = h.engine().LastCronTick("nightly");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::optional<TimePoint>(tick));
}

TEST(EngineCronTest, DoubleFireStartsOneRun) {
  EngineHarness h;
  h.AddFlow(kNightly);
  const TimePoint tick = Tick("2024-01-02T01:00:00Z");
  auto first = h.engine().FireCronTick("nightly", tick);
  auto second = h.engine().FireCronTick("nightly", tick);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(first->has_value());
  EXPECT_FALSE(second->has_value());
  auto runs = h.engine().ListRuns(store::RunFilter{.flow_id = "nightly",
                                                   .status = std::nullopt,
                                                   .parent_run_id = "",
                                                   .limit = 100,
                                                   .before_id = ""});
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 1u);
}

TEST(EngineCronTest, TickFiresOnceAcrossReopen) {
  EngineHarness h;
  h.AddFlow(kNightly);
  const TimePoint tick = Tick("2024-01-02T01:00:00Z");
  auto first = h.engine().FireCronTick("nightly", tick);
  ASSERT_TRUE(first.ok() && first->has_value());
  h.Reopen();
  auto again = h.engine().FireCronTick("nightly", tick);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
  auto last = h.engine().LastCronTick("nightly");
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(*last, std::optional<TimePoint>(tick));
  // The next tick is a new run.
  auto next = h.engine().FireCronTick("nightly", tick + std::chrono::hours(24));
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->has_value());
  EXPECT_NE(**next, **first);
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(**first).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(**next).status, RunStatus::kCompleted);
}

TEST(EngineCronTest, TwoEnginesRacingOnOneTickStartOneRun) {
  EngineHarness h;
  h.AddFlow(kNightly);
  Engine other(h.store(), h.catalog(), nullptr, h.clock(), nullptr,
               EngineOptions{.node_id = "other-node", .seed = 3, .log = nullptr});
  const TimePoint tick = Tick("2024-01-03T01:00:00Z");
  StatusOr<std::optional<std::string>> a = std::optional<std::string>();
  StatusOr<std::optional<std::string>> b = std::optional<std::string>();
  std::thread t1([&] { a = h.engine().FireCronTick("nightly", tick); });
  std::thread t2([&] { b = other.FireCronTick("nightly", tick); });
  t1.join();
  t2.join();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->has_value() + b->has_value(), 1);
  auto runs = h.engine().ListRuns(store::RunFilter{.flow_id = "nightly",
                                                   .status = std::nullopt,
                                                   .parent_run_id = "",
                                                   .limit = 100,
                                                   .before_id = ""});
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 1u);
}

TEST(EngineCronTest, UnknownFlowAndFlowWithoutCron) {
  EngineHarness h;
  h.AddFlow(R"(
id: evented
on: {event: x}
steps:
  - id: a
    return: 1
)");
  auto unknown = h.engine().FireCronTick("nope", h.clock().Now());
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound);
  auto no_cron = h.engine().FireCronTick("evented", h.clock().Now());
  EXPECT_EQ(no_cron.status().code(), StatusCode::kFailedPrecondition);
  auto last = h.engine().LastCronTick("evented");
  ASSERT_TRUE(last.ok());
  EXPECT_FALSE(last->has_value());
}

}  // namespace
}  // namespace flowrun
