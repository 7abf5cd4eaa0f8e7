// Asynchronous actions: runs hold no thread while their actions are in flight. The fake transport
// (FakeAction::Hold) keeps attempts out until the test answers them, in any order.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::JournalKind;
using store::RunStatus;
using testing::EngineHarness;

constexpr Duration kNoTime = std::chrono::seconds(1);

constexpr char kCallThenMail[] = R"(
id: call-then-mail
on: {event: go}
steps:
  - id: call
    http: {url: "https://api.example.com/${{ event.data.n }}"}
  - id: mail
    email: {to: a@example.com, subject: s, text: "${{ steps.call.output.key }}"}
)";

// Sends `n` events {n: i} at once and returns the runs they started, in order.
std::vector<std::string> SendMany(EngineHarness& h, int n) {
  std::vector<Json> events;
  for (int i = 0; i < n; ++i) events.push_back({{"name", "go"}, {"data", {{"n", i}}}});
  auto ingested = h.engine().IngestEvents(events);
  EXPECT_TRUE(ingested.ok()) << ingested.status().ToString();
  std::vector<std::string> runs;
  if (!ingested.ok()) return runs;
  for (const IngestedEvent& e : *ingested) runs.push_back(e.runs.at(0));
  return runs;
}

// Every completion of the run's journal appears once.
void ExpectEachStepCompletedOnce(EngineHarness& h, const std::string& run) {
  std::map<std::string, int> completions;
  for (const auto& e : h.Journal(run)) {
    if (e.kind == JournalKind::kCompleted) ++completions[e.step_key];
  }
  for (const auto& [key, count] : completions) EXPECT_EQ(count, 1) << run << " " << key;
}

TEST(EngineAsyncTest, AThousandRunsAreInFlightAtOnceAndCompleteInAnyOrder) {
  EngineHarness h;
  h.AddFlow(kCallThenMail);
  h.action("http").Hold(true);
  std::vector<std::string> runs = SendMany(h, 1000);
  ASSERT_EQ(runs.size(), 1000u);
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.action("http").held(), 1000);
  EXPECT_EQ(h.engine().ActionsInFlight(), 1000);
  EXPECT_EQ(h.Run(runs[500]).status, RunStatus::kRunning);

  EXPECT_EQ(h.action("http").ReleaseHeld(-1, /*shuffle_seed=*/42), 1000);
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.engine().ActionsInFlight(), 0);
  for (const std::string& run : runs) {
    ASSERT_EQ(h.Run(run).status, RunStatus::kCompleted) << run;
    ExpectEachStepCompletedOnce(h, run);
  }
  // Each result reached its own run: the mail quotes its own run's key.
  EXPECT_EQ(h.Completion(runs[7], "mail")["input"]["text"], runs[7] + "/call");
  EXPECT_EQ(h.action("http").calls(), 1000);
  EXPECT_EQ(h.action("email").calls(), 1000);
}

TEST(EngineAsyncTest, ACrashWithFiveHundredInFlightRunsEachActionAtMostTwiceWithOneKey) {
  EngineHarness h;
  h.AddFlow(kCallThenMail);
  h.action("http").Hold(true);
  std::vector<std::string> runs = SendMany(h, 500);
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  ASSERT_EQ(h.action("http").held(), 500);
  // Some results commit; more come back and are lost with the process before their commit.
  h.action("http").ReleaseHeld(200, 3);
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  h.action("http").ReleaseHeld(100, 5);
  h.engine().TEST_failpoints().TEST_CrashAt(1);
  EXPECT_EQ(h.Drive(kNoTime).code(), StatusCode::kAborted);

  h.action("http").DropHeld();  // the process died with them
  h.action("http").Hold(false);
  h.Reopen();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  std::map<std::string, std::set<std::string>> keys;  // run -> idempotency keys sent
  std::map<std::string, int> attempts;                // run -> http requests
  for (const ActionRequest& request : h.action("http").requests()) {
    keys[request.run_id].insert(request.idempotency_key);
    ++attempts[request.run_id];
  }
  for (const std::string& run : runs) {
    ASSERT_EQ(h.Run(run).status, RunStatus::kCompleted) << run;
    ExpectEachStepCompletedOnce(h, run);
    EXPECT_LE(attempts[run], 2) << run;
    EXPECT_EQ(keys[run], std::set<std::string>{run + "/call"});
  }
  EXPECT_GT(h.action("http").calls(), 500);  // the lost results were asked for again
}

