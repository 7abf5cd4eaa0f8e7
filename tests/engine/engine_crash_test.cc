// Failpoint crash tests, in the manner of SQLite's I/O-error tests: for each flow shape, crash at
// failpoint k for every k, reopen the store file, resume, and check that the run completes, that
// no step completion is recorded twice, and that a repeated side effect carries the same
// idempotency key.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

struct Shape {
  const char* name;
  const char* yaml;
  int expected_effects;  // distinct side-effecting step keys of the run itself
};

const Shape kShapes[] = {
    {"chain", R"(
id: chain
on: {event: go}
steps:
  - id: a
    set: {x: 1}
  - id: get
    http: {method: GET, url: "https://x/${{ uuid() }}"}
  - id: mail
    email: {to: a@example.com, subject: s, text: "${{ steps.get.output.key }}"}
  - id: out
    return: "${{ vars.x }}"
)",
     2},
    {"sleep-and-loop", R"(
id: loop
on: {event: go}
steps:
  - id: nap
    sleep: 1h
  - id: each
    foreach:
      items: "[1, 2, 3]"
      concurrency: 2
      steps:
        - id: send
          http: {method: POST, url: "https://x/${{ item }}"}
  - id: emit
    send_event: {name: loop/done, data: {n: 3}}
)",
     3},
    {"wait-and-invoke", R"(
id: waits
on: {event: go}
steps:
  - id: emit
    send_event: {name: ping, data: {k: "${{ event.data.k }}"}}
  - id: w
    wait_for_event: {event: ping, match: data.k, timeout: 1h, lookback: 1h}
  - id: child
    invoke: {flow: helper, data: {}}
  - id: db
    db: {database: app, sql: "UPDATE t SET x = 1"}
)",
     1},  // the parent's db step; the helper's http call belongs to the child run
};

constexpr char kHelper[] = R"(
id: helper
on: {event: never}
steps:
  - id: h
    http: {method: GET, url: "https://helper"}
)";

// Runs the shape once, crashing at pass k (0: never). Returns false when k is past the last
// failpoint.
bool RunWithCrashAt(const Shape& shape, int k, int* passes) {
  EngineHarness h;
  h.AddFlow(shape.yaml);
  h.AddFlow(kHelper);
  h.engine().TEST_failpoints().TEST_CrashAt(k);
  std::string run;
  auto ingested = h.engine().IngestEvents(
      {Json{{"name", "go"}, {"id", "client-event"}, {"data", {{"k", "v"}}}}});
  bool crashed = !ingested.ok();
  if (ingested.ok()) run = ingested->front().runs.at(0);
  Status driven = crashed ? OkStatus() : h.Drive();
  crashed = crashed || !driven.ok();
  if (passes) *passes = h.engine().TEST_failpoints().TEST_hits();
  if (!crashed) {
    EXPECT_TRUE(k == 0 || k > *passes) << shape.name << " k=" << k;
    return false;
  }
  EXPECT_EQ(driven.ok() ? StatusCode::kAborted : driven.code(), StatusCode::kAborted);
  h.Reopen();
  if (run.empty()) {
    // The crash came before the ingest was acknowledged: the client sends again, deduplicated.
    auto again = h.engine().IngestEvents(
        {Json{{"name", "go"}, {"id", "client-event"}, {"data", {{"k", "v"}}}}});
    EXPECT_TRUE(again.ok());
    auto runs =
        h.engine().ListRuns({.flow_id = std::string(shape.name) == "chain"            ? "chain"
                                        : std::string(shape.name) == "sleep-and-loop" ? "loop"
                                                                                      : "waits"});
    EXPECT_TRUE(runs.ok());
    if (!runs.ok() || runs->size() != 1) {
      ADD_FAILURE() << shape.name << " k=" << k << ": expected one run";
      return true;
    }
    run = runs->front().id;
  }
  Status resumed = h.Drive();
  EXPECT_TRUE(resumed.ok()) << resumed.ToString();
  auto record = h.Run(run);
  EXPECT_EQ(record.status, RunStatus::kCompleted)
      << shape.name << " k=" << k << " error=" << record.error.dump();
  std::map<std::string, int> completions;
  for (const auto& e : h.Journal(run)) {
    if (e.kind == store::JournalKind::kCompleted) ++completions[e.step_key];
  }
  for (const auto& [key, count] : completions) {
    EXPECT_EQ(count, 1) << shape.name << " k=" << k << " step " << key;
  }
  std::set<std::string> keys;
  std::map<std::string, std::string> arguments;
  for (const char* action : {"http", "email", "db"}) {
    for (const auto& request : h.action(action).requests()) {
      if (request.run_id != run) continue;
      keys.insert(request.idempotency_key);
      EXPECT_EQ(request.idempotency_key, request.run_id + "/" + request.step_key);
      // A repeated side effect is the same request.
      auto [it, fresh] = arguments.emplace(request.idempotency_key, request.arguments.dump());
      if (!fresh) EXPECT_EQ(it->second, request.arguments.dump()) << request.step_key;
    }
  }
  EXPECT_EQ(static_cast<int>(keys.size()), shape.expected_effects) << shape.name << " k=" << k;
  return true;
}

class EngineCrashTest : public ::testing::TestWithParam<Shape> {};

TEST_P(EngineCrashTest, CrashAtEveryFailpointThenResume) {
  const Shape& shape = GetParam();
  int passes = 0;
  RunWithCrashAt(shape, 0, &passes);
  ASSERT_GT(passes, 4);
  for (int k = 1; k <= passes; ++k) {
    SCOPED_TRACE(k);
    RunWithCrashAt(shape, k, nullptr);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, EngineCrashTest, ::testing::ValuesIn(kShapes),
                         [](const auto& info) {
                           std::string name = info.param.name;
                           for (char& c : name) {
                             if (c == '-') c = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace flowrun
