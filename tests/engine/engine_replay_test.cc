// Replay after a restart restores exactly the scope the first walk had: values a `set` took from
// secrets (journaled redacted), and the vars of on_error handler steps.
#include <gtest/gtest.h>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

TEST(EngineReplayTest, SetOfASecretKeepsItsValueAcrossReplayWhileTheJournalIsRedacted) {
  EngineHarness h(std::map<std::string, std::string>{{"API_KEY", "s3cr3t-value"}});
  h.AddFlow(R"(
id: secret-set
on: {event: go}
steps:
  - id: keep
    set: {token: "Bearer ${{ secrets.API_KEY }}", stamp: "${{ uuid() }}"}
  - id: nap
    sleep: 1h
  - id: call
    http: {method: GET, url: "https://x/${{ vars.stamp }}", headers: {Authorization: "${{ vars.token }}"}}
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  ASSERT_EQ(h.Run(run).status, RunStatus::kSleeping);
  h.Reopen();  // the walk after the sleep replays `keep` from the journal
  ASSERT_TRUE(h.Drive().ok());
  ASSERT_EQ(h.Run(run).status, RunStatus::kCompleted) << h.Run(run).error.dump();
  ASSERT_EQ(h.action("http").calls(), 1);
  const Json args = h.action("http").requests()[0].arguments;
  EXPECT_EQ(args["headers"]["Authorization"], "Bearer s3cr3t-value");
  Json keep = h.Completion(run, "keep");
  EXPECT_EQ(keep["output"]["token"], "Bearer ***");
  EXPECT_EQ(args["url"], "https://x/" + keep["output"]["stamp"].get<std::string>());
  for (const store::JournalEntry& e : h.Journal(run)) {
    EXPECT_EQ(e.data.dump().find("s3cr3t-value"), std::string::npos) << e.data.dump();
  }
}

TEST(EngineReplayTest, VarsSetByAnOnErrorHandlerOfAControlStepSurviveReplay) {
  EngineHarness h;
  h.AddFlow(R"(
id: handled-block
on: {event: go}
steps:
  - id: risky
    steps:
      - id: boom
        fail: {message: nope}
    on_error:
      - id: recover
        set: {fallback: "used after ${{ error.message }}"}
  - id: nap
    sleep: 1h
  - id: out
    return: "${{ vars.fallback }}"
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  ASSERT_EQ(h.Run(run).status, RunStatus::kSleeping);
  h.Reopen();
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  ASSERT_EQ(record.status, RunStatus::kCompleted) << record.error.dump();
  EXPECT_EQ(record.output, "used after nope");
}

TEST(EngineReplayTest, VarsSetByAnOnErrorHandlerOfAnActionStepSurviveReplay) {
  EngineHarness h;
  h.AddFlow(R"(
id: handled-action
on: {event: go}
steps:
  - id: second
    fail: {message: boom}
    on_error:
      - id: recover
        set: {recovered: "${{ error.message }}"}
  - id: nap
    sleep: 1h
  - id: done
    return: "${{ vars.recovered }}"
)");
  std::string run = h.Send("go");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  h.Reopen();
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  ASSERT_EQ(record.status, RunStatus::kCompleted) << record.error.dump();
  EXPECT_EQ(record.output, "boom");
}

}  // namespace
}  // namespace flowrun