TEST(EngineAsyncTest, ACrashAfterTheSideEffectLosesOnlyThatResult) {
  EngineHarness h;
  h.AddFlow(kCallThenMail);
  std::string run = h.Send("go", {{"n", 1}});
  // The run's first walk commits nothing (it was just taken, and records nothing before its
  // action): pass 1 is the action's start, 2 its return.
  h.engine().TEST_failpoints().TEST_Record(true);
  h.engine().TEST_failpoints().TEST_CrashAt(2);
  EXPECT_EQ(h.Drive(kNoTime).code(), StatusCode::kAborted);
  std::vector<std::string> trace = h.engine().TEST_failpoints().TEST_trace();
  ASSERT_FALSE(trace.empty());
  EXPECT_EQ(trace.back(), "after_action");
  h.Reopen();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  ExpectEachStepCompletedOnce(h, run);
  ASSERT_EQ(h.action("http").calls(), 2);
  EXPECT_EQ(h.action("http").requests()[0].idempotency_key,
            h.action("http").requests()[1].idempotency_key);
}

TEST(EngineAsyncTest, ARunWhoseCommitFailedIsTakenBackWithoutWaitingForItsLease) {
  // The store refuses one commit (unreachable for a moment): the runs of that walk are not left
  // leased to this live node until their leases run out, but taken back and finished.
  EngineHarness h;
  h.AddFlow(kCallThenMail);
  std::string run = h.Send("go", {{"n", 1}});
  h.action("http").Hold(true);
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  ASSERT_EQ(h.action("http").held(), 1);
  h.action("http").ReleaseHeld();
  h.engine().TEST_failpoints().TEST_CrashAt(1);  // the commit of the call's result fails
  EXPECT_EQ(h.engine().AdvanceReadyRuns(64).status().code(), StatusCode::kAborted);
  h.engine().TEST_failpoints().TEST_CrashAt(0);
  h.action("http").Hold(false);
  ASSERT_TRUE(h.Drive(kNoTime).ok());  // far less than a lease
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  ExpectEachStepCompletedOnce(h, run);
  ASSERT_EQ(h.action("http").calls(), 2);  // the lost result was asked for again, under one key
  EXPECT_EQ(h.action("http").requests()[0].idempotency_key,
            h.action("http").requests()[1].idempotency_key);
}

TEST(EngineAsyncTest, ParallelBranchesAreInFlightTogether) {
  EngineHarness h;
  h.AddFlow(R"(
id: fan-out
on: {event: go}
steps:
  - id: all
    parallel:
      branches:
        a: [{id: a, http: {url: "https://x/a"}}]
        b: [{id: b, http: {url: "https://x/b"}}]
        c: [{id: c, http: {url: "https://x/c"}}]
        d: [{id: d, email: {to: d@example.com, subject: s, text: t}}]
  - id: out
    return: "${{ steps.all.output }}"
)");
  h.action("http").Hold(true);
  h.action("email").Hold(true);
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.action("http").held(), 3);
  EXPECT_EQ(h.action("email").held(), 1);
  h.action("http").ReleaseHeld(1);
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  // A branch's result is recorded while the others are out, and nothing is started twice.
  EXPECT_NE(h.Completion(run, "a"), nullptr);
  EXPECT_EQ(h.action("http").calls(), 3);
  EXPECT_EQ(h.Run(run).status, RunStatus::kRunning);
  h.action("http").ReleaseHeld(-1, 9);
  h.action("email").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  store::RunRecord record = h.Run(run);
  ASSERT_EQ(record.status, RunStatus::kCompleted) << record.error.dump();
  EXPECT_EQ(record.output["b"]["key"], run + "/b");
  EXPECT_EQ(record.output["d"]["key"], run + "/d");
  ExpectEachStepCompletedOnce(h, run);
}

TEST(EngineAsyncTest, ForeachKeepsItsConcurrencyWindowFullAndItsResultsInOrder) {
  EngineHarness h;
  h.AddFlow(R"(
id: each
on: {event: go}
steps:
  - id: items
    foreach:
      items: "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"
      as: item
      concurrency: 3
      steps:
        - id: send
          http: {url: "https://x/${{ item }}"}
  - id: out
    return: "${{ steps.items.output }}"
)");
  h.action("http").Hold(true);
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.action("http").held(), 3);
  int most_held = 0;
  for (int round = 0; round < 20 && h.Run(run).status == RunStatus::kRunning; ++round) {
    // The last one out comes back first: the window slides by one, whatever the order.
    h.action("http").ReleaseHeld(1, round + 1);
    ASSERT_TRUE(h.Drive(kNoTime).ok());
    most_held = std::max(most_held, h.action("http").held());
  }
  EXPECT_EQ(most_held, 3);
  store::RunRecord record = h.Run(run);
  ASSERT_EQ(record.status, RunStatus::kCompleted) << record.error.dump();
  ASSERT_EQ(record.output.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(record.output[i]["echo"]["url"], "https://x/" + std::to_string(i));
  }
  EXPECT_EQ(h.action("http").calls(), 10);
}

