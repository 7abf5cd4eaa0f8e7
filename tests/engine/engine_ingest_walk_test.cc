// IngestEvents walks the runs an event starts as far as their internal steps go and commits that
// progress with the event (EngineOptions::advance_on_ingest): flows without actions finish at
// ingest; runs that reach an action, or that the store may still refuse, are queued for workers.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::JournalKind;
using store::RunStatus;
using testing::EngineHarness;

TEST(EngineIngestWalkTest, AFlowWithoutActionsIsFinishedWhenTheEventIsAcknowledged) {
  EngineHarness h;
  h.AddFlow(R"(
id: internal
on: {event: go}
steps:
  - id: a
    set: {x: "${{ event.data.n + 1 }}"}
  - id: pick
    switch:
      cases:
        - when: vars.x > 2
          steps:
            - id: big
              set: {size: big}
      default:
        - id: small
          set: {size: small}
  - id: out
    return: {x: "${{ vars.x }}", size: "${{ vars.size }}"}
)");
  std::string run = h.Send("go", {{"n", 4}});
  store::RunRecord done = h.Run(run);
  EXPECT_EQ(done.status, RunStatus::kCompleted);
  EXPECT_EQ(done.output, (Json{{"x", 5}, {"size", "big"}}));
  EXPECT_TRUE(done.lease_owner.empty());
  EXPECT_FALSE(done.due_at.has_value());
  EXPECT_EQ(h.CompletionCount(run), 4);
  auto advanced = h.engine().AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 0);  // nothing left for the workers
}

// A real clock moves between the ingest's reading of the time and each new run's: runs created a
// millisecond or more later are walked at ingest all the same.
TEST(EngineIngestWalkTest, RunsCreatedAfterTheIngestReadTheClockAreWalkedToo) {
  EngineHarness h;
  h.AddFlow(R"(
id: internal
on: {event: go}
steps:
  - id: a
    set: {x: 1}
)");
  h.clock().MoveOnEveryRead(std::chrono::milliseconds(1));
  std::vector<Json> events;
  for (int i = 0; i < 5; ++i) events.push_back({{"name", "go"}, {"data", {{"n", i}}}});
  auto ingested = h.engine().IngestEvents(events);
  ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  h.clock().MoveOnEveryRead(Duration{});
  for (const auto& event : *ingested) {
    ASSERT_EQ(event.runs.size(), 1u);
    store::RunRecord run = h.Run(event.runs.front());
    EXPECT_EQ(run.status, RunStatus::kCompleted) << run.id;
    EXPECT_EQ(run.lease_token, 0) << run.id;  // created finished, never leased
  }
}

TEST(EngineIngestWalkTest, ARunThatReachesAnActionIsTakenUnwalkedForTheWorkers) {
  EngineHarness h;
  h.AddFlow(R"(
id: with-action
on: {event: go}
steps:
  - id: a
    set: {x: 1}
  - id: call
    http: {method: GET, url: "https://example.com/x"}
)");
  std::string run = h.Send("go");
  // Created leased to this node, which holds it in memory for its workers (FreshRunQueue):
  // running, as a claim would mark it, but not walked yet.
  store::RunRecord taken = h.Run(run);
  EXPECT_EQ(taken.status, RunStatus::kRunning);
  EXPECT_EQ(taken.lease_owner, "test-node");
  EXPECT_TRUE(h.Journal(run).empty());
  EXPECT_EQ(h.action("http").calls(), 0);
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.action("http").calls(), 1);
  EXPECT_EQ(h.CompletionCount(run), 2);
}

TEST(EngineIngestWalkTest, ASleepStartsAtIngestAndTheRunHoldsNoLease) {
  EngineHarness h;
  h.AddFlow(R"(
id: napper
on: {event: go}
steps:
  - id: nap
    sleep: 1h
  - id: out
    return: 1
)");
  const TimePoint sent = h.clock().Now();
  std::string run = h.Send("go");
  store::RunRecord sleeping = h.Run(run);
  EXPECT_EQ(sleeping.status, RunStatus::kSleeping);
  EXPECT_TRUE(sleeping.lease_owner.empty());
  EXPECT_EQ(sleeping.due_at, sent + std::chrono::hours(1));
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

TEST(EngineIngestWalkTest, AnExpressionErrorFailsTheRunButTheEventIsStored) {
  EngineHarness h;
  h.AddFlow(R"(
id: broken
on: {event: go}
steps:
  - id: a
    set: {x: "${{ event.data.missing.deeper + 1 }}"}
)");
  std::string run = h.Send("go");
  store::RunRecord failed = h.Run(run);
  EXPECT_EQ(failed.status, RunStatus::kFailed);
  EXPECT_NE(failed.error.value("message", "").find("step \"a\""), std::string::npos)
      << failed.error.dump();
  auto events = h.store().ListEvents(store::EventFilter{.name = "go"});
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->size(), 1u);
}

