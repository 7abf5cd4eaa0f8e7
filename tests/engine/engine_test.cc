// Engine tests on a real SQLite file and a simulated clock: every construct of the flow language.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include <set>

#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

TEST(EngineTest, ThreeInternalStepsComplete) {
  EngineHarness h;
  h.AddFlow(R"(
id: three
on: {event: demo/start}
steps:
  - id: a
    set: {x: "${{ event.data.n + 1 }}"}
  - id: b
    log: "x is ${{ vars.x }}"
  - id: c
    return: {result: "${{ vars.x * 2 }}"}
)");
  std::string run = h.Send("demo/start", {{"n", 4}});
  ASSERT_FALSE(run.empty());
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  EXPECT_EQ(record.status, RunStatus::kCompleted);
  EXPECT_EQ(record.output, (Json{{"result", 10}}));
  EXPECT_EQ(h.Completion(run, "a")["output"], (Json{{"x", 5}}));
}

TEST(EngineTest, ActionsGetStableIdempotencyKeysAndOutputsFlow) {
  EngineHarness h;
  h.AddFlow(R"(
id: chain
on: {event: go}
steps:
  - id: get-user
    http: {method: GET, url: "https://example.com/u/${{ event.data.id }}"}
  - id: mail
    email: {to: a@example.com, subject: "hi ${{ steps.get-user.output.key }}", text: x}
)");
  std::string run = h.Send("go", {{"id", "u1"}});
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  ASSERT_EQ(h.action("http").calls(), 1);
  EXPECT_EQ(h.action("http").requests()[0].idempotency_key, run + "/get-user");
  EXPECT_EQ(h.action("http").requests()[0].arguments["url"], "https://example.com/u/u1");
  ASSERT_EQ(h.action("email").calls(), 1);
  EXPECT_EQ(h.action("email").requests()[0].arguments["subject"], "hi " + run + "/get-user");
}

TEST(EngineTest, ControlFlowIfSwitchParallelForeachBlock) {
  EngineHarness h;
  h.AddFlow(R"(
id: control
on: {event: go}
steps:
  - id: skipped
    if: event.data.n > 100
    set: {never: true}
  - id: pick
    switch:
      cases:
        - when: event.data.n == 3
          steps:
            - id: three
              set: {branch: three}
      default:
        - id: other
          set: {branch: other}
  - id: both
    parallel:
      branches:
        left:
          - id: l
            http: {method: GET, url: "https://l"}
        right:
          - id: r
            http: {method: GET, url: "https://r"}
  - id: each
    foreach:
      items: event.data.items
      as: item
      concurrency: 2
      steps:
        - id: send
          http: {method: POST, url: "https://x/${{ item }}"}
  - id: nested
    steps:
      - id: inner
        set: {done: true}
  - id: out
    return: {branch: "${{ vars.branch }}", done: "${{ vars.done }}", skipped: "${{ steps.skipped.status }}"}
)");
  std::string run = h.Send("go", {{"n", 3}, {"items", {"a", "b", "c"}}});
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  ASSERT_EQ(record.status, RunStatus::kCompleted) << record.error.dump();
  EXPECT_EQ(record.output, (Json{{"branch", "three"}, {"done", true}, {"skipped", "skipped"}}));
  EXPECT_EQ(h.action("http").calls(), 5);
  std::set<std::string> keys;
  for (const auto& r : h.action("http").requests()) keys.insert(r.step_key);
  EXPECT_EQ(keys, (std::set<std::string>{"l", "r", "send[0]", "send[1]", "send[2]"}));
}

