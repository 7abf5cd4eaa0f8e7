// `flowrun runs ls|show|cancel|rerun` as a user runs it: the built binary against a service on
// loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/api_test_server.h"
#include "testing/paths.h"
#include "testing/subprocess.h"

namespace flowrun {
namespace {

using testing::ApiTestServer;
using testing::ApiTestServerOptions;
using testing::BodyOf;
using testing::FlowrunBinary;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RunProcess;

constexpr const char* kToken = "cli-token-0123456789";

class RunsCommandTest : public ::testing::Test {
 protected:
  RunsCommandTest() {
    ApiTestServerOptions options;
    options.api_tokens = {kToken};
    server_ = std::make_unique<ApiTestServer>(options);
  }

  std::string StartRun(const std::string& flow, const Json& event) {
    auto client = server_->Client();
    auto result = client->Post("/e/k", event.dump(), "application/json");
    EXPECT_TRUE(result && result->status == 200);
    auto authed = server_->Client(kToken);
    return testing::RunOfEvent(*authed, flow, BodyOf(result)["ids"][0]);
  }

  testing::ProcessResult Runs(std::vector<std::string> args) {
    std::vector<std::string> argv = {FlowrunBinary(), "runs"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--url", server_->url(), "--token", kToken});
    return RunProcess(argv);
  }

  std::unique_ptr<ApiTestServer> server_;
};

TEST_F(RunsCommandTest, ListShowsATable) {
  ASSERT_TRUE(server_->ok());
  std::string run = StartRun("hello", {{"name", "test/hello"}, {"data", {{"name", "T"}}}});
  auto client = server_->Client(kToken);
  testing::WaitForRun(*client, run, {"completed"});
  auto result = Runs({"ls"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("ID"));
  EXPECT_THAT(result.out, HasSubstr("STATUS"));
  EXPECT_THAT(result.out, HasSubstr(run));
  EXPECT_THAT(result.out, HasSubstr("completed"));

  auto filtered = Runs({"ls", "--status", "waiting"});
  ASSERT_EQ(filtered.exit_code, 0) << filtered.err;
  EXPECT_EQ(filtered.out, "no runs\n");

  auto json = Runs({"ls", "--flow", "hello", "--json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(Json::parse(json.out)["runs"][0]["id"], run);

  auto bad_status = Runs({"ls", "--status", "done"});
  EXPECT_EQ(bad_status.exit_code, 2);
}

TEST_F(RunsCommandTest, ShowPrintsStepsWithoutSecrets) {
  ASSERT_TRUE(server_->ok());
  std::string run = StartRun("hello", {{"name", "test/hello"}, {"data", {{"name", "S"}}}});
  auto client = server_->Client(kToken);
  testing::WaitForRun(*client, run, {"completed"});
  auto result = Runs({"show", run});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("flow:"));
  EXPECT_THAT(result.out, HasSubstr("revision:"));
  EXPECT_THAT(result.out, HasSubstr("greet"));
  EXPECT_THAT(result.out, HasSubstr("finish"));
  EXPECT_THAT(result.out, Not(HasSubstr(testing::kSecretValue)));

  auto missing = Runs({"show", "run_missing"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no run"));
}

TEST_F(RunsCommandTest, CancelAndRerun) {
  ASSERT_TRUE(server_->ok());
  std::string waiting = StartRun("team/waiter", {{"name", "test/wait"}, {"data", {{"k", "z"}}}});
  auto client = server_->Client(kToken);
  testing::WaitForRun(*client, waiting, {"waiting"});
  auto cancel = Runs({"cancel", waiting});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr("cancel requested"));
  testing::WaitForRun(*client, waiting, {"cancelled"});

  auto rerun = Runs({"rerun", waiting});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  std::string second = rerun.out.substr(0, rerun.out.find('\n'));
  EXPECT_NE(second, waiting);
  testing::WaitForRun(*client, second, {"waiting"});
}

TEST_F(RunsCommandTest, BulkCancelAndRerunWithAFilter) {
  ASSERT_TRUE(server_->ok());
  auto client = server_->Client(kToken);
  std::vector<std::string> waiting;
  for (const char* k : {"b1", "b2", "b3"}) {
    waiting.push_back(StartRun("team/waiter", {{"name", "test/wait"}, {"data", {{"k", k}}}}));
  }
  for (const std::string& id : waiting) testing::WaitForRun(*client, id, {"waiting"});
  auto cancel = Runs({"cancel", "--flow", "team/waiter", "--if", "event.data.k != \"b3\""});
  ASSERT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr("cancelled 2 of 2 matching runs"));
  testing::WaitForRun(*client, waiting[0], {"cancelled"});
  testing::WaitForRun(*client, waiting[1], {"cancelled"});
  EXPECT_EQ(BodyOf(client->Get(("/v1/runs/" + waiting[2]).c_str()))["status"], "waiting");

  auto rerun = Runs({"rerun", "--flow", "team/waiter", "--status", "cancelled", "--json"});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_EQ(Json::parse(rerun.out)["rerun"], 2);

  auto both = Runs({"cancel", waiting[2], "--flow", "team/waiter"});
  EXPECT_EQ(both.exit_code, 2);
  auto neither = Runs({"cancel"});
  EXPECT_EQ(neither.exit_code, 2);
  auto bad_if = Runs({"cancel", "--if", "event.data =="});
  EXPECT_EQ(bad_if.exit_code, 1);
}

TEST_F(RunsCommandTest, AuthenticationAndReachability) {
  ASSERT_TRUE(server_->ok());
  auto no_token = RunProcess({FlowrunBinary(), "runs", "ls", "--url", server_->url()});
  EXPECT_EQ(no_token.exit_code, 1);
  EXPECT_THAT(no_token.err, HasSubstr("unauthenticated"));
  auto env = RunProcess({"/usr/bin/env", "FLOWRUN_URL=" + server_->url(),
                         std::string("FLOWRUN_TOKEN=") + kToken, FlowrunBinary(), "runs", "ls"});
  EXPECT_EQ(env.exit_code, 0) << env.err;
  auto unreachable = RunProcess({FlowrunBinary(), "runs", "ls", "--url", "http://127.0.0.1:1"});
  EXPECT_EQ(unreachable.exit_code, 2);
  EXPECT_THAT(unreachable.err, HasSubstr("cannot reach"));
}

}  // namespace
}  // namespace flowrun
