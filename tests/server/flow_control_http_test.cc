// Flow control and bulk operations over real HTTP: skipped runs in the run list and /metrics, a
// batched run's events, bulk cancel and bulk rerun paged with a cursor, and hostile bulk bodies.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/api_test_server.h"

namespace flowrun {
namespace {

using testing::ApiTestServer;
using testing::ApiTestServerOptions;
using testing::BodyOf;
using testing::ErrorCode;
using ::testing::HasSubstr;

constexpr char kLimitedFlow[] = R"yaml(id: limited
on: {event: test/limited}
rate_limit: {limit: 1, period: 1h, key: event.data.user}
steps:
  - id: hi
    return: "${{ event.data.user }}"
)yaml";

constexpr char kBatchedFlow[] = R"yaml(id: batched
on: {event: test/batched}
batch: {max_size: 3, timeout: 1h}
steps:
  - id: count
    return: "${{ size(events) }}"
)yaml";

constexpr char kFailingFlow[] = R"yaml(id: failing
on: {event: test/failing}
steps:
  - id: boom
    if: event.data.fail
    fail: {message: "boom"}
  - id: ok
    return: fine
)yaml";

ApiTestServerOptions Options() {
  ApiTestServerOptions options;
  options.flows = {{"limited.yaml", kLimitedFlow},
                   {"batched.yaml", kBatchedFlow},
                   {"failing.yaml", kFailingFlow}};
  return options;
}

Json SendEvents(httplib::Client& client, const Json& events) {
  auto result = client.Post("/e/k", events.dump(), "application/json");
  EXPECT_TRUE(result && result->status == 200) << (result ? result->body : "no answer");
  return BodyOf(result);
}

Json Post(httplib::Client& client, const std::string& path, const Json& body) {
  auto result = client.Post(path.c_str(), body.dump(), "application/json");
  EXPECT_TRUE(result);
  EXPECT_EQ(result ? result->status : 0, 200) << (result ? result->body : "");
  return BodyOf(result);
}

// Waits until `flow` has `count` runs with `status`; returns them.
Json WaitForRuns(httplib::Client& client, const std::string& flow, const std::string& status,
                 size_t count) {
  Json runs;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    runs = BodyOf(
        client.Get(("/v1/runs?limit=1000&flow=" + flow + "&status=" + status).c_str()))["runs"];
    if (runs.is_array() && runs.size() >= count) return runs;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << flow << ": fewer than " << count << " " << status << " runs: " << runs.dump();
  return runs;
}

TEST(FlowControlHttpTest, RateLimitedRunsAreListedSkippedWithTheReasonAndCounted) {
  ApiTestServer server(Options());
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  SendEvents(*client, Json::array({{{"name", "test/limited"}, {"data", {{"user", "u"}}}},
                                   {{"name", "test/limited"}, {"data", {{"user", "u"}}}},
                                   {{"name", "test/limited"}, {"data", {{"user", "v"}}}}}));
  WaitForRuns(*client, "limited", "completed", 2);
  Json skipped = WaitForRuns(*client, "limited", "skipped", 1);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0]["skip_reason"], "rate_limit");
  EXPECT_THAT(skipped[0]["error"]["message"].get<std::string>(), HasSubstr("rate limit"));
  auto metrics = client->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body,
              HasSubstr("flowrun_runs_skipped_total{flow=\"limited\",cause=\"rate_limit\"} 1"));
}

TEST(FlowControlHttpTest, ABatchedRunShowsItsEvents) {
  ApiTestServer server(Options());
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  Json ids = SendEvents(*client, Json::array({{{"name", "test/batched"}, {"data", {{"n", 1}}}},
                                              {{"name", "test/batched"}, {"data", {{"n", 2}}}},
                                              {{"name", "test/batched"}, {"data", {{"n", 3}}}}}));
  Json runs = WaitForRuns(*client, "batched", "completed", 1);
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0]["output"], 3);
  ASSERT_EQ(runs[0]["events"].size(), 3u);
  EXPECT_EQ(runs[0]["events"][2]["data"]["n"], 3);
}