TEST(EngineTest, RetriesWithBackoffThenSucceeds) {
  EngineHarness h;
  h.AddFlow(R"(
id: retry
on: {event: go}
steps:
  - id: call
    retry: {attempts: 3, delay: 10s}
    http: {method: GET, url: "https://x"}
)");
  h.action("http").Script(UnavailableError("connection refused"));
  h.action("http").Script(Status(UnavailableError("busy")).set_retry_after_ms(30000));
  std::string run = h.Send("go");
  TimePoint start = h.clock().Now();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  auto requests = h.action("http").requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].attempt, 3);
  EXPECT_EQ(requests[0].idempotency_key, requests[2].idempotency_key);
  // The Retry-After of the second failure set the last delay.
  EXPECT_GE(h.clock().Now() - start, std::chrono::seconds(30));
  EXPECT_EQ(h.Completion(run, "call")["attempts"], 3);
}

TEST(EngineTest, NonRetryableFailureRunsOnFailure) {
  EngineHarness h;
  h.AddFlow(R"(
id: failing
on: {event: go}
on_failure:
  - id: alert
    email: {to: ops@example.com, subject: "failed", text: "${{ error.message }}"}
steps:
  - id: call
    http: {method: GET, url: "https://x"}
)");
  h.action("http").Script(InvalidArgumentError("HTTP 404"));
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  EXPECT_EQ(record.status, RunStatus::kFailed);
  EXPECT_EQ(h.action("http").calls(), 1);
  ASSERT_EQ(h.action("email").calls(), 1);
  EXPECT_EQ(h.action("email").requests()[0].arguments["text"], "HTTP 404");
}

TEST(EngineTest, OnErrorContinueAndHandler) {
  EngineHarness h;
  h.AddFlow(R"(
id: handled
on: {event: go}
steps:
  - id: first
    on_error: continue
    fail: {message: boom}
  - id: second
    fail: {message: "second ${{ steps.first.status }}"}
    on_error:
      - id: recover
        set: {recovered: "${{ error.message }}"}
  - id: done
    return: "${{ vars.recovered }}"
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  ASSERT_EQ(record.status, RunStatus::kCompleted) << record.error.dump();
  EXPECT_EQ(record.output, "second failed");
}

TEST(EngineTest, AStepHandledByOnErrorStaysFailedWithoutOutput) {
  EngineHarness h;
  h.AddFlow(R"(
id: handled-output
on: {event: go}
steps:
  - id: book
    http: {url: "https://cal.example/bookings"}
    on_error:
      - id: note
        set: {booking_error: "${{ error.message }}"}
  - id: after
    return:
      status: "${{ steps.book.status }}"
      output: "${{ steps.book.output }}"
      error: "${{ steps.book.error.message }}"
      note: "${{ steps.note.output }}"
)");
  h.action("http").Script(InvalidArgumentError("HTTP 409"));
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  ASSERT_EQ(record.status, RunStatus::kCompleted) << record.error.dump();
  EXPECT_EQ(record.output["status"], "failed");
  EXPECT_TRUE(record.output["output"].is_null()) << record.output.dump();
  EXPECT_NE(record.output["error"].get<std::string>().find("HTTP 409"), std::string::npos);
  EXPECT_EQ(record.output["note"]["booking_error"], record.output["error"]);
  Json book = h.Completion(run, "book");
  EXPECT_EQ(book["status"], "failed");
  EXPECT_TRUE(book["output"].is_null()) << book.dump();
  EXPECT_EQ(book["handled"], true);
  Json note = h.Completion(run, "note");
  EXPECT_EQ(note["status"], "completed");
  EXPECT_TRUE(note["output"].is_object()) << note.dump();
}

TEST(EngineTest, ExpressionErrorFailsStepWithoutRetryNamingStepAndExpression) {
  EngineHarness h;
  h.AddFlow(R"(
id: bad-expr
on: {event: go}
steps:
  - id: compute
    set: {x: "${{ event.data.n / 0 }}"}
)");
  std::string run = h.Send("go", {{"n", 1}});
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  EXPECT_EQ(record.status, RunStatus::kFailed);
  std::string message = record.error.value("message", "");
  EXPECT_NE(message.find("compute"), std::string::npos) << message;
  EXPECT_EQ(record.error.value("retryable", true), false);
}

TEST(EngineTest, SleepIsADurableTimer) {
  EngineHarness h;
  h.AddFlow(R"(
id: sleeper
on: {event: go}
steps:
  - id: nap
    sleep: 72h
  - id: until
    sleep_until: "2024-01-05T00:00:00Z"
  - id: done
    return: ok
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kSleeping);
  EXPECT_EQ(*h.Run(run).due_at, h.clock().Now() + std::chrono::hours(72));
  h.Reopen();  // a sleeping run is only a row
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  EXPECT_EQ(h.clock().Now(), *ParseTimestamp("2024-01-05T00:00:00Z"));
}

TEST(EngineTest, CancelStopsBetweenSteps) {
  EngineHarness h;
  h.AddFlow(R"(
id: cancellable
on: {event: go}
steps:
  - id: nap
    sleep: 1h
  - id: never
    http: {method: GET, url: "https://x"}
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  ASSERT_TRUE(h.engine().CancelRun(run).ok());
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCancelled);
  EXPECT_EQ(h.action("http").calls(), 0);
}

TEST(EngineTest, FlowTimeoutCancelsTheRun) {
  EngineHarness h;
  h.AddFlow(R"(
id: slow
on: {event: go}
timeout: 1h
steps:
  - id: nap
    sleep: 2h
  - id: never
    http: {method: GET, url: "https://x"}
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCancelled);
  EXPECT_EQ(h.action("http").calls(), 0);
}

TEST(EngineTest, SendEventFansOutExactlyOnce) {
  EngineHarness h;
  h.AddFlow(R"(
id: sender
on: {event: go}
steps:
  - id: emit
    send_event:
      - {name: child/start, data: {n: 1}}
      - {name: child/start, data: {n: 2}}
)");
  h.AddFlow(R"(
id: receiver
on: {event: child/start}
steps:
  - id: r
    return: "${{ event.data.n }}"
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).status, RunStatus::kCompleted);
  auto ids = h.Completion(run, "emit")["output"]["ids"];
  ASSERT_EQ(ids.size(), 2u);
  auto runs = h.engine().ListRuns({.flow_id = "receiver"});
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  for (const auto& r : *runs) EXPECT_EQ(r.status, RunStatus::kCompleted);
}

