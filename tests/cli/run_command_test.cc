// `flowrun run` as a user runs it: the built binary in a subprocess, in a temp directory.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "testing/paths.h"
#include "testing/subprocess.h"

namespace flowrun {
namespace {

using testing::RunProcess;

class RunCommandTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(); }

  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  testing::ProcessResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {testing::FlowrunBinary(), "run"});
    return RunProcess(args, dir_);
  }

  std::string dir_;
};

constexpr const char* kWaitFlow = R"(id: confirm
on:
  - event: user/signup
steps:
  - id: greet
    set: {greeting: "hi ${{ event.data.name }}"}
  - id: wait
    wait_for_event: {event: user/confirmed, match: data.name, timeout: 72h}
  - id: done
    return: {greeting: "${{ vars.greeting }}", confirmed: "${{ steps.wait.output != null }}"}
)";

TEST_F(RunCommandTest, CompletedRunPrintsTraceAndOutput) {
  std::string flow = Write("hello.yaml", R"(id: hello
on:
  - event: user/signup
steps:
  - id: greet
    set: {greeting: "hi ${{ event.data.name }}"}
  - id: done
    return: "${{ vars.greeting }}"
)");
  auto result = Run({flow, "--event", R"({"name":"user/signup","data":{"name":"ann"}})"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("greet"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("completed"), std::string::npos);
  EXPECT_NE(result.out.find("\"hi ann\""), std::string::npos) << result.out;
}

TEST_F(RunCommandTest, FailedRunExitsOne) {
  std::string flow = Write("boom.yaml", R"(id: boom
on:
  - event: go
steps:
  - id: explode
    fail: "it broke for ${{ event.data.who }}"
)");
  auto result = Run({flow, "--event", R"({"name":"go","data":{"who":"bob"}})"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.err.find("it broke for bob"), std::string::npos) << result.err;
}

TEST_F(RunCommandTest, VirtualTimeFinishesA72HourSleepAtOnce) {
  std::string flow = Write("nap.yaml", R"(id: nap
on:
  - event: nap
steps:
  - id: sleep
    sleep: 72h
  - id: done
    return: rested
)");
  const auto start = std::chrono::steady_clock::now();
  auto result = Run({flow, "--event", R"({"name":"nap"})", "--virtual-time"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_NE(result.out.find("\"rested\""), std::string::npos) << result.out;
}

TEST_F(RunCommandTest, EventsFileFeedsAWait) {
  std::string flow = Write("confirm.yaml", kWaitFlow);
  std::string events =
      Write("events.jsonl", R"({"name":"user/confirmed","data":{"name":"other"},"delay":"1h"}
{"name":"user/confirmed","data":{"name":"ann"},"delay":"2h"}
)");
  auto result = Run({flow, "--event", R"({"name":"user/signup","data":{"name":"ann"}})", "--events",
                     events, "--virtual-time"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("\"confirmed\": true"), std::string::npos) << result.out;
}

TEST_F(RunCommandTest, WaitTimesOutWithoutEvents) {
  std::string flow = Write("confirm.yaml", kWaitFlow);
  auto result =
      Run({flow, "--event", R"({"name":"user/signup","data":{"name":"ann"}})", "--virtual-time"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("\"confirmed\": false"), std::string::npos) << result.out;
}

TEST_F(RunCommandTest, BadEventIsAUsageError) {
  std::string flow = Write("confirm.yaml", kWaitFlow);
  auto malformed = Run({flow, "--event", R"({"name":)"});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("not valid JSON"), std::string::npos) << malformed.err;
  auto not_object = Run({flow, "--event", "[1, 2]"});
  EXPECT_EQ(not_object.exit_code, 2);
  EXPECT_NE(not_object.err.find("must be a JSON object"), std::string::npos) << not_object.err;
}

TEST_F(RunCommandTest, MissingFlowAndEventsFileAreUsageErrors) {
  auto missing = Run({"no-such-flow", "--event", "{}", "--flows", dir_});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  std::string flow = Write("confirm.yaml", kWaitFlow);
  auto no_events = Run({flow, "--event", R"({"name":"user/signup"})", "--events", "nope.json"});
  EXPECT_EQ(no_events.exit_code, 2) << no_events.err;
}

}  // namespace
}  // namespace flowrun

namespace flowrun {
namespace {

// A flow given as a file finds the child flows it invokes under --flows.
TEST(RunCommandInvokeTest, AFlowFileInvokesAChildFromTheFlowsDirectory) {
  std::string dir = testing::MakeTempDir();
  std::filesystem::create_directories(dir + "/children");
  std::ofstream(dir + "/parent.yaml") << R"(id: parent
on:
  - event: go
steps:
  - id: child
    invoke: {flow: double, data: {n: "${{ event.data.n }}"}}
  - id: done
    return: {result: "${{ steps.child.output.twice }}"}
)";
  std::ofstream(dir + "/children/double.yaml") << R"(id: double
on:
  - event: never
steps:
  - id: out
    return: {twice: "${{ event.data.n * 2 }}"}
)";
  auto r =
      testing::RunProcess({testing::FlowrunBinary(), "run", "parent.yaml", "--flows", "children",
                           "--virtual-time", "--event", R"({"name":"go","data":{"n":21}})"},
                          dir);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\"result\": 42"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace flowrun