TEST(FlowControlHttpTest, BulkCancelPagesThroughTheSelectionWithACursor) {
  ApiTestServer server(Options());
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  Json events = Json::array();
  for (int i = 0; i < 5; ++i) {
    events.push_back({{"name", "test/wait"}, {"data", {{"k", "k" + std::to_string(i)}}}});
  }
  SendEvents(*client, events);
  WaitForRuns(*client, "team/waiter", "waiting", 5);
  // `if` keeps k0..k3; pages of two.
  Json body = {{"flow", "team/waiter"}, {"if", "event.data.k != \"k4\""}, {"limit", 2}};
  int cancelled = 0, pages = 0;
  for (; pages < 10; ++pages) {
    Json report = Post(*client, "/v1/runs/cancel", body);
    cancelled += report.value("cancelled", 0);
    EXPECT_TRUE(report["errors"].empty()) << report.dump();
    if (!report["next_cursor"].is_string()) break;
    body["cursor"] = report["next_cursor"];
  }
  EXPECT_EQ(cancelled, 4);
  EXPECT_EQ(pages, 2);  // 2 + 2 + 1 looked at; the third page says the selection is exhausted
  WaitForRuns(*client, "team/waiter", "cancelled", 4);
  Json left = BodyOf(client->Get("/v1/runs?flow=team/waiter&status=waiting"))["runs"];
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0]["event"]["data"]["k"], "k4");
  // Once more: everything matching has finished, nothing is cancelled twice.
  Json again = Post(*client, "/v1/runs/cancel", {{"flow", "team/waiter"}, {"status", "waiting"}});
  EXPECT_EQ(again["cancelled"], 1);
  EXPECT_TRUE(again["next_cursor"].is_null());
}

TEST(FlowControlHttpTest, BulkRerunOfFailedRunsIsTheDeadLetterQueue) {
  ApiTestServer server(Options());
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  SendEvents(*client, Json::array({{{"name", "test/failing"}, {"data", {{"fail", true}}}},
                                   {{"name", "test/failing"}, {"data", {{"fail", true}}}},
                                   {{"name", "test/failing"}, {"data", {{"fail", false}}}}}));
  WaitForRuns(*client, "failing", "failed", 2);
  WaitForRuns(*client, "failing", "completed", 1);
  // Rerun every failed run (the default status) as a new run; with the same events they fail
  // again, and a second pass finds four.
  Json report = Post(*client, "/v1/runs/rerun", {{"flow", "failing"}});
  EXPECT_EQ(report["matched"], 2);
  EXPECT_EQ(report["rerun"], 2);
  ASSERT_EQ(report["runs"].size(), 2u);
  for (const Json& id : report["runs"]) {
    testing::WaitForRun(*client, id.get<std::string>(), {"failed"});
  }
  WaitForRuns(*client, "failing", "failed", 4);
  Json from_step =
      Post(*client, "/v1/runs/rerun", {{"flow", "failing"}, {"from_step", "nope"}, {"limit", 1}});
  EXPECT_EQ(from_step["rerun"], 0);
  ASSERT_EQ(from_step["errors"].size(), 1u);
  EXPECT_THAT(from_step["errors"][0]["error"].get<std::string>(), HasSubstr("nope"));
  EXPECT_TRUE(from_step["next_cursor"].is_string());
}

TEST(FlowControlHttpTest, PostCancelOfOneRunNeedsNoBody) {
  ApiTestServer server(Options());
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  SendEvents(*client, Json::array({{{"name", "test/wait"}, {"data", {{"k", "x"}}}}}));
  Json waiting = WaitForRuns(*client, "team/waiter", "waiting", 1);
  std::string id = waiting[0]["id"];
  auto result = client->Post(("/v1/runs/" + id + "/cancel").c_str());
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 202) << result->body;
  testing::WaitForRun(*client, id, {"cancelled"});
}

TEST(FlowControlHttpTest, HostileBulkBodiesAre400) {
  ApiTestServer server(Options());
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  const std::string long_if(5000, 'a');
  for (const std::string& body :
       {std::string("{}"), std::string("[]"), std::string("\"x\""), std::string("{\"flow\": 3}"),
        std::string("{\"status\": \"done\"}"), std::string("{\"since\": \"yesterday\"}"),
        std::string("{\"flow\": \"x\", \"limit\": 0}"),
        std::string("{\"flow\": \"x\", \"limit\": 1000000}"),
        std::string("{\"flow\": \"x\", \"limit\": \"5\"}"),
        std::string("{\"flow\": \"x\", \"bogus\": 1}"), std::string("{\"if\": \"event.data ==\"}"),
        std::string("{\"if\": \"" + long_if + "\"}"),
        std::string("{\"flow\": \"x\", \"from_step\": \"a\"}"), std::string("{\"flow\": "),
        std::string("{\"flow\": \"") + std::string(2000, 'f') + "\"}"}) {
    auto result = client->Post("/v1/runs/cancel", body, "application/json");
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << body.substr(0, 80) << " -> " << result->body;
    EXPECT_EQ(ErrorCode(result), "bad_request") << body.substr(0, 80);
  }
  auto rerun = client->Post("/v1/runs/rerun", "{\"from_step\": 5}", "application/json");
  ASSERT_TRUE(rerun);
  EXPECT_EQ(rerun->status, 400);
  // An empty rerun body means every failed run: allowed.
  auto all = client->Post("/v1/runs/rerun", "", "application/json");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->status, 200) << all->body;
}

}  // namespace
}  // namespace flowrun
