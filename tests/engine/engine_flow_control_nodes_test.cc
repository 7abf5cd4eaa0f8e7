// Flow control across two nodes: two engines, each on its own store instance of one store (a
// SQLite file, or a PostgreSQL database when FLOWRUN_TEST_STORE=postgres), take events for the
// same keys and claim runs at the same time. No limit is exceeded, no run starts twice, debounce
// gives one run per key and batch one run per max_size events.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using std::chrono::seconds;
using store::RunStatus;
using testing::EngineHarness;

// The second node: its own store instance and engine on the harness's store, sharing the
// harness's clock and its fake actions (so that attempts in flight are counted over both nodes).
class SecondNode {
 public:
  explicit SecondNode(EngineHarness& h) : store_(h.OpenAnotherNode()) {
    EXPECT_NE(store_, nullptr);
    if (!store_) return;
    engine_ = std::make_unique<Engine>(
        *store_, h.catalog(),
        [&h](std::string_view name) -> Action* {
          return name == "http" || name == "email" || name == "db" ? &h.action(std::string(name))
                                                                   : nullptr;
        },
        h.clock(), nullptr, EngineOptions{.node_id = "node-2", .seed = 3, .log = nullptr});
    EXPECT_TRUE(engine_->Recover().ok());
  }
  Engine& engine() { return *engine_; }
  // Stops cleanly (actions in flight must be able to return): records the results of its
  // actions, then ends its leases, so that the runs it holds are due at once for the first node
  // to finish (EngineHarness::Drive drives the first node only).
  void Stop() {
    engine_->StopClaiming();
    for (int round = 0; round < 1000 && engine_->ResultsPending(); ++round) {
      EXPECT_TRUE(engine_->AdvanceReadyRuns(64).ok());
    }
    EXPECT_FALSE(engine_->ResultsPending());
    EXPECT_TRUE(engine_->ReleaseLeases().ok());
  }

 private:
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Engine> engine_;
};

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

// Each node ingests `per_node` events, one at a time, at the same time as the other; returns the
// runs each event went to, by the event's `n` (node * per_node + i).
std::map<int, std::string> SendFromBoth(Engine& first, Engine& second, int per_node,
                                        const std::function<Json(int n)>& data) {
  std::mutex mu;
  std::map<int, std::string> runs;
  auto send = [&](Engine& engine, int node) {
    for (int i = 0; i < per_node; ++i) {
      const int n = node * per_node + i;
      Json event_data = data(n);
      event_data["n"] = n;
      auto result = engine.IngestEvents({Json{{"name", "x"}, {"data", event_data}}});
      EXPECT_TRUE(result.ok()) << result.status().ToString();
      if (!result.ok()) continue;
      std::lock_guard lock(mu);
      runs[n] = result->front().runs.empty() ? "" : result->front().runs.front();
    }
  };
  std::thread other([&] { send(second, 1); });
  send(first, 0);
  other.join();
  return runs;
}

// Both nodes advance ready runs at the same time.
void AdvanceBoth(Engine& first, Engine& second) {
  std::thread other([&] { EXPECT_TRUE(second.AdvanceReadyRuns(64).ok()); });
  EXPECT_TRUE(first.AdvanceReadyRuns(64).ok());
  other.join();
}

