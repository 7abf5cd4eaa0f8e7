// `flowrun send` as a user runs it: the built binary against a service on loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

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
using testing::RunProcess;

TEST(SendCommandTest, SendsAnEventAndPrintsItsId) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto result = RunProcess({FlowrunBinary(), "send", "test/hello", "--data", R"({"name":"Cli"})",
                            "--id", "cli-1", "--url", server.url()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string id = result.out.substr(0, result.out.find('\n'));
  Json event = BodyOf(server.Client()->Get(("/v1/events/" + id).c_str()));
  EXPECT_EQ(event["name"], "test/hello");
  EXPECT_EQ(event["data"]["name"], "Cli");
  EXPECT_EQ(event["client_id"], "cli-1");
}

TEST(SendCommandTest, UsesEventKeysAndTokens) {
  ApiTestServerOptions options;
  options.event_keys = {"event-key-0123456789"};
  options.api_tokens = {"api-token-0123456789"};
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  auto refused = RunProcess({FlowrunBinary(), "send", "a/b", "--url", server.url()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("unknown event key"));
  auto with_key = RunProcess(
      {FlowrunBinary(), "send", "a/b", "--url", server.url(), "--key", "event-key-0123456789"});
  EXPECT_EQ(with_key.exit_code, 0) << with_key.err;
  auto with_token = RunProcess(
      {FlowrunBinary(), "send", "a/b", "--url", server.url(), "--token", "api-token-0123456789"});
  EXPECT_EQ(with_token.exit_code, 0) << with_token.err;
  auto env = RunProcess({"/usr/bin/env", "FLOWRUN_URL=" + server.url(),
                         "FLOWRUN_EVENT_KEY=event-key-0123456789", FlowrunBinary(), "send", "a/c"});
  EXPECT_EQ(env.exit_code, 0) << env.err;
}

TEST(SendCommandTest, BadDataIsAUsageError) {
  auto result = RunProcess({FlowrunBinary(), "send", "a/b", "--data", "{oops"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("--data is not valid JSON"));
  auto array = RunProcess({FlowrunBinary(), "send", "a/b", "--data", "[1]"});
  EXPECT_EQ(array.exit_code, 2);
  EXPECT_THAT(array.err, HasSubstr("must be a JSON object"));
}

TEST(SendCommandTest, SendsTheEventOfAFile) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto result = RunProcess({FlowrunBinary(), "send", "--file",
                            testing::SourceDir() + "/flows/events/user.subscription.created.json",
                            "--url", server.url()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::string id = result.out.substr(0, result.out.find('\n'));
  Json event = BodyOf(server.Client()->Get(("/v1/events/" + id).c_str()));
  EXPECT_EQ(event["name"], "user.subscription.created");
  EXPECT_EQ(event["data"]["subscriptionId"], "sub_1");
}

TEST(SendCommandTest, BadFilesAreUsageErrors) {
  std::string dir = testing::MakeTempDir();
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir + "/" + name, std::ios::binary) << text;
    return dir + "/" + name;
  };
  struct Bad {
    std::string path;
    const char* expected;
  };
  for (const Bad& bad : {
           Bad{dir + "/missing.json", "cannot be read"},
           Bad{write("broken.json", "{\"name\": "), "not valid JSON"},
           Bad{write("list.json", "[1, 2]"), "expected a JSON object"},
           Bad{write("noname.json", "{\"data\": {}}"), "expected a JSON object"},
           Bad{write("emptyname.json", "{\"name\": \"\"}"), "expected a JSON object"},
           Bad{write("data.json", "{\"name\": \"a/b\", \"data\": [1]}"),
               "data must be a JSON object"},
           Bad{write("big.json", "{\"name\": \"a/b\", \"data\": {\"x\": \"" +
                                     std::string(2 << 20, 'x') + "\"}}"),
               "larger than 1 MiB"},
           Bad{dir, "cannot be read"},
       }) {
    auto result =
        RunProcess({FlowrunBinary(), "send", "--file", bad.path, "--url", "http://127.0.0.1:1"});
    EXPECT_EQ(result.exit_code, 2) << bad.path;
    EXPECT_THAT(result.err, HasSubstr(bad.expected)) << bad.path;
  }
  auto both = RunProcess({FlowrunBinary(), "send", "a/b", "--file", write("ok.json", "{}")});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("give the event name, or --file"));
  auto neither = RunProcess({FlowrunBinary(), "send"});
  EXPECT_EQ(neither.exit_code, 2);
}

TEST(SendCommandTest, UnreachableServerExitsTwo) {
  // Port 1 on loopback has no listener.
  auto result = RunProcess({FlowrunBinary(), "send", "a/b", "--url", "http://127.0.0.1:1"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("cannot reach the flowrun server at http://127.0.0.1:1"));
  auto bad_url = RunProcess({FlowrunBinary(), "send", "a/b", "--url", "ftp://x"});
  EXPECT_EQ(bad_url.exit_code, 2);
}

}  // namespace
}  // namespace flowrun