TEST(EngineIngestWalkTest, RunsWithAnIdempotencyKeyAreNotWalkedBeforeTheStoreAcceptsThem) {
  EngineHarness h;
  h.AddFlow(R"(
id: once-per-user
on: {event: go}
idempotency: event.data.user
steps:
  - id: a
    set: {x: 1}
)");
  std::string first = h.Send("go", {{"user", "u1"}});
  EXPECT_TRUE(h.Journal(first).empty());
  EXPECT_NE(h.Run(first).status, RunStatus::kCompleted);
  // The second event is stored; its run is dropped by the key, and nothing else is lost.
  auto second = h.engine().IngestEvents({Json{{"name", "go"}, {"data", {{"user", "u1"}}}}});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_FALSE(second->front().duplicate);
  EXPECT_TRUE(second->front().runs.empty());
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(first).status, RunStatus::kCompleted);
}

TEST(EngineIngestWalkTest, ADuplicateEventStartsNothingAndItsFirstRunStands) {
  EngineHarness h;
  h.AddFlow(R"(
id: internal
on: {event: go}
steps:
  - id: a
    return: 1
)");
  std::string run = h.Send("go", Json::object(), "client-1");
  auto again = h.engine().IngestEvents({Json{{"name", "go"}, {"id", "client-1"}}});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->front().duplicate);
  EXPECT_TRUE(again->front().runs.empty());
  auto runs = h.engine().ListRuns(store::RunFilter{.flow_id = "internal"});
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ(runs->front().id, run);
  EXPECT_EQ(runs->front().status, RunStatus::kCompleted);
}

TEST(EngineIngestWalkTest, RunsStartedByTheFirstWalkAreNotTheEventsRuns) {
  EngineHarness h;
  h.AddFlow(R"(
id: fan-out
on: {event: order/placed}
steps:
  - id: emit
    send_event: {name: order/audit, data: {order: "${{ event.data.order }}"}}
)");
  h.AddFlow(R"(
id: audit
on: {event: order/audit}
steps:
  - id: note
    return: "${{ event.data.order }}"
)");
  auto ingested =
      h.engine().IngestEvents({Json{{"name", "order/placed"}, {"data", {{"order", 9}}}}});
  ASSERT_TRUE(ingested.ok());
  ASSERT_EQ(ingested->front().runs.size(), 1u);
  EXPECT_EQ(h.Run(ingested->front().runs.front()).flow_id, "fan-out");
  EXPECT_EQ(h.Run(ingested->front().runs.front()).status, RunStatus::kCompleted);
  ASSERT_TRUE(h.Drive().ok());
  auto audits = h.engine().ListRuns(store::RunFilter{.flow_id = "audit"});
  ASSERT_TRUE(audits.ok());
  ASSERT_EQ(audits->size(), 1u);
  EXPECT_EQ(audits->front().status, RunStatus::kCompleted);
  EXPECT_EQ(audits->front().output, 9);
}

TEST(EngineIngestWalkTest, LogLinesAreWrittenOnceAfterTheCommit) {
  EngineHarness h;
  std::vector<std::string> lines;
  h.SetEngineOptions(EngineOptions{
      .node_id = "test-node",
      .log = [&lines](const std::string&, const std::string& key, const std::string& message) {
        lines.push_back(key + ": " + message);
      }});
  h.AddFlow(R"(
id: chatty
on: {event: go}
steps:
  - id: hello
    log: "hello ${{ event.data.who }}"
  - id: call
    http: {method: GET, url: "https://example.com/x"}
)");
  std::string run = h.Send("go", {{"who", "ops"}});
  EXPECT_TRUE(lines.empty());  // the walk reached an action and was left to the workers
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(lines, std::vector<std::string>{"hello: hello ops"});

  h.AddFlow(R"(
id: quiet
on: {event: hi}
steps:
  - id: hello
    log: "hi ${{ event.data.who }}"
)");
  lines.clear();
  h.Send("hi", {{"who", "dev"}});
  EXPECT_EQ(lines, std::vector<std::string>{"hello: hi dev"});
}

TEST(EngineIngestWalkTest, AWaitRegisteredAtIngestSeesAnEarlierEventThroughLookback) {
  EngineHarness h;
  h.AddFlow(R"(
id: waiter
on: {event: order/placed}
steps:
  - id: paid
    wait_for_event: {event: order/paid, match: data.order, timeout: 1h, lookback: 10m}
  - id: done
    return: "${{ steps.paid.output.data.amount }}"
)");
  h.Send("order/paid", {{"order", 3}, {"amount", 12}});
  std::string run = h.Send("order/placed", {{"order", 3}});
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, 12);
}

}  // namespace
}  // namespace flowrun
