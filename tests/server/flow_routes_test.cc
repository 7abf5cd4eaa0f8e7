// Flow routes over real HTTP: the list with validation state, one flow with revisions and its
// Mermaid graph, invalid files reported, and invoking a flow by hand.
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

TEST(FlowRoutesTest, ListsFlowsWithValidationStateAndInvalidFiles) {
  ApiTestServerOptions options;
  options.flows["broken.yaml"] = "id: broken\nsteps:\n  - id: a\n    iff: true\n    log: hi\n";
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  Json body = BodyOf(server.Client()->Get("/v1/flows"));
  std::vector<std::string> ids;
  for (const Json& flow : body["flows"]) ids.push_back(flow["id"]);
  EXPECT_THAT(ids, ::testing::Contains("hello"));
  EXPECT_THAT(ids, ::testing::Contains("team/waiter"));
  for (const Json& flow : body["flows"]) {
    if (flow["id"] == "hello") {
      EXPECT_TRUE(flow["valid"].get<bool>());
      EXPECT_TRUE(flow["revision"].is_string());
      EXPECT_EQ(flow["triggers"][0]["event"], "test/hello");
    }
  }
  ASSERT_EQ(body["invalid_files"].size(), 1u);
  EXPECT_THAT(body["invalid_files"][0]["path"].get<std::string>(), HasSubstr("broken.yaml"));
  EXPECT_THAT(body["invalid_files"][0]["messages"].dump(), HasSubstr("unknown-key"));
}

TEST(FlowRoutesTest, OneFlowHasRevisionsGraphAndDocument) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  Json flow = BodyOf(client->Get("/v1/flows/team/waiter"));
  EXPECT_EQ(flow["id"], "team/waiter");
  ASSERT_EQ(flow["revisions"].size(), 1u);
  EXPECT_TRUE(flow["revisions"][0]["current"].get<bool>());
  EXPECT_EQ(flow["revisions"][0]["revision"], flow["revision"]);
  EXPECT_THAT(flow["graph"]["mermaid"].get<std::string>(), HasSubstr("flowchart"));
  EXPECT_EQ(flow["document"]["id"], "team/waiter");
  // The id may be sent percent-encoded too.
  EXPECT_EQ(BodyOf(client->Get("/v1/flows/team%2Fwaiter"))["id"], "team/waiter");

  auto missing = client->Get("/v1/flows/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST(FlowRoutesTest, AnEditShowsANewRevision) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  std::string before = BodyOf(client->Get("/v1/flows/hello"))["revision"];
  server.WriteFlow("hello.yaml", std::string(testing::kHelloFlow) + "description: edited\n");
  ASSERT_TRUE(server.runtime().ReloadFlows().ok());
  Json flow = BodyOf(client->Get("/v1/flows/hello"));
  EXPECT_NE(flow["revision"], before);
  EXPECT_EQ(flow["description"], "edited");
  EXPECT_EQ(flow["revisions"].size(), 2u);
}

TEST(FlowRoutesTest, InvokeStartsARun) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  auto result =
      client->Post("/v1/flows/hello/invoke", R"({"data":{"name":"Hand"}})", "application/json");
  ASSERT_TRUE(result);
  ASSERT_EQ(result->status, 201) << result->body;
  std::string run_id = BodyOf(result)["run_id"];
  Json run = testing::WaitForRun(*client, run_id, {"completed"});
  EXPECT_EQ(run["output"]["name"], "Hand");

  auto nested = client->Post("/v1/flows/team/waiter/invoke", "", "application/json");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->status, 201) << nested->body;

  auto unknown = client->Post("/v1/flows/nope/invoke", "{}", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  for (const char* body : {R"({"data":[1]})", "[]", "{bad"}) {
    auto bad = client->Post("/v1/flows/hello/invoke", body, "application/json");
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, 400) << body;
  }
}

TEST(FlowRoutesTest, OutboxListsMail) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto result = server.Client()->Get("/v1/outbox");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_TRUE(BodyOf(result)["messages"].is_array());
  EXPECT_EQ(server.Client()->Get("/v1/outbox?limit=0")->status, 400);
}

}  // namespace
}  // namespace flowrun
