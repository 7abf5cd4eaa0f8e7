// Run routes over real HTTP: list with filters and pagination, one run with its steps (secrets
// redacted, revision shown), cancel and rerun.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/api_test_server.h"

namespace flowrun {
namespace {

using testing::ApiTestServer;
using testing::BodyOf;
using testing::ErrorCode;
using ::testing::HasSubstr;
using ::testing::Not;

std::string SendEvent(httplib::Client& client, const Json& event) {
  auto result = client.Post("/e/k", event.dump(), "application/json");
  EXPECT_TRUE(result && result->status == 200);
  return BodyOf(result)["ids"][0];
}

TEST(RunRoutesTest, ShowsARunWithItsStepsRevisionAndNoSecrets) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  std::string event = SendEvent(*client, {{"name", "test/hello"}, {"data", {{"name", "Grace"}}}});
  std::string run_id = testing::RunOfEvent(*client, "hello", event);
  Json run = testing::WaitForRun(*client, run_id, {"completed"});
  EXPECT_EQ(run["flow"], "hello");
  EXPECT_TRUE(run["revision"].is_string());
  EXPECT_FALSE(run["revision"].get<std::string>().empty());
  EXPECT_EQ(run["trigger_event_id"], event);
  EXPECT_EQ(run["event"]["data"]["name"], "Grace");
  ASSERT_GE(run["steps"].size(), 2u);
  EXPECT_EQ(run["steps"][0]["key"], "greet");
  EXPECT_EQ(run["steps"][1]["key"], "finish");
  EXPECT_TRUE(run["journal"].is_array());
  // The secret the flow returned is redacted everywhere.
  auto raw = client->Get(("/v1/runs/" + run_id).c_str());
  EXPECT_THAT(raw->body, Not(HasSubstr(testing::kSecretValue)));
  EXPECT_EQ(run["output"]["key"], "***");
}

TEST(RunRoutesTest, ListFiltersAndPaginates) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  std::vector<std::string> runs;
  for (int i = 0; i < 3; ++i) {
    std::string event = SendEvent(*client, {{"name", "test/hello"}, {"data", {{"name", i}}}});
    runs.push_back(testing::RunOfEvent(*client, "hello", event));
  }
  std::string waiting_event = SendEvent(*client, {{"name", "test/wait"}, {"data", {{"k", "a"}}}});
  std::string waiting = testing::RunOfEvent(*client, "team/waiter", waiting_event);
  testing::WaitForRun(*client, waiting, {"waiting"});
  for (const auto& id : runs) testing::WaitForRun(*client, id, {"completed"});

  Json hello = BodyOf(client->Get("/v1/runs?flow=hello"));
  EXPECT_EQ(hello["runs"].size(), 3u);
  Json waiters = BodyOf(client->Get("/v1/runs?status=waiting"));
  ASSERT_EQ(waiters["runs"].size(), 1u);
  EXPECT_EQ(waiters["runs"][0]["id"], waiting);
  EXPECT_EQ(waiters["runs"][0]["flow"], "team/waiter");

  Json page = BodyOf(client->Get("/v1/runs?limit=2"));
  ASSERT_EQ(page["runs"].size(), 2u);
  ASSERT_TRUE(page["next_cursor"].is_string());
  Json rest = BodyOf(
      client->Get(("/v1/runs?limit=10&cursor=" + page["next_cursor"].get<std::string>()).c_str()));
  EXPECT_EQ(rest["runs"].size(), 2u);
  EXPECT_TRUE(rest["next_cursor"].is_null());

  for (const char* bad : {"/v1/runs?status=done", "/v1/runs?limit=-1", "/v1/runs?limit=abc"}) {
    auto result = client->Get(bad);
    ASSERT_TRUE(result);
    EXPECT_EQ(result->status, 400) << bad;
    EXPECT_EQ(ErrorCode(result), "bad_request");
  }
}

