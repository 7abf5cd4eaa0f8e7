// Runs an engine creates are leased to its node at once and advanced from memory (no claim):
// they are invisible to other nodes while the lease holds, fall due when it runs out or when the
// node recovers, see cancellations requested meanwhile, and are walked exactly once. (Walking on
// ingest is off here, so that the runs stay queued: engine_ingest_walk_test.cc covers it.)
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

constexpr char kThreeSteps[] = R"(
id: three
on: {event: go}
steps:
  - id: a
    set: {x: 1}
  - id: b
    set: {y: 2}
  - id: c
    return: "${{ vars.x + vars.y }}"
)";

const EngineOptions kQueueOnIngest{.node_id = "test-node", .advance_on_ingest = false};

TEST(EngineFreshRunTest, ANewRunIsLeasedToItsNodeAndDueOnlyWhenTheLeaseRunsOut) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(kThreeSteps);
  std::string run = h.Send("go");
  store::RunRecord stored = h.Run(run);
  EXPECT_EQ(stored.lease_owner, "test-node");
  ASSERT_TRUE(stored.lease_until.has_value());
  EXPECT_GT(*stored.lease_until, h.clock().Now());
  EXPECT_EQ(stored.due_at, stored.lease_until);

  // Another node sees nothing to do while the lease holds...
  Engine other(h.store(), h.catalog(), nullptr, h.clock(), nullptr,
               EngineOptions{.node_id = "other-node"});
  auto advanced = other.AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 0);
  // ...and takes the run once it has run out, as it would after this node died.
  h.clock().AdvanceTo(*stored.lease_until + std::chrono::seconds(1));
  advanced = other.AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 1);
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, 3);

  // The first node's copy has an expired lease: it leaves it alone.
  advanced = h.engine().AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 0);
  EXPECT_EQ(h.CompletionCount(run), 3);
}

TEST(EngineFreshRunTest, AdvancedFromMemoryOnTheNodeThatCreatedIt) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(kThreeSteps);
  std::string run = h.Send("go");
  auto next = h.engine().NextDueTime();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ(**next, h.clock().Now());  // due now, although its row is due when the lease ends
  auto advanced = h.engine().AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 1);
  store::RunRecord done = h.Run(run);
  EXPECT_EQ(done.status, RunStatus::kCompleted);
  EXPECT_TRUE(done.lease_owner.empty());
  EXPECT_FALSE(done.due_at.has_value());
  EXPECT_EQ(h.CompletionCount(run), 3);
}

TEST(EngineFreshRunTest, RecoveringAfterACrashMakesQueuedRunsDueAtOnce) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(kThreeSteps);
  std::string run = h.Send("go");
  h.Reopen();  // the queued copy is lost with the process; Recover ends the node's leases
  store::RunRecord stored = h.Run(run);
  EXPECT_TRUE(stored.lease_owner.empty());
  EXPECT_EQ(stored.due_at, h.clock().Now());
  auto advanced = h.engine().AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 1);
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.CompletionCount(run), 3);
}

TEST(EngineFreshRunTest, ReleasingLeasesAtShutdownMakesQueuedRunsDueForAnyone) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(kThreeSteps);
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().ReleaseLeases().ok());
  store::RunRecord released = h.Run(run);
  EXPECT_TRUE(released.lease_owner.empty());
  EXPECT_EQ(released.due_at, h.clock().Now());
  auto advanced = h.engine().AdvanceReadyRuns(10);  // claimed from the store, walked once
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 1);
  EXPECT_EQ(h.CompletionCount(run), 3);
}

TEST(EngineFreshRunTest, ACancellationRequestedWhileQueuedStopsTheRunAtItsFirstStep) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(kThreeSteps);
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().CancelRun(run).ok());
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCancelled);
  EXPECT_EQ(h.CompletionCount(run), 0);
}

TEST(EngineFreshRunTest, CancelOnMatchedWhileQueuedStopsTheRun) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(R"(
id: cancellable
on: {event: order/placed}
cancel_on:
  - event: order/cancelled
    match: data.order
steps:
  - id: a
    set: {x: 1}
)");
  std::string run = h.Send("order/placed", {{"order", 7}});
  h.Send("order/cancelled", {{"order", 7}});
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCancelled);
}

TEST(EngineFreshRunTest, BeyondTheCapacityRunsAreClaimedFromTheStore) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(kThreeSteps);
  Engine small(
      h.store(), h.catalog(), nullptr, h.clock(), nullptr,
      EngineOptions{.node_id = "small", .fresh_run_capacity = 2, .advance_on_ingest = false});
  std::vector<Json> events(5, Json{{"name", "go"}});
  auto ingested = small.IngestEvents(events);
  ASSERT_TRUE(ingested.ok());
  int leased = 0;
  for (const auto& e : *ingested) {
    ASSERT_EQ(e.runs.size(), 1u);
    leased += !h.Run(e.runs.front()).lease_owner.empty();
  }
  EXPECT_EQ(leased, 2);
  int advanced = 0;
  for (int i = 0; i < 10; ++i) {
    auto n = small.AdvanceReadyRuns(2);
    ASSERT_TRUE(n.ok());
    advanced += *n;
  }
  EXPECT_EQ(advanced, 5);
  for (const auto& e : *ingested) {
    EXPECT_EQ(h.Run(e.runs.front()).status, RunStatus::kCompleted);
    EXPECT_EQ(h.CompletionCount(e.runs.front()), 3);
  }
}