TEST(EngineFlowControlNodesTest, ConcurrencyLimitsHoldWhileBothNodesClaim) {
  EngineHarness h;
  h.AddFlow(R"(
id: slots
on: {event: x}
concurrency:
  - {limit: 2, key: event.data.account}
  - {limit: 3}
steps:
  - id: work
    http: {url: "https://work.example/${{ event.data.n }}"}
)");
  SecondNode second(h);
  h.action("http").Hold(true);
  constexpr int kPerNode = 15;
  SendFromBoth(h.engine(), second.engine(), kPerNode, [](int n) {
    return Json{{"account", n % 2 ? "a" : "b"}};
  });
  int max_held = 0;
  int max_per_account = 0;
  for (int round = 0; round < 200 && h.action("http").calls() < 2 * kPerNode; ++round) {
    AdvanceBoth(h.engine(), second.engine());
    max_held = std::max(max_held, h.action("http").held());
    // The store's view: leased runs per account.
    std::map<std::string, int> leased;
    for (const auto& run : RunsOf(h, "slots")) {
      if (!run.ended_at && !run.lease_owner.empty()) ++leased[run.event["data"]["account"]];
    }
    for (const auto& [account, count] : leased) max_per_account = std::max(max_per_account, count);
    h.action("http").ReleaseHeld();
    h.clock().Advance(seconds(3));
  }
  EXPECT_GT(max_held, 1);
  EXPECT_LE(max_held, 3);
  EXPECT_LE(max_per_account, 2);
  h.action("http").Hold(false);
  h.action("http").ReleaseHeld();
  second.Stop();
  ASSERT_TRUE(h.Drive().ok());
  auto runs = RunsOf(h, "slots");
  EXPECT_EQ(CountStatus(runs, RunStatus::kCompleted), 2 * kPerNode);
  EXPECT_EQ(h.action("http").calls(), 2 * kPerNode);  // none started twice
}

TEST(EngineFlowControlNodesTest, SingletonLeavesExactlyOneRunOfAKeyUnfinished) {
  EngineHarness h;
  h.AddFlow(R"(
id: single
on: {event: x}
singleton: {key: event.data.user, mode: skip}
steps:
  - id: pull
    http: {url: "https://sync.example/${{ event.data.n }}"}
)");
  SecondNode second(h);
  h.action("http").Hold(true);
  constexpr int kPerNode = 40;
  SendFromBoth(h.engine(), second.engine(), kPerNode, [](int) { return Json{{"user", "u"}}; });
  AdvanceBoth(h.engine(), second.engine());
  auto runs = RunsOf(h, "single");
  ASSERT_EQ(runs.size(), 2u * kPerNode);
  EXPECT_EQ(CountStatus(runs, RunStatus::kSkipped), 2 * kPerNode - 1);
  for (const auto& run : runs) {
    if (run.status == RunStatus::kSkipped) {
      EXPECT_EQ(run.skip_reason, "singleton");
    }
  }
  h.action("http").Hold(false);
  h.action("http").ReleaseHeld();
  second.Stop();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(CountStatus(RunsOf(h, "single"), RunStatus::kCompleted), 1);
  EXPECT_EQ(h.action("http").calls(), 1);
}

TEST(EngineFlowControlNodesTest, ThrottleNeverStartsMoreThanItsLimitInAPeriod) {
  EngineHarness h;
  h.AddFlow(R"(
id: throttled
on: {event: x}
throttle: {limit: 2, period: 1m, burst: 2, key: event.data.account}
steps:
  - id: send
    http: {url: "https://mail.example/${{ event.data.n }}"}
)");
  SecondNode second(h);
  const TimePoint t0 = h.clock().Now();
  constexpr int kPerNode = 12;
  SendFromBoth(h.engine(), second.engine(), kPerNode, [](int) { return Json{{"account", "a"}}; });
  second.Stop();
  ASSERT_TRUE(h.Drive().ok());
  auto runs = RunsOf(h, "throttled");
  ASSERT_EQ(runs.size(), 2u * kPerNode);
  std::vector<TimePoint> starts;
  for (const auto& run : runs) {
    EXPECT_EQ(run.status, RunStatus::kCompleted);
    auto journal = h.Journal(run.id);
    ASSERT_FALSE(journal.empty());
    starts.push_back(journal.front().at);
  }
  std::sort(starts.begin(), starts.end());
  // All events came at t0: the burst of two starts then, and every later start has a slot of its
  // own, period / limit apart. A slot the two nodes both reserved would start two runs at once;
  // none is dropped.
  for (size_t i = 0; i < starts.size(); ++i) {
    EXPECT_EQ(starts[i], t0 + seconds(30) * static_cast<int>(i < 2 ? 0 : i - 1)) << "start " << i;
  }
  EXPECT_EQ(h.action("http").calls(), 2 * kPerNode);
}