TEST(EngineTest, InvokeRunsAChildAndResumesWithItsOutput) {
  EngineHarness h;
  h.AddFlow(R"(
id: child
on: {event: never/sent}
steps:
  - id: c
    return: {doubled: "${{ event.data.n * 2 }}"}
)");
  h.AddFlow(R"(
id: parent
on: {event: go}
steps:
  - id: call
    invoke: {flow: child, data: {n: 21}, timeout: 1h}
  - id: out
    return: "${{ steps.call.output.doubled }}"
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  ASSERT_EQ(record.status, RunStatus::kCompleted) << record.error.dump();
  EXPECT_EQ(record.output, 42);
}

TEST(EngineTest, IdempotencyDropsSecondStartAndDedupesClientIds) {
  EngineHarness h;
  h.AddFlow(R"(
id: once
on: {event: order}
idempotency: event.data.orderId
steps:
  - id: a
    return: 1
)");
  EXPECT_FALSE(h.Send("order", {{"orderId", "o1"}}).empty());
  EXPECT_TRUE(h.Send("order", {{"orderId", "o1"}}).empty());
  EXPECT_FALSE(h.Send("order", {{"orderId", "o2"}}).empty());
  auto first = h.engine().IngestEvents({Json{{"name", "x"}, {"id", "client-1"}}});
  auto second = h.engine().IngestEvents({Json{{"name", "x"}, {"id", "client-1"}}});
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE((*second)[0].duplicate);
  EXPECT_EQ((*first)[0].id, (*second)[0].id);
}

TEST(EngineTest, ConcurrencyLimitsExecutingRunsPerKey) {
  EngineHarness h;
  h.AddFlow(R"(
id: limited
on: {event: go}
concurrency: {limit: 1, key: event.data.user}
steps:
  - id: a
    http: {method: GET, url: "https://x"}
)");
  std::string r1 = h.Send("go", {{"user", "u"}});
  std::string r2 = h.Send("go", {{"user", "u"}});
  std::string r3 = h.Send("go", {{"user", "v"}});
  auto claimed = h.store().ClaimRuns("other", h.clock().Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(claimed.ok());
  EXPECT_EQ(claimed->size(), 2u);  // one of u's runs, and v's
  ASSERT_TRUE(h.store().ReleaseLeases("other").ok());
  ASSERT_TRUE(h.Drive().ok());
  for (const auto& r : {r1, r2, r3}) EXPECT_EQ(h.Run(r).status, RunStatus::kCompleted);
}

// A run with a concurrency key that sleeps until a retry gives its slot back; that must not make
// it (or another sleeper of its key) due at once, or a driver on a simulated clock spins forever.
TEST(EngineTest, ConcurrencyLimitedRunsSleepUntilTheirRetry) {
  EngineHarness h;
  h.AddFlow(R"(
id: limited-retry
on: {event: go}
concurrency: {limit: 1, key: event.data.user}
steps:
  - id: a
    retry: {attempts: 3, delay: 1m, backoff: constant, jitter: false}
    http: {method: GET, url: "https://x"}
)");
  for (int i = 0; i < 2; ++i) h.action("http").Script(UnavailableError("connection refused"));
  std::string r1 = h.Send("go", {{"user", "u"}});
  std::string r2 = h.Send("go", {{"user", "u"}});
  TimePoint start = h.clock().Now();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(r1).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(r2).status, RunStatus::kCompleted);
  EXPECT_GE(h.clock().Now() - start, std::chrono::minutes(1));
  EXPECT_EQ(h.action("http").calls(), 4);
}

TEST(EngineTest, NowAndUuidAreJournaledAndReplayed) {
  EngineHarness h;
  h.AddFlow(R"(
id: nondet
on: {event: go}
steps:
  - id: call
    http: {method: GET, url: "https://x/${{ uuid() }}/${{ now() }}"}
)");
  h.action("http").Script(UnavailableError("down"));
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  auto requests = h.action("http").requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].arguments["url"], requests[1].arguments["url"]);
}