// While queued runs keep filling every batch, the store is still asked now and then, so that a
// sleeper that fell due (known only to the store) is not starved, even on a clock that stands
// still.
TEST(EngineFreshRunTest, ADueSleeperIsClaimedWhileQueuedRunsFillEveryBatch) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(kThreeSteps);
  h.AddFlow(R"(
id: sleeper
on: {event: nap}
steps:
  - id: z
    sleep: 1m
  - id: done
    return: woke
)");
  std::string sleeper = h.Send("nap");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(4).ok());
  ASSERT_EQ(h.Run(sleeper).status, RunStatus::kSleeping);
  h.clock().Advance(std::chrono::minutes(2));

  std::vector<Json> events(200, Json{{"name", "go"}});
  ASSERT_TRUE(h.engine().IngestEvents(events).ok());
  int calls = 0;
  while (h.Run(sleeper).status != RunStatus::kCompleted && calls < 40) {
    auto advanced = h.engine().AdvanceReadyRuns(4);
    ASSERT_TRUE(advanced.ok());
    ASSERT_GT(*advanced, 0);
    ++calls;
  }
  EXPECT_EQ(h.Run(sleeper).status, RunStatus::kCompleted);
  EXPECT_LE(calls, 10);  // well before the 50 calls the queued runs alone take
  ASSERT_TRUE(h.Drive().ok());
  store::RunFilter all;
  all.limit = 1000;
  auto runs = h.engine().ListRuns(all);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 201u);
  for (const auto& run : *runs) EXPECT_EQ(run.status, RunStatus::kCompleted) << run.id;
}

TEST(EngineFreshRunTest, RunsWithAConcurrencyLimitAreAlwaysClaimed) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(R"(
id: limited
on: {event: go}
concurrency: {limit: 1}
steps:
  - id: a
    set: {x: 1}
)");
  std::string run = h.Send("go");
  EXPECT_TRUE(h.Run(run).lease_owner.empty());
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

TEST(EngineFreshRunTest, DisabledEveryRunIsClaimed) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(kThreeSteps);
  Engine plain(
      h.store(), h.catalog(), nullptr, h.clock(), nullptr,
      EngineOptions{.node_id = "plain", .fresh_run_capacity = 0, .advance_on_ingest = false});
  auto ingested = plain.IngestEvents({Json{{"name", "go"}}});
  ASSERT_TRUE(ingested.ok());
  const std::string run = ingested->front().runs.front();
  EXPECT_TRUE(h.Run(run).lease_owner.empty());
  EXPECT_EQ(h.Run(run).due_at, h.clock().Now());
  auto advanced = plain.AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 1);
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

TEST(EngineFreshRunTest, AnEventThatResolvesAWaitLeasesTheRunToTheNodeThatMatchedIt) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(R"(
id: waiter
on: {event: order/placed}
steps:
  - id: paid
    wait_for_event: {event: order/paid, match: data.order, timeout: 1h}
  - id: done
    return: "${{ steps.paid.output.data.amount }}"
)");
  std::string run = h.Send("order/placed", {{"order", 7}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  ASSERT_EQ(h.Run(run).status, RunStatus::kWaiting);
  h.Send("order/paid", {{"order", 7}, {"amount", 30}});
  store::RunRecord woken = h.Run(run);
  EXPECT_EQ(woken.lease_owner, "test-node");
  EXPECT_EQ(woken.due_at, woken.lease_until);
  Engine other(h.store(), h.catalog(), nullptr, h.clock(), nullptr,
               EngineOptions{.node_id = "other-node"});
  auto advanced = other.AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 0);
  advanced = h.engine().AdvanceReadyRuns(10);
  ASSERT_TRUE(advanced.ok());
  EXPECT_EQ(*advanced, 1);
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(run).output, 30);
}

TEST(EngineFreshRunTest, AWokenRunWithAConcurrencyLimitIsLeftToTheClaim) {
  EngineHarness h;
  h.SetEngineOptions(kQueueOnIngest);
  h.AddFlow(R"(
id: limited-waiter
on: {event: order/placed}
concurrency: {limit: 1}
steps:
  - id: paid
    wait_for_event: {event: order/paid, match: data.order, timeout: 1h}
)");
  std::string run = h.Send("order/placed", {{"order", 7}});
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  h.Send("order/paid", {{"order", 7}});
  EXPECT_TRUE(h.Run(run).lease_owner.empty());
  ASSERT_TRUE(h.Drive(std::chrono::minutes(1)).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

}  // namespace
}  // namespace flowrun
