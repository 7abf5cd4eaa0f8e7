// Flow control on the simulated clock: concurrency lists, throttle, rate_limit, debounce, batch,
// priority and singleton, with their edges, restarts in the middle and many distinct keys.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using store::RunStatus;
using testing::EngineHarness;

// The runs of a flow, oldest first.
std::vector<store::RunRecord> RunsOf(EngineHarness& h, const std::string& flow) {
  store::RunFilter filter;
  filter.flow_id = flow;
  filter.limit = 100000;
  auto runs = h.engine().ListRuns(filter);
  EXPECT_TRUE(runs.ok());
  std::vector<store::RunRecord> list = runs.ok() ? *runs : std::vector<store::RunRecord>{};
  std::reverse(list.begin(), list.end());
  return list;
}

int CountStatus(const std::vector<store::RunRecord>& runs, RunStatus status) {
  return static_cast<int>(
      std::count_if(runs.begin(), runs.end(), [&](const auto& r) { return r.status == status; }));
}

// The time the run's first step ran: its first journal entry.
TimePoint StartedAt(EngineHarness& h, const std::string& run_id) {
  auto journal = h.Journal(run_id);
  EXPECT_FALSE(journal.empty()) << run_id;
  return journal.empty() ? TimePoint{} : journal.front().at;
}

constexpr char kThrottled[] = R"(
id: throttled
on: {event: mail/send}
throttle: {limit: 2, period: 1m, burst: 2, key: event.data.account}
steps:
  - id: send
    http: {url: "https://mail.example/send"}
)";

TEST(EngineFlowControlTest, ThrottleLetsABurstThroughThenSpacesStartsAndNeverDrops) {
  EngineHarness h;
  h.AddFlow(kThrottled);
  const TimePoint t0 = h.clock().Now();
  std::vector<std::string> runs;
  for (int i = 0; i < 5; ++i) runs.push_back(h.Send("mail/send", {{"account", "a"}}));
  h.Send("mail/send", {{"account", "b"}});  // another key is never held up
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  // The burst of 2 for "a" and the one for "b" started at once; the rest wait in the store.
  EXPECT_EQ(h.action("http").calls(), 3);
  EXPECT_EQ(h.Run(runs[2]).status, RunStatus::kQueued);
  EXPECT_EQ(h.Run(runs[2]).due_at, t0 + seconds(30));  // period / limit apart
  EXPECT_EQ(h.Run(runs[3]).due_at, t0 + seconds(60));
  EXPECT_EQ(h.Run(runs[4]).due_at, t0 + seconds(90));
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.action("http").calls(), 6);
  for (const std::string& id : runs) EXPECT_EQ(h.Run(id).status, RunStatus::kCompleted);
  EXPECT_EQ(StartedAt(h, runs[2]), t0 + seconds(30));
  EXPECT_EQ(StartedAt(h, runs[4]), t0 + seconds(90));
}