TEST(EngineAsyncTest, MaxInflightActionsLeavesFurtherRunsInTheStore) {
  EngineHarness h;
  EngineOptions options{.node_id = "test-node", .seed = 7, .log = nullptr};
  options.max_inflight_actions = 5;
  h.SetEngineOptions(options);
  h.AddFlow(kCallThenMail);
  h.action("http").Hold(true);
  std::vector<std::string> runs = SendMany(h, 20);
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.action("http").held(), 5);
  std::set<std::string> started;
  for (const ActionRequest& request : h.action("http").requests()) started.insert(request.run_id);
  EXPECT_EQ(started.size(), 5u);
  for (const std::string& run : runs) {
    if (!started.count(run)) EXPECT_NE(h.Run(run).status, RunStatus::kCompleted) << run;
  }
  for (int round = 0; round < 10 && h.action("http").held() > 0; ++round) {
    h.action("http").ReleaseHeld();
    ASSERT_TRUE(h.Drive(kNoTime).ok());
    EXPECT_LE(h.action("http").held(), 5);
  }
  for (const std::string& run : runs) EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

TEST(EngineAsyncTest, OversizedStepOutputFailsTheStepWithoutRetries) {
  EngineHarness h;
  EngineOptions options{.node_id = "test-node", .seed = 7, .log = nullptr};
  options.max_step_output_bytes = 1000;
  h.SetEngineOptions(options);
  h.AddFlow(R"(
id: big
on: {event: go}
steps:
  - id: fetch
    http: {method: GET, url: "https://x/big"}
    retry: {attempts: 5, delay: 1s}
)");
  h.action("http").Script(Json{{"body", std::string(2000, 'x')}});
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  store::RunRecord record = h.Run(run);
  EXPECT_EQ(record.status, RunStatus::kFailed);
  EXPECT_EQ(record.error["code"], "OUT_OF_RANGE") << record.error.dump();
  EXPECT_NE(record.error["message"].get<std::string>().find("limits.max_step_output_bytes (1000)"),
            std::string::npos)
      << record.error.dump();
  EXPECT_EQ(h.action("http").calls(), 1);  // not retried

  h.action("http").Script(Json{{"body", std::string(900, 'x')}});
  std::string small = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(small).status, RunStatus::kCompleted);
}

TEST(EngineAsyncTest, MaxActionsPerRunBoundsOneRunsBranches) {
  EngineHarness h;
  EngineOptions options{.node_id = "test-node", .seed = 7, .log = nullptr};
  options.max_actions_per_run = 2;
  h.SetEngineOptions(options);
  h.AddFlow(R"(
id: wide
on: {event: go}
steps:
  - id: items
    foreach:
      items: "[1, 2, 3, 4, 5]"
      concurrency: 5
      steps:
        - id: send
          http: {url: "https://x/${{ item }}"}
)");
  h.action("http").Hold(true);
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.action("http").held(), 2);
  for (int round = 0; round < 10 && h.action("http").held() > 0; ++round) {
    h.action("http").ReleaseHeld();
    ASSERT_TRUE(h.Drive(kNoTime).ok());
    EXPECT_LE(h.action("http").held(), 2);
  }
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.action("http").calls(), 5);
}

TEST(EngineAsyncTest, ACancelledRunStopsWhenItsActionReturns) {
  EngineHarness h;
  h.AddFlow(kCallThenMail);
  h.action("http").Hold(true);
  std::string run = h.Send("go", {{"n", 1}});
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  ASSERT_EQ(h.action("http").held(), 1);
  ASSERT_TRUE(h.engine().CancelRun(run).ok());
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCancelled);
  EXPECT_NE(h.Completion(run, "call"), nullptr);  // the step in flight was not torn
  EXPECT_EQ(h.action("email").calls(), 0);
}

TEST(EngineAsyncTest, StopClaimingLetsActionsInFlightFinishButStartsNoRun) {
  EngineHarness h;
  h.AddFlow(kCallThenMail);
  h.action("http").Hold(true);
  std::string first = h.Send("go", {{"n", 1}});
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  h.engine().StopClaiming();
  std::string second = h.Send("go", {{"n", 2}});
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.Run(first).status, RunStatus::kCompleted);
  EXPECT_NE(h.Run(second).status, RunStatus::kCompleted);
  EXPECT_TRUE(h.Journal(second).empty());
  EXPECT_EQ(h.action("http").calls(), 1);
}

