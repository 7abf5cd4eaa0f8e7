// wait_for_event and cancel_on: matching, timeouts, the wait race, lookback and the index.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

constexpr char kWaitFlow[] = R"(
id: waiter
on: {event: purchase}
steps:
  - id: before
    http: {method: GET, url: "https://x"}
  - id: discord
    wait_for_event:
      event: user/connected
      match: data.userId
      timeout: 48h
  - id: out
    return: "${{ steps.discord.output.data.handle }}"
)";

TEST(EngineWaitTest, MatchingEventResumesTheRun) {
  EngineHarness h;
  h.AddFlow(kWaitFlow);
  std::string run = h.Send("purchase", {{"userId", "u1"}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kWaiting);
  h.Send("user/connected", {{"userId", "other"}, {"handle", "nope"}});
  h.Send("user/connected", {{"userId", "u1"}, {"handle", "@u1"}});
  ASSERT_TRUE(h.Drive(std::chrono::hours(1)).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, "@u1");
}

TEST(EngineWaitTest, TimeoutGivesNullOutput) {
  EngineHarness h;
  h.AddFlow(kWaitFlow);
  std::string run = h.Send("purchase", {{"userId", "u1"}});
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, nullptr);
  EXPECT_EQ(h.Completion(run, "discord")["output"], nullptr);
}

// The event lands after the previous step completed but before the walk that registers the wait:
// here the previous step is a wait resolved by an event, and the run has not been advanced since.
TEST(EngineWaitTest, EventStoredBetweenPreviousStepAndWaitMatches) {
  EngineHarness h;
  h.AddFlow(R"(
id: two-waits
on: {event: start}
steps:
  - id: first
    wait_for_event: {event: one, match: data.k, timeout: 1h}
  - id: second
    wait_for_event: {event: two, match: data.k, timeout: 1h}
  - id: out
    return: "${{ steps.second.output.data.v }}"
)");
  std::string run = h.Send("start", {{"k", "a"}});
  // The trigger committed the run; this event lands before the first wait is registered.
  h.Send("one", {{"k", "a"}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());  // registers `first`, finds the event
  h.Send("two", {{"k", "a"}, {"v", "in-the-gap"}});   // `first` completed; `second` not yet
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, "in-the-gap");
}

// An event that arrives while the previous step's side effect is in flight (the case of
// inngest/inngest#1433) arrived before that step completed: `lookback` covers it.
TEST(EngineWaitTest, EventDuringThePreviousActionMatchesWithLookback) {
  EngineHarness h;
  h.AddFlow(R"(
id: during
on: {event: purchase}
steps:
  - id: before
    http: {method: GET, url: "https://x"}
  - id: w
    wait_for_event: {event: reply, match: data.userId, timeout: 1h, lookback: 5m}
  - id: out
    return: "${{ steps.w.output.data.handle }}"
)");
  std::string run = h.Send("purchase", {{"userId", "u1"}});
  h.engine().TEST_failpoints().TEST_Record(true);
  h.engine().TEST_failpoints().TEST_CrashAt(2);  // the action (2 passes); nothing to commit before
  ASSERT_FALSE(h.engine().AdvanceReadyRuns(10).ok());
  auto trace = h.engine().TEST_failpoints().TEST_trace();
  ASSERT_FALSE(trace.empty());
  EXPECT_EQ(trace.back(), kFailAfterAction);
  h.Send("reply", {{"userId", "u1"}, {"handle", "@early"}});
  h.Reopen();
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, "@early");
}

TEST(EngineWaitTest, EventBeforeTheWaitMatchesOnlyWithLookback) {
  for (bool lookback : {false, true}) {
    EngineHarness h;
    std::string flow = R"(
id: lookback
on: {event: start}
steps:
  - id: nap
    sleep: 10m
  - id: w
    wait_for_event:
      event: ping
      if: async.data.n > 1
      timeout: 1h
)";
    if (lookback) flow += "      lookback: 1h\n";
    h.AddFlow(flow + "  - id: out\n    return: \"${{ steps.w.output.data.n }}\"\n");
    std::string run = h.Send("start");
    ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());  // now sleeping
    h.clock().Advance(std::chrono::minutes(1));
    h.Send("ping", {{"n", 5}});  // before the previous step (the sleep) completes
    ASSERT_TRUE(h.Drive().ok());
    EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
    if (lookback) {
      EXPECT_EQ(h.Run(run).output, 5);
    } else {
      EXPECT_EQ(h.Run(run).output, nullptr);
    }
  }
}

// Matching reads the store scan_limit rows at a time and pages on: a lookback window with more
// events than that, and a key with more waits than that, miss nothing.
EngineOptions SmallScanLimit() {
  EngineOptions options{.node_id = "test-node", .seed = 7, .log = nullptr};
  options.scan_limit = 3;
  return options;
}

TEST(EngineWaitTest, LookbackFindsItsEventBeyondTheScanLimit) {
  EngineHarness h;
  h.SetEngineOptions(SmallScanLimit());
  h.AddFlow(R"(
id: late-key
on: {event: start}
steps:
  - id: nap
    sleep: 10m
  - id: w
    wait_for_event: {event: reply, match: data.k, timeout: 1h, lookback: 1h}
  - id: out
    return: "${{ steps.w.output.data.k }}"
)");
  std::string run = h.Send("start", {{"k", 7}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());  // now sleeping
  for (int k = 0; k < 10; ++k) h.Send("reply", {{"k", k}});
  ASSERT_TRUE(h.Drive(std::chrono::minutes(20)).ok());  // the wake, well before the timeout
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, 7);
}

