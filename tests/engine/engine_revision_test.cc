// Runs stay on the revision they started on, even across a restart after which the catalog holds
// only the flow's newer revision: the engine compiles the old one from the store.
#include <gtest/gtest.h>

#include "common/simulated_clock.h"
#include "engine/engine.h"
#include "engine/program_catalog.h"
#include "flow/compiler.h"
#include "flow/yaml_loader.h"
#include "store/sqlite_store.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

using store::RunStatus;

std::shared_ptr<const Program> Compile(const std::string& yaml) {
  CompiledFlow compiled = CompileFlow(LoadYaml("flow.yaml", yaml));
  EXPECT_TRUE(compiled.program);
  return compiled.program;
}

constexpr char kRevisionA[] = R"(
id: versioned
on: {event: go}
steps:
  - id: nap
    sleep: 1h
  - id: out
    return: from A
)";
constexpr char kRevisionB[] = R"(
id: versioned
on: {event: go}
steps:
  - id: nap
    sleep: 1h
  - id: out
    return: from B
)";

struct Node {
  Node(const std::string& path, SimulatedClock& clock) {
    auto opened = store::SqliteStore::Open({.path = path, .clock = &clock});
    EXPECT_TRUE(opened.ok()) << opened.status().ToString();
    store = std::move(*opened);
    engine = std::make_unique<Engine>(*store, catalog, nullptr, clock, nullptr,
                                      EngineOptions{.node_id = "node", .seed = 1, .log = nullptr});
  }
  Status Drive(SimulatedClock& clock) {
    for (int round = 0; round < 100; ++round) {
      ASSIGN_OR_RETURN(int advanced, engine->AdvanceReadyRuns(16));
      if (advanced > 0) continue;
      ASSIGN_OR_RETURN(std::optional<TimePoint> next, engine->NextDueTime());
      if (!next) return OkStatus();
      clock.AdvanceTo(*next);
    }
    return InternalError("did not settle");
  }
  InMemoryProgramCatalog catalog;
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<Engine> engine;
};

TEST(EngineRevisionTest, RunPinnedToAnOldRevisionFinishesOnItAfterRestart) {
  SimulatedClock clock;
  const std::string path = testing::MakeTempDir() + "/flowrun.db";
  std::string old_run;
  {
    Node node(path, clock);
    auto a = Compile(kRevisionA);
    node.catalog.Add(a);
    ASSERT_TRUE(node.engine->PublishRevision(*a).ok());
    ASSERT_TRUE(node.engine->Recover().ok());
    auto ingested = node.engine->IngestEvents({Json{{"name", "go"}}});
    ASSERT_TRUE(ingested.ok() && ingested->front().runs.size() == 1);
    old_run = ingested->front().runs.front();
    ASSERT_TRUE(node.engine->AdvanceReadyRuns(10).ok());
    ASSERT_EQ((*node.engine->GetRun(old_run))->status, RunStatus::kSleeping);
  }
  // Restart with the flow edited: only revision B is loaded.
  Node node(path, clock);
  auto b = Compile(kRevisionB);
  ASSERT_NE(b->revision, (*node.engine->GetRun(old_run))->revision);
  node.catalog.Add(b);
  ASSERT_TRUE(node.engine->PublishRevision(*b).ok());
  ASSERT_TRUE(node.engine->Recover().ok());
  auto ingested = node.engine->IngestEvents({Json{{"name", "go"}}});
  ASSERT_TRUE(ingested.ok() && ingested->front().runs.size() == 1);
  std::string new_run = ingested->front().runs.front();
  ASSERT_TRUE(node.Drive(clock).ok());
  auto old_record = **node.engine->GetRun(old_run);
  auto new_record = **node.engine->GetRun(new_run);
  EXPECT_EQ(old_record.status, RunStatus::kCompleted);
  EXPECT_EQ(old_record.output, "from A");
  EXPECT_EQ(new_record.status, RunStatus::kCompleted);
  EXPECT_EQ(new_record.output, "from B");
  EXPECT_EQ(node.catalog.Current("versioned"), b);  // the catalog's current revision is untouched
}

TEST(EngineRevisionTest, UnknownRevisionWaitsInsteadOfGuessing) {
  SimulatedClock clock;
  const std::string path = testing::MakeTempDir() + "/flowrun.db";
  std::string run;
  {
    Node node(path, clock);
    auto a = Compile(kRevisionA);
    node.catalog.Add(a);  // never published
    auto ingested = node.engine->IngestEvents({Json{{"name", "go"}}});
    ASSERT_TRUE(ingested.ok());
    run = ingested->front().runs.front();
    ASSERT_TRUE(node.engine->AdvanceReadyRuns(10).ok());
  }
  Node node(path, clock);
  node.catalog.Add(Compile(kRevisionB));
  ASSERT_TRUE(node.engine->Recover().ok());
  EXPECT_EQ(node.engine->ProgramFor("versioned", (*node.engine->GetRun(run))->revision), nullptr);
  clock.Advance(std::chrono::hours(2));
  ASSERT_TRUE(node.engine->AdvanceReadyRuns(10).ok());
  EXPECT_EQ((*node.engine->GetRun(run))->status, RunStatus::kSleeping);
}

}  // namespace
}  // namespace flowrun