TEST(EngineFlowControlTest, ThrottleAtThePeriodBoundaryStartsAtOnce) {
  EngineHarness h;
  h.AddFlow(kThrottled);
  h.Send("mail/send", {{"account", "a"}});
  h.Send("mail/send", {{"account", "a"}});
  ASSERT_TRUE(h.Drive().ok());
  // One full period later the bucket is full again: a burst of two starts without delay.
  h.clock().Advance(minutes(1));
  const TimePoint t1 = h.clock().Now();
  std::string a = h.Send("mail/send", {{"account", "a"}});
  std::string b = h.Send("mail/send", {{"account", "a"}});
  std::string c = h.Send("mail/send", {{"account", "a"}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  EXPECT_EQ(h.Run(a).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(b).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(c).due_at, t1 + seconds(30));
}

TEST(EngineFlowControlTest, ThrottledRunsSurviveARestartWaitingInTheStore) {
  EngineHarness h;
  h.AddFlow(kThrottled);
  std::vector<std::string> runs;
  for (int i = 0; i < 4; ++i) runs.push_back(h.Send("mail/send", {{"account", "a"}}));
  h.Reopen();
  ASSERT_TRUE(h.Drive().ok());
  for (const std::string& id : runs) EXPECT_EQ(h.Run(id).status, RunStatus::kCompleted);
  EXPECT_EQ(h.action("http").calls(), 4);
}

constexpr char kRateLimited[] = R"(
id: limited
on: {event: user/signup}
rate_limit: {limit: 1, period: 24h, key: event.data.user}
steps:
  - id: welcome
    email: {to: "u@example.com", subject: hi, text: hi}
)";

TEST(EngineFlowControlTest, RateLimitSkipsExtraEventsVisiblyUntilThePeriodEnds) {
  EngineHarness h;
  std::vector<std::pair<std::string, std::string>> skips;
  std::mutex skips_mu;
  EngineOptions options{.node_id = "test-node", .seed = 7, .log = nullptr};
  options.on_run_skipped = [&](const std::string& flow, const std::string& cause) {
    std::lock_guard lock(skips_mu);
    skips.emplace_back(flow, cause);
  };
  h.SetEngineOptions(options);
  h.AddFlow(kRateLimited);
  std::string first = h.Send("user/signup", {{"user", "u1"}});
  h.clock().Advance(std::chrono::hours(24) - milliseconds(1));
  std::string second = h.Send("user/signup", {{"user", "u1"}});
  std::string other = h.Send("user/signup", {{"user", "u2"}});
  ASSERT_TRUE(h.Drive(seconds(0)).ok());
  EXPECT_EQ(h.Run(first).status, RunStatus::kCompleted);
  store::RunRecord skipped = h.Run(second);
  EXPECT_EQ(skipped.status, RunStatus::kSkipped);
  EXPECT_EQ(skipped.skip_reason, "rate_limit");
  EXPECT_TRUE(skipped.ended_at.has_value());
  EXPECT_NE(skipped.error.value("message", "").find("rate limit"), std::string::npos);
  EXPECT_EQ(h.Run(other).status, RunStatus::kCompleted);
  EXPECT_EQ(skips, (std::vector<std::pair<std::string, std::string>>{{"limited", "rate_limit"}}));
  // Exactly one period after the first start, the key may start again.
  h.clock().Advance(milliseconds(1));
  std::string third = h.Send("user/signup", {{"user", "u1"}});
  ASSERT_TRUE(h.Drive(seconds(0)).ok());
  EXPECT_EQ(h.Run(third).status, RunStatus::kCompleted);
  EXPECT_EQ(h.action("email").calls(), 3);
  store::RunFilter filter;
  filter.status = RunStatus::kSkipped;
  auto listed = h.engine().ListRuns(filter);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().id, second);
}

TEST(EngineFlowControlTest, RateLimitWithALimitOfThreeLetsThreeStartAtOnce) {
  EngineHarness h;
  h.AddFlow(R"(
id: three
on: {event: x}
rate_limit: {limit: 3, period: 1h}
steps:
  - id: a
    log: hi
)");
  for (int i = 0; i < 5; ++i) h.Send("x");
  ASSERT_TRUE(h.Drive(seconds(0)).ok());
  auto runs = RunsOf(h, "three");
  EXPECT_EQ(CountStatus(runs, RunStatus::kCompleted), 3);
  EXPECT_EQ(CountStatus(runs, RunStatus::kSkipped), 2);
  h.clock().Advance(minutes(20));  // one interval: one more
  h.Send("x");
  h.Send("x");
  ASSERT_TRUE(h.Drive(seconds(0)).ok());
  runs = RunsOf(h, "three");
  EXPECT_EQ(CountStatus(runs, RunStatus::kCompleted), 4);
  EXPECT_EQ(CountStatus(runs, RunStatus::kSkipped), 3);
}

constexpr char kDebounced[] = R"(
id: debounced
on: {event: doc/edited}
debounce: {period: 5m, key: event.data.doc, timeout: 12m}
steps:
  - id: index
    http: {url: "https://search.example/${{ event.data.doc }}/${{ event.data.rev }}"}
)";

TEST(EngineFlowControlTest, DebounceGivesOneRunWithTheLastEventAfterQuiet) {
  EngineHarness h;
  h.AddFlow(kDebounced);
  const TimePoint t0 = h.clock().Now();
  std::string run = h.Send("doc/edited", {{"doc", "d1"}, {"rev", 1}});
  h.clock().Advance(minutes(2));
  EXPECT_EQ(h.Send("doc/edited", {{"doc", "d1"}, {"rev", 2}}), run);  // joins the open run
  h.clock().Advance(minutes(2));
  EXPECT_EQ(h.Send("doc/edited", {{"doc", "d1"}, {"rev", 3}}), run);
  std::string other = h.Send("doc/edited", {{"doc", "d2"}, {"rev", 1}});
  EXPECT_NE(other, run);
  EXPECT_EQ(h.Run(run).due_at, t0 + minutes(9));
  EXPECT_EQ(h.Run(other).due_at, t0 + minutes(9));
  ASSERT_TRUE(h.Drive(minutes(4) + seconds(59)).ok());
  EXPECT_EQ(h.action("http").calls(), 0);
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.action("http").calls(), 2);
  EXPECT_EQ(h.Run(run).event["data"]["rev"], 3);
  EXPECT_EQ(StartedAt(h, run), t0 + minutes(9));
  // After the run started, the next edit opens a new debounce.
  std::string next = h.Send("doc/edited", {{"doc", "d1"}, {"rev", 4}});
  EXPECT_NE(next, run);
}