TEST(EngineFlowControlNodesTest, DebounceGivesOneRunPerKey) {
  EngineHarness h;
  h.AddFlow(R"(
id: debounced
on: {event: x}
debounce: {period: 5s, key: event.data.doc}
steps:
  - id: index
    http: {url: "https://search.example/${{ event.data.doc }}"}
)");
  SecondNode second(h);
  constexpr int kPerNode = 100;
  constexpr int kKeys = 7;
  auto sent = SendFromBoth(h.engine(), second.engine(), kPerNode, [](int n) {
    return Json{{"doc", "d" + std::to_string(n % kKeys)}};
  });
  second.Stop();
  ASSERT_TRUE(h.Drive().ok());
  auto runs = RunsOf(h, "debounced");
  ASSERT_EQ(runs.size(), static_cast<size_t>(kKeys));
  std::set<std::string> docs;
  for (const auto& run : runs) {
    EXPECT_EQ(run.status, RunStatus::kCompleted);
    docs.insert(run.event["data"]["doc"]);
  }
  EXPECT_EQ(docs.size(), static_cast<size_t>(kKeys));
  // Every event went to the one run of its key.
  std::map<std::string, std::string> run_of_doc;
  for (const auto& run : runs) run_of_doc[run.event["data"]["doc"]] = run.id;
  for (const auto& [n, run] : sent) EXPECT_EQ(run, run_of_doc["d" + std::to_string(n % kKeys)]);
  EXPECT_EQ(h.action("http").calls(), kKeys);
}

TEST(EngineFlowControlNodesTest, BatchGivesOneRunPerMaxSizeEvents) {
  EngineHarness h;
  h.AddFlow(R"(
id: batched
on: {event: x}
batch: {max_size: 7, timeout: 5s}
steps:
  - id: write
    http: {url: "https://sink.example/"}
)");
  SecondNode second(h);
  constexpr int kPerNode = 100;
  SendFromBoth(h.engine(), second.engine(), kPerNode, [](int) { return Json::object(); });
  second.Stop();
  ASSERT_TRUE(h.Drive().ok());
  auto runs = RunsOf(h, "batched");
  EXPECT_EQ(runs.size(), static_cast<size_t>((2 * kPerNode + 6) / 7));  // ceil(200 / 7) = 29
  std::multiset<int> seen;
  for (const auto& run : runs) {
    EXPECT_EQ(run.status, RunStatus::kCompleted);
    EXPECT_LE(run.events.size(), 7u);
    for (const Json& e : run.events) seen.insert(e["data"]["n"].get<int>());
  }
  ASSERT_EQ(seen.size(), 2u * kPerNode);
  EXPECT_EQ(std::set<int>(seen.begin(), seen.end()).size(), 2u * kPerNode);  // none twice
  EXPECT_EQ(h.action("http").calls(), static_cast<int>(runs.size()));
}

TEST(EngineFlowControlNodesTest, RateLimitIsNeverExceeded) {
  EngineHarness h;
  h.AddFlow(R"(
id: limited
on: {event: x}
rate_limit: {limit: 5, period: 1h, key: event.data.k}
steps:
  - id: a
    log: hi
)");
  SecondNode second(h);
  constexpr int kPerNode = 100;
  SendFromBoth(h.engine(), second.engine(), kPerNode, [](int) { return Json{{"k", "same"}}; });
  second.Stop();
  ASSERT_TRUE(h.Drive().ok());
  auto runs = RunsOf(h, "limited");
  EXPECT_EQ(runs.size(), 2u * kPerNode);
  EXPECT_EQ(CountStatus(runs, RunStatus::kCompleted), 5);
  EXPECT_EQ(CountStatus(runs, RunStatus::kSkipped), 2 * kPerNode - 5);
}

}  // namespace
}  // namespace flowrun
