// A run just taken (created leased to this node, or claimed) whose first walk reaches its actions
// with nothing to record starts them without a commit: taking it stored it running, under a lease
// that covers them (RunWalker::BatchRestatesTakenRun). Any other first walk commits first.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/failpoint.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

constexpr char kCall[] = R"(
id: call
on: {event: go}
steps:
  - id: call
    http: {url: "https://api.example.com/x"}
)";

// The failpoints the engine passed in one AdvanceReadyRuns call, in order.
std::vector<std::string> TraceOfOneAdvance(EngineHarness& h) {
  h.engine().TEST_failpoints().TEST_Record(true);
  EXPECT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  std::vector<std::string> trace = h.engine().TEST_failpoints().TEST_trace();
  h.engine().TEST_failpoints().TEST_Record(false);
  return trace;
}

// Engine options under which every run waits in the store, queued, until a claim takes it.
EngineOptions WithoutFreshQueue() {
  EngineOptions options{.node_id = "test-node", .seed = 7, .log = nullptr};
  options.fresh_run_capacity = 0;
  return options;
}

// Lets the held http attempts answer and drives the run to its end.
void FinishHeldRun(EngineHarness& h, const std::string& run) {
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

const std::vector<std::string> kActionThenItsResult = {
    std::string(kFailBeforeAction), std::string(kFailAfterAction), std::string(kFailBeforeCommit),
    std::string(kFailAfterCommit)};

TEST(EngineTakenRunTest, AFreshRunStartsItsFirstActionWithoutACommit) {
  EngineHarness h;
  h.AddFlow(kCall);
  std::string run = h.Send("go");
  EXPECT_EQ(h.Run(run).status, RunStatus::kRunning);  // created taken by this node
  EXPECT_EQ(TraceOfOneAdvance(h), kActionThenItsResult);
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.action("http").calls(), 1);
}

TEST(EngineTakenRunTest, AClaimedRunStartsItsFirstActionWithoutACommit) {
  EngineHarness h;
  h.SetEngineOptions(WithoutFreshQueue());
  h.AddFlow(kCall);
  std::string run = h.Send("go");
  EXPECT_EQ(h.Run(run).status, RunStatus::kQueued);
  EXPECT_EQ(h.Run(run).lease_owner, "");
  EXPECT_EQ(TraceOfOneAdvance(h), kActionThenItsResult);
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

TEST(EngineTakenRunTest, WhileItsFirstActionIsOutTheStoreShowsTheRunRunningAndLeased) {
  EngineHarness h;
  h.SetEngineOptions(WithoutFreshQueue());
  h.AddFlow(kCall);
  h.action("http").Hold(true);
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  ASSERT_EQ(h.action("http").held(), 1);
  store::RunRecord stored = h.Run(run);
  EXPECT_EQ(stored.status, RunStatus::kRunning);
  EXPECT_EQ(stored.lease_owner, "test-node");
  ASSERT_TRUE(stored.lease_until.has_value());
  // The lease outlasts the attempt's deadline by at least a lease (lease_term.h).
  EXPECT_GE(*stored.lease_until,
            h.action("http").requests().front().deadline + std::chrono::minutes(1));
  EXPECT_EQ(stored.due_at, stored.lease_until);
  EXPECT_TRUE(h.Journal(run).empty());
  FinishHeldRun(h, run);
}

TEST(EngineTakenRunTest, AFirstActionThatOutlastsTheLeaseCommitsTheLongerLeaseFirst) {
  EngineHarness h;
  h.AddFlow(R"(
id: slow-call
on: {event: go}
steps:
  - id: call
    http: {url: "https://api.example.com/x"}
    timeout: 2h
)");
  h.action("http").Hold(true);
  std::string run = h.Send("go");
  const std::vector<std::string> trace = TraceOfOneAdvance(h);
  ASSERT_GE(trace.size(), 3u);
  EXPECT_EQ(trace[0], kFailBeforeCommit);
  EXPECT_EQ(trace[1], kFailAfterCommit);
  EXPECT_EQ(trace[2], kFailBeforeAction);
  store::RunRecord stored = h.Run(run);
  ASSERT_TRUE(stored.lease_until.has_value());
  EXPECT_GE(*stored.lease_until, h.clock().Now() + std::chrono::hours(2));
  FinishHeldRun(h, run);
}

TEST(EngineTakenRunTest, AWokenRunCommitsBeforeItsNextAction) {
  EngineHarness h;
  h.AddFlow(R"(
id: nap-then-call
on: {event: go}
steps:
  - id: nap
    sleep: 1m
  - id: call
    http: {url: "https://api.example.com/x"}
)");
  std::string run = h.Send("go");
  EXPECT_EQ(h.Run(run).status, RunStatus::kSleeping);
  h.clock().Advance(std::chrono::minutes(2));
  h.action("http").Hold(true);
  const std::vector<std::string> trace = TraceOfOneAdvance(h);
  ASSERT_GE(trace.size(), 3u);
  EXPECT_EQ(trace[0], kFailBeforeCommit);  // the sleep's completion
  EXPECT_EQ(trace[2], kFailBeforeAction);
  EXPECT_EQ(h.Run(run).status, RunStatus::kRunning);
  FinishHeldRun(h, run);
}

}  // namespace
}  // namespace flowrun