TEST(EngineFlowControlTest, DebounceTimeoutBoundsHowLongABurstPutsTheRunOff) {
  EngineHarness h;
  h.AddFlow(kDebounced);
  const TimePoint t0 = h.clock().Now();
  std::string run = h.Send("doc/edited", {{"doc", "d1"}, {"rev", 0}});
  for (int i = 1; i <= 5; ++i) {
    h.clock().Advance(minutes(2));
    ASSERT_EQ(h.Send("doc/edited", {{"doc", "d1"}, {"rev", i}}), run);
  }
  // Five edits two minutes apart: the quiet period never came, the timeout (12m) did.
  EXPECT_EQ(h.Run(run).due_at, t0 + minutes(12));
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(StartedAt(h, run), t0 + minutes(12));
  EXPECT_EQ(h.Run(run).event["data"]["rev"], 5);
}

TEST(EngineFlowControlTest, AnOpenDebounceSurvivesARestart) {
  EngineHarness h;
  h.AddFlow(kDebounced);
  std::string run = h.Send("doc/edited", {{"doc", "d1"}, {"rev", 1}});
  h.Reopen();
  h.clock().Advance(minutes(1));
  EXPECT_EQ(h.Send("doc/edited", {{"doc", "d1"}, {"rev", 2}}), run);
  h.Reopen();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.action("http").calls(), 1);
  EXPECT_EQ(h.Run(run).event["data"]["rev"], 2);
}

constexpr char kBatched[] = R"(
id: batched
on: {event: hook/received}
batch: {max_size: 3, timeout: 5s, key: event.data.tenant}
steps:
  - id: write
    db: {database: app, sql: "INSERT", params: {n: "${{ size(events) }}", first: "${{ event.data.n }}"}}
)";

TEST(EngineFlowControlTest, BatchReachingMaxSizeExactlyStartsAtOnce) {
  EngineHarness h;
  h.AddFlow(kBatched);
  std::string run = h.Send("hook/received", {{"tenant", "t"}, {"n", 1}});
  EXPECT_EQ(h.Send("hook/received", {{"tenant", "t"}, {"n", 2}}), run);
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  EXPECT_EQ(h.action("db").calls(), 0);  // two of three: still gathering
  EXPECT_EQ(h.Send("hook/received", {{"tenant", "t"}, {"n", 3}}), run);
  ASSERT_TRUE(h.Drive(seconds(0)).ok());
  ASSERT_EQ(h.action("db").calls(), 1);
  EXPECT_EQ(h.action("db").requests()[0].arguments["params"]["n"], 3);
  EXPECT_EQ(h.action("db").requests()[0].arguments["params"]["first"], 1);
  store::RunRecord done = h.Run(run);
  ASSERT_EQ(done.events.size(), 3u);
  EXPECT_EQ(done.events[2]["data"]["n"], 3);
  // The fourth event opens the next batch.
  std::string next = h.Send("hook/received", {{"tenant", "t"}, {"n", 4}});
  EXPECT_NE(next, run);
}

TEST(EngineFlowControlTest, BatchTimeoutStartsAPartialBatch) {
  EngineHarness h;
  h.AddFlow(kBatched);
  const TimePoint t0 = h.clock().Now();
  std::string run = h.Send("hook/received", {{"tenant", "t"}, {"n", 1}});
  h.clock().Advance(seconds(4));
  EXPECT_EQ(h.Send("hook/received", {{"tenant", "t"}, {"n", 2}}), run);
  std::string other = h.Send("hook/received", {{"tenant", "u"}, {"n", 1}});
  EXPECT_NE(other, run);
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(StartedAt(h, run), t0 + seconds(5));
  EXPECT_EQ(h.Run(run).events.size(), 2u);
  EXPECT_EQ(h.Run(other).events.size(), 1u);
}