TEST(EngineTest, SecretsAreRedactedInTheJournal) {
  EngineHarness h(std::map<std::string, std::string>{{"API_KEY", "s3cr3t-value"}});
  h.AddFlow(R"(
id: secretive
on: {event: go}
steps:
  - id: call
    http: {method: GET, url: "https://x", headers: {Authorization: "Bearer ${{ secrets.API_KEY }}"}}
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.action("http").requests()[0].arguments["headers"]["Authorization"],
            "Bearer s3cr3t-value");
  for (const auto& e : h.Journal(run)) {
    EXPECT_EQ(e.data.dump().find("s3cr3t-value"), std::string::npos) << e.data.dump();
  }
  EXPECT_EQ(h.Completion(run, "call")["input"]["headers"]["Authorization"], "Bearer ***");
}

TEST(EngineTest, EventThatIsNotAnObjectIsRejected) {
  EngineHarness h;
  auto result = h.engine().IngestEvents({Json{{"name", "ok"}}, Json::array({1, 2})});
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(result.status().message().find("event 1"), std::string::npos);
  auto events = h.store().ListEvents({});
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(events->empty());  // nothing of the request was stored
}

TEST(EngineTest, RunsStayPinnedToTheirRevision) {
  EngineHarness h;
  h.AddFlow(R"(
id: pinned
on: {event: go}
steps:
  - id: nap
    sleep: 1h
  - id: out
    return: v1
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  h.AddFlow(R"(
id: pinned
on: {event: go}
steps:
  - id: nap
    sleep: 1h
  - id: out
    return: v2
)");
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(run).output, "v1");
}

}  // namespace
}  // namespace flowrun
