// While the results of actions keep filling every batch of AdvanceReadyRuns, new runs still
// start every few rounds (Engine::kAdmitEveryRounds), instead of waiting until the results dry
// up and then starting in one wave.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using testing::EngineHarness;

// Forty http steps: the fake http action answers inside Start, so each run comes back with a
// result in every round of a call, and does not finish within one call's rounds.
std::string ManySteps() {
  std::string flow = "id: many\non: {event: go}\nsteps:\n";
  for (int i = 0; i < 40; ++i) {
    flow += "  - id: s" + std::to_string(i) + "\n    http: {url: \"https://api.test/" +
            std::to_string(i) + "\"}\n";
  }
  return flow;
}

TEST(EngineAdmissionTest, NewRunsStartWhileResultsFillEveryBatch) {
  EngineHarness h;
  h.SetEngineOptions(EngineOptions{.node_id = "test-node", .advance_on_ingest = false});
  h.AddFlow(ManySteps());
  std::set<std::string> runs;
  for (int i = 0; i < 4; ++i) runs.insert(h.Send("go"));

  // One call with room for two runs: the first two come back after every round.
  auto advanced = h.engine().AdvanceReadyRuns(2);
  ASSERT_TRUE(advanced.ok()) << advanced.status().ToString();

  // Every run has started (sent its first request) within that one call.
  std::set<std::string> started;
  for (const ActionRequest& request : h.action("http").requests()) started.insert(request.run_id);
  EXPECT_EQ(started, runs);
  // The later two started after Engine::kAdmitEveryRounds rounds of the first two.
  EXPECT_GE(h.action("http").calls(), 2 * Engine::kAdmitEveryRounds + 2);
}

}  // namespace
}  // namespace flowrun