TEST(EngineFlowControlTest, AnOpenBatchSurvivesACrashAtEveryFailpoint) {
  // Crashing at the k-th failpoint pass while events arrive never loses an acknowledged event
  // and never starts a batch twice.
  for (int k = 1; k <= 6; ++k) {
    SCOPED_TRACE("crash at pass " + std::to_string(k));
    EngineHarness h;
    h.AddFlow(kBatched);
    h.engine().TEST_failpoints().TEST_CrashAt(k);
    int acknowledged = 0;
    for (int i = 0; i < 6; ++i) {
      Json event = {{"name", "hook/received"},
                    {"data", {{"tenant", "t"}, {"n", i}}},
                    {"id", "e" + std::to_string(i)}};
      auto result = h.engine().IngestEvents({event});
      if (result.ok()) {
        ++acknowledged;
      } else {
        h.Reopen();  // the "crashed" engine is replaced; the sender retries the same id
        ASSERT_TRUE(h.engine().IngestEvents({event}).ok());
        ++acknowledged;
      }
    }
    (void)h.Drive();
    h.Reopen();
    ASSERT_TRUE(h.Drive().ok());
    std::multiset<int> seen;
    for (const auto& run : RunsOf(h, "batched")) {
      EXPECT_EQ(run.status, RunStatus::kCompleted) << run.error.dump();
      for (const Json& e : run.events) seen.insert(e["data"]["n"].get<int>());
    }
    EXPECT_EQ(acknowledged, 6);
    EXPECT_EQ(seen, (std::multiset<int>{0, 1, 2, 3, 4, 5}));
  }
}

TEST(EngineFlowControlTest, PriorityPutsRunsAheadInTheQueue) {
  EngineHarness h;
  h.AddFlow(R"yaml(
id: ranked
on: {event: job}
priority: {run: "event.data.plan == 'pro' ? 120 : (event.data.plan == 'slow' ? -9999 : 0)"}
steps:
  - id: work
    http: {url: "https://work.example/${{ event.data.n }}"}
)yaml");
  const TimePoint t0 = h.clock().Now();
  std::string free_run = h.Send("job", {{"plan", "free"}, {"n", 1}});
  std::string pro_run = h.Send("job", {{"plan", "pro"}, {"n", 2}});
  std::string slow_run = h.Send("job", {{"plan", "slow"}, {"n", 3}});
  EXPECT_EQ(h.Run(pro_run).due_at, t0 - seconds(120));
  EXPECT_EQ(h.Run(slow_run).due_at, t0 + seconds(600));  // clamped to -600
  ASSERT_TRUE(h.Drive().ok());
  // Claimed oldest due first: the pro run (due 120 s ago) before the free one.
  ASSERT_EQ(h.action("http").calls(), 3);
  EXPECT_EQ(h.action("http").requests()[0].arguments["url"], "https://work.example/2");
  EXPECT_EQ(h.action("http").requests()[1].arguments["url"], "https://work.example/1");
  EXPECT_EQ(h.Run(free_run).status, RunStatus::kCompleted);
  EXPECT_EQ(StartedAt(h, slow_run), t0 + seconds(600));
}

constexpr char kSingleton[] = R"(
id: single
on: {event: sync}
singleton: {key: event.data.user, mode: MODE}
steps:
  - id: pull
    http: {url: "https://sync.example/${{ event.data.n }}"}
  - id: push
    http: {url: "https://sync.example/${{ event.data.n }}/done"}
)";

std::string SingletonFlow(const std::string& mode) {
  std::string yaml = kSingleton;
  yaml.replace(yaml.find("MODE"), 4, mode);
  return yaml;
}

TEST(EngineFlowControlTest, SingletonSkipLeavesTheRunningOneAlone) {
  EngineHarness h;
  h.AddFlow(SingletonFlow("skip"));
  h.action("http").Hold(true);
  std::string first = h.Send("sync", {{"user", "u"}, {"n", 1}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  ASSERT_EQ(h.action("http").held(), 1);
  std::string second = h.Send("sync", {{"user", "u"}, {"n", 2}});
  std::string other = h.Send("sync", {{"user", "v"}, {"n", 3}});
  EXPECT_EQ(h.Run(second).status, RunStatus::kSkipped);
  EXPECT_EQ(h.Run(second).skip_reason, "singleton");
  h.action("http").Hold(false);
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(first).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(other).status, RunStatus::kCompleted);
  // Once the first has finished, the key is free again.
  std::string third = h.Send("sync", {{"user", "u"}, {"n", 4}});
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(third).status, RunStatus::kCompleted);
}

TEST(EngineFlowControlTest, SingletonCancelStopsTheRunningOneAndStartsTheNew) {
  EngineHarness h;
  h.AddFlow(SingletonFlow("cancel"));
  h.action("http").Hold(true);
  std::string first = h.Send("sync", {{"user", "u"}, {"n", 1}});
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  std::string second = h.Send("sync", {{"user", "u"}, {"n", 2}});
  h.action("http").Hold(false);
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(first).status, RunStatus::kCancelled);
  EXPECT_EQ(h.Run(second).status, RunStatus::kCompleted);
}