TEST(EngineAsyncTest, AConcurrencyKeyHoldsBackOnlyRunsOfThatKey) {
  EngineHarness h;
  h.AddFlow(R"(
id: per-account
on: {event: go}
concurrency: {limit: 1, key: event.data.account}
steps:
  - id: call
    http: {url: "https://x/${{ event.data.account }}"}
)");
  h.action("http").Hold(true);
  std::vector<Json> events;
  for (int i = 0; i < 300; ++i) events.push_back({{"name", "go"}, {"data", {{"account", "a"}}}});
  events.push_back({{"name", "go"}, {"data", {{"account", "b"}}}});
  auto ingested = h.engine().IngestEvents(events);
  ASSERT_TRUE(ingested.ok());
  const std::string first_a = ingested->front().runs.at(0);
  const std::string only_b = ingested->back().runs.at(0);
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  // One run of each key is out: b's run was not stuck behind the 299 of a.
  EXPECT_EQ(h.action("http").held(), 2);
  EXPECT_EQ(h.Run(only_b).status, RunStatus::kRunning);
  // A slot given back lets the next run of its key go at once, not after the recheck delay.
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.Run(first_a).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(only_b).status, RunStatus::kCompleted);
  EXPECT_EQ(h.action("http").held(), 1);
  EXPECT_EQ(h.action("http").calls(), 3);
}

TEST(EngineAsyncTest, ALeaseOutlastsTheLongestActionInFlight) {
  EngineHarness h;
  h.AddFlow(R"(
id: long-call
on: {event: go}
steps:
  - id: call
    timeout: 2h
    http: {url: "https://x/slow"}
)");
  h.action("http").Hold(true);
  std::string run = h.Send("go");
  const TimePoint sent = h.clock().Now();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  ASSERT_EQ(h.action("http").held(), 1);
  store::RunRecord record = h.Run(run);
  ASSERT_TRUE(record.lease_until.has_value());
  EXPECT_GE(*record.lease_until, sent + std::chrono::hours(2));
  // No other claim takes the run while its action is out, even past the default lease.
  h.clock().AdvanceTo(sent + std::chrono::minutes(30));
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.action("http").calls(), 1);
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

TEST(EngineAsyncTest, ALeaseGrowsWithRoomSoThatTheNextStepsLeaveItAlone) {
  EngineHarness h;
  h.AddFlow(R"(
id: four-calls
on: {event: go}
steps:
  - id: a
    timeout: 10s
    http: {url: "https://x/a"}
  - id: b
    timeout: 10s
    http: {url: "https://x/b"}
  - id: c
    timeout: 10s
    http: {url: "https://x/c"}
  - id: d
    timeout: 10s
    http: {url: "https://x/d"}
)");
  const Duration lease = EngineOptions{}.lease;
  const Duration attempt_timeout = EngineOptions{}.default_attempt_timeout;
  h.action("http").Hold(true);
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  ASSERT_EQ(h.action("http").held(), 1);
  const store::RunRecord first = h.Run(run);
  ASSERT_TRUE(first.lease_until.has_value());
  EXPECT_EQ(first.due_at, first.lease_until);

  // Step b starts a second later: its action's deadline plus a lease still fits in the lease, so
  // the run's lease and due time (indexed columns) stay as they were.
  h.clock().Advance(std::chrono::seconds(1));
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  ASSERT_EQ(h.action("http").calls(), 2);
  const store::RunRecord second = h.Run(run);
  EXPECT_EQ(second.lease_until, first.lease_until);
  EXPECT_EQ(second.due_at, first.due_at);
  EXPECT_GE(*second.lease_until, h.clock().Now() + std::chrono::seconds(10) + lease);

  // Step c starts when that would no longer hold (the run was leased for an attempt timeout and
  // a lease and a half): the lease grows, and the run falls due for others only at its new end.
  h.clock().Advance(attempt_timeout + lease / 2);
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  ASSERT_EQ(h.action("http").calls(), 3);
  const store::RunRecord third = h.Run(run);
  ASSERT_TRUE(third.lease_until.has_value());
  EXPECT_EQ(*third.lease_until, h.clock().Now() + std::chrono::seconds(10) + lease + lease / 2);
  EXPECT_EQ(third.due_at, third.lease_until);

  // It grew with room to spare: step d, a second later, leaves it alone again.
  h.clock().Advance(std::chrono::seconds(1));
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  ASSERT_EQ(h.action("http").calls(), 4);
  EXPECT_EQ(h.Run(run).lease_until, third.lease_until);
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive(kNoTime).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
}

}  // namespace
}  // namespace flowrun