TEST(RunRoutesTest, CancelAWaitingRun) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  std::string event = SendEvent(*client, {{"name", "test/wait"}, {"data", {{"k", "c"}}}});
  std::string run_id = testing::RunOfEvent(*client, "team/waiter", event);
  testing::WaitForRun(*client, run_id, {"waiting"});
  auto cancel = client->Post(("/v1/runs/" + run_id + "/cancel").c_str(), "", "application/json");
  ASSERT_TRUE(cancel);
  EXPECT_EQ(cancel->status, 202) << cancel->body;
  EXPECT_EQ(BodyOf(cancel)["run_id"], run_id);
  testing::WaitForRun(*client, run_id, {"cancelled"});

  auto again = client->Post(("/v1/runs/" + run_id + "/cancel").c_str(), "", "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 409) << again->body;
  auto unknown = client->Post("/v1/runs/run_missing/cancel", "", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST(RunRoutesTest, RerunStartsANewRunWithTheSameEvent) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  std::string event = SendEvent(*client, {{"name", "test/hello"}, {"data", {{"name", "Re"}}}});
  std::string run_id = testing::RunOfEvent(*client, "hello", event);
  testing::WaitForRun(*client, run_id, {"completed"});

  auto rerun = client->Post(("/v1/runs/" + run_id + "/rerun").c_str(), "", "application/json");
  ASSERT_TRUE(rerun);
  ASSERT_EQ(rerun->status, 201) << rerun->body;
  std::string second = BodyOf(rerun)["run_id"];
  EXPECT_NE(second, run_id);
  Json run = testing::WaitForRun(*client, second, {"completed"});
  EXPECT_EQ(run["event"]["data"]["name"], "Re");

  Json original = testing::WaitForRun(*client, run_id, {"completed"});
  auto from = client->Post(("/v1/runs/" + run_id + "/rerun").c_str(), R"({"from_step":"finish"})",
                           "application/json");
  ASSERT_TRUE(from);
  ASSERT_EQ(from->status, 201) << from->body;
  EXPECT_EQ(BodyOf(from)["rerun_of"], run_id);
  std::string third = BodyOf(from)["run_id"];
  EXPECT_NE(third, run_id);
  Json resumed = testing::WaitForRun(*client, third, {"completed"});
  EXPECT_EQ(resumed["revision"], original["revision"]);
  EXPECT_EQ(resumed["event"], original["event"]);
  EXPECT_EQ(resumed["output"]["name"], "Re");
  // `greet` was taken over from the first run as it was recorded there, not executed again;
  // `finish` ran anew.
  auto completion = [](const Json& run, const std::string& key) {
    for (const Json& entry : run["journal"]) {
      if (entry["step"] == key && entry["kind"] == "completed") return entry;
    }
    return Json();
  };
  Json greet = completion(resumed, "greet");
  ASSERT_TRUE(greet.is_object()) << resumed.dump();
  EXPECT_EQ(greet["data"]["copied_from"], run_id);
  EXPECT_EQ(greet["at"], completion(original, "greet")["at"]);
  Json finish = completion(resumed, "finish");
  ASSERT_TRUE(finish.is_object()) << resumed.dump();
  EXPECT_FALSE(finish["data"].contains("copied_from"));

  auto bad_step = client->Post(("/v1/runs/" + run_id + "/rerun").c_str(), R"({"from_step":"nope"})",
                               "application/json");
  ASSERT_TRUE(bad_step);
  EXPECT_EQ(bad_step->status, 400) << bad_step->body;
  EXPECT_EQ(ErrorCode(bad_step), "bad_request");
  for (const char* body : {R"({"from_step":5})", "[1]", "{oops"}) {
    auto bad = client->Post(("/v1/runs/" + run_id + "/rerun").c_str(), body, "application/json");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400) << body;
  }
  auto unknown = client->Post("/v1/runs/run_missing/rerun", "", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

TEST(RunRoutesTest, UnknownRunIs404) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto result = server.Client()->Get("/v1/runs/run_does_not_exist");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  EXPECT_EQ(ErrorCode(result), "not_found");
  // SQL metacharacters in a path parameter are just an unknown id.
  auto hostile = server.Client()->Get("/v1/runs/x'%20OR%20'1'='1");
  ASSERT_TRUE(hostile);
  EXPECT_EQ(hostile->status, 404);
}

}  // namespace
}  // namespace flowrun