TEST(EngineFlowControlTest, ConcurrencyListAppliesEveryLimit) {
  EngineHarness h;
  h.AddFlow(R"(
id: limited-list
on: {event: job}
concurrency:
  - {limit: 2, key: event.data.account}
  - {limit: 3}
steps:
  - id: work
    http: {url: "https://work.example/${{ event.data.n }}"}
)");
  h.action("http").Hold(true);
  for (int i = 0; i < 4; ++i) h.Send("job", {{"account", "a"}, {"n", i}});
  for (int i = 4; i < 8; ++i) h.Send("job", {{"account", "b"}, {"n", i}});
  for (int round = 0; round < 3; ++round) ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  // Two for "a" would fit and two for "b", but the flow-wide limit of 3 holds.
  EXPECT_EQ(h.action("http").held(), 3);
  h.clock().Advance(seconds(10));
  for (int round = 0; round < 3; ++round) ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
  EXPECT_EQ(h.action("http").held(), 3);
  // Releasing them lets the rest through, never more than three at once.
  int max_held = 0;
  for (int round = 0; round < 50 && h.action("http").calls() < 8; ++round) {
    h.action("http").ReleaseHeld();
    h.clock().Advance(seconds(3));
    ASSERT_TRUE(h.engine().AdvanceReadyRuns(64).ok());
    max_held = std::max(max_held, h.action("http").held());
  }
  EXPECT_LE(max_held, 3);
  h.action("http").Hold(false);
  h.action("http").ReleaseHeld();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(CountStatus(RunsOf(h, "limited-list"), RunStatus::kCompleted), 8);
}

TEST(EngineFlowControlTest, InvokedChildrenGoThroughTheirFlowControl) {
  EngineHarness h;
  h.AddFlow(R"(
id: child
rate_limit: {limit: 1, period: 1h, key: event.data.user}
steps:
  - id: a
    return: done
)");
  h.AddFlow(R"(
id: parent
on: {event: go}
steps:
  - id: call
    invoke: {flow: child, data: {user: u}}
    on_error: continue
  - id: after
    return: "${{ steps.call.status }}"
)");
  std::string first = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.Run(first).output, "completed");
  std::string second = h.Send("go");
  ASSERT_TRUE(h.Drive().ok());
  // The child was skipped by its rate limit: the parent's invoke failed instead of hanging.
  EXPECT_EQ(h.Run(second).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(second).output, "failed");
  EXPECT_EQ(CountStatus(RunsOf(h, "child"), RunStatus::kSkipped), 1);
}

TEST(EngineFlowControlTest, LongKeysAreHashedToABoundedSize) {
  EngineHarness h;
  h.AddFlow(R"(
id: long-keys
on: {event: x}
rate_limit: {limit: 1, period: 1h, key: event.data.k}
steps:
  - id: a
    log: hi
)");
  const std::string long_a(10000, 'a');
  std::string long_b = long_a;
  long_b.back() = 'b';
  h.Send("x", {{"k", long_a}});
  h.Send("x", {{"k", long_b}});  // differs in its last byte: another key
  std::string again = h.Send("x", {{"k", long_a}});
  ASSERT_TRUE(h.Drive(seconds(0)).ok());
  auto runs = RunsOf(h, "long-keys");
  EXPECT_EQ(CountStatus(runs, RunStatus::kCompleted), 2);
  EXPECT_EQ(h.Run(again).status, RunStatus::kSkipped);
}

TEST(EngineFlowControlTest, TenThousandDistinctKeys) {
  EngineHarness h;
  h.AddFlow(R"(
id: many
on: {event: x}
throttle: {limit: 1, period: 1m, key: event.data.k}
debounce: {period: 1s, key: event.data.k}
steps:
  - id: a
    log: hi
)");
  constexpr int kKeys = 10000;
  for (int round = 0; round < 2; ++round) {
    std::vector<Json> events;
    for (int i = 0; i < kKeys; ++i) {
      events.push_back({{"name", "x"}, {"data", {{"k", "key-" + std::to_string(i)}}}});
    }
    for (size_t i = 0; i < events.size(); i += 500) {
      std::vector<Json> chunk(events.begin() + i,
                              events.begin() + std::min(events.size(), i + 500));
      ASSERT_TRUE(h.engine().IngestEvents(chunk).ok());
    }
  }
  ASSERT_TRUE(h.Drive().ok());
  auto runs = RunsOf(h, "many");
  EXPECT_EQ(runs.size(), static_cast<size_t>(kKeys));  // two events per key debounced into one
  EXPECT_EQ(CountStatus(runs, RunStatus::kCompleted), kKeys);
}

}  // namespace
}  // namespace flowrun