TEST(EngineWaitTest, OneEventResolvesMoreWaitsThanTheScanLimit) {
  EngineHarness h;
  h.SetEngineOptions(SmallScanLimit());
  h.AddFlow(R"(
id: indexed
on: {event: start-indexed}
steps:
  - id: w
    wait_for_event: {event: go, match: data.k, timeout: 1h}
)");
  h.AddFlow(R"(
id: scanned
on: {event: start-scanned}
steps:
  - id: w
    wait_for_event: {event: go, if: async.data.k > 0, timeout: 1h}
)");
  std::vector<std::string> runs;
  for (int i = 0; i < 7; ++i) {
    runs.push_back(h.Send("start-indexed", {{"k", 1}}));
    runs.push_back(h.Send("start-scanned"));
  }
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  for (const std::string& run : runs) ASSERT_EQ(h.Run(run).status, RunStatus::kWaiting);
  h.Send("go", {{"k", 1}});
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  for (const std::string& run : runs) EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted) << run;
}

TEST(EngineWaitTest, TenThousandWaitsEachResumeOnlyTheirOwnRun) {
  EngineHarness h;
  h.AddFlow(R"(
id: many
on: {event: start}
steps:
  - id: w
    wait_for_event: {event: done, match: data.key, timeout: 1h}
  - id: out
    return: "${{ steps.w.output.data.key }}"
)");
  std::vector<Json> events;
  for (int i = 0; i < 10000; ++i) events.push_back({{"name", "start"}, {"data", {{"key", i}}}});
  auto ingested = h.engine().IngestEvents(events);
  ASSERT_TRUE(ingested.ok());
  for (;;) {
    auto advanced = h.engine().AdvanceReadyRuns(512);
    ASSERT_TRUE(advanced.ok());
    if (*advanced == 0) break;
  }
  auto waiting = h.engine().ListRuns({.status = RunStatus::kWaiting, .limit = 20000});
  ASSERT_TRUE(waiting.ok());
  ASSERT_EQ(waiting->size(), 10000u);
  h.Send("done", {{"key", 4242}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  auto completed = h.engine().ListRuns({.status = RunStatus::kCompleted, .limit = 20000});
  ASSERT_TRUE(completed.ok());
  ASSERT_EQ(completed->size(), 1u);
  EXPECT_EQ((*completed)[0].output, 4242);
  EXPECT_EQ((*completed)[0].id, (*ingested)[4242].runs.at(0));
}

TEST(EngineWaitTest, CancelOnStopsTheMatchingRunOnly) {
  EngineHarness h;
  h.AddFlow(R"(
id: cancel-me
on: {event: purchase}
cancel_on:
  - event: refund
    match: data.orderId
steps:
  - id: nap
    sleep: 1h
  - id: after
    http: {method: GET, url: "https://x"}
)");
  std::string a = h.Send("purchase", {{"orderId", "a"}});
  std::string b = h.Send("purchase", {{"orderId", "b"}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  h.Send("refund", {{"orderId", "a"}});
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(a).status, RunStatus::kCancelled);
  EXPECT_EQ(h.Run(b).status, RunStatus::kCompleted);
  EXPECT_EQ(h.action("http").calls(), 1);
}

TEST(EngineWaitTest, AnEventResolvesItsWaitInTheTransactionThatStoresIt) {
  EngineHarness h;
  h.AddFlow(kWaitFlow);
  std::string run = h.Send("purchase", {{"userId", "u1"}});
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  ASSERT_EQ(h.Run(run).status, RunStatus::kWaiting);
  // A second waiter on another key keeps the event "wanted", so it is matched after the commit too.
  std::string other = h.Send("purchase", {{"userId", "u2"}});
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  h.Send("user/connected", {{"userId", "u1"}, {"handle", "@u1"}});
  // Resolved and leased to this node by the time the event is acknowledged.
  EXPECT_EQ(h.Run(run).lease_owner, "test-node");
  EXPECT_FALSE(h.Completion(run, "discord").is_null());
  auto waits = h.store().WaitsOfRun(run);
  ASSERT_TRUE(waits.ok());
  EXPECT_TRUE(waits->empty());
  // Nothing was left to resolve after the commit: the event's "matched" mark waits for the next
  // commit, which the resumed run's walk provides.
  auto unmatched = h.store().UnmatchedEvents(10);
  ASSERT_TRUE(unmatched.ok());
  EXPECT_EQ(unmatched->size(), 1u);
  auto advanced = h.engine().AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 1);
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, "@u1");
  unmatched = h.store().UnmatchedEvents(10);
  ASSERT_TRUE(unmatched.ok());
  EXPECT_TRUE(unmatched->empty());
  EXPECT_EQ(h.Run(other).status, RunStatus::kWaiting);
}

TEST(EngineWaitTest, AMarkLostInACrashIsMatchedAgainHarmlessly) {
  EngineHarness h;
  h.AddFlow(kWaitFlow);
  std::string run = h.Send("purchase", {{"userId", "u1"}});
  std::string other = h.Send("purchase", {{"userId", "u2"}});
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  h.Send("user/connected", {{"userId", "u1"}, {"handle", "@u1"}});
  h.Reopen();  // before any commit carried the deferred mark
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, "@u1");
  EXPECT_EQ(h.Run(other).status, RunStatus::kWaiting);
  int completions = 0;
  for (const auto& e : h.Journal(run)) {
    completions += e.kind == store::JournalKind::kCompleted && e.step_key == "discord";
  }
  EXPECT_EQ(completions, 1);
  auto unmatched = h.store().UnmatchedEvents(10);
  ASSERT_TRUE(unmatched.ok());
  EXPECT_TRUE(unmatched->empty());
}

}  // namespace
}  // namespace flowrun
