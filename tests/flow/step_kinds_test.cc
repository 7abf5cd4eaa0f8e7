#include "flow/step_kinds.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "flow/compiler.h"
#include "flow/yaml_loader.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

// The step keys of schemas/flow.schema.json as the source tree has them, in the schema's order.
std::vector<std::string> SchemaStepKeys() {
  std::ifstream in(testing::SourceDir() + "/schemas/flow.schema.json");
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json schema = nlohmann::ordered_json::parse(text.str());
  std::vector<std::string> keys;
  for (const auto& [key, unused] : schema["definitions"]["step"]["properties"].items()) {
    keys.push_back(key);
  }
  return keys;
}

// The actions are the built-in ones: tests/actions/builtin_actions_test.cc checks that the
// registry holds exactly SchemaActionNames(). Here the table and the schema must agree on every
// other key, in the same order, so that a step kind added on one side only fails.
TEST(StepKindsTest, CommonKeysActionsAndTableKeysAreTheSchemaStepKeys) {
  std::vector<std::string> expected = CommonStepKeys();
  for (const std::string& name : SchemaActionNames()) expected.push_back(name);
  for (StepCategory category : {StepCategory::kInternal, StepCategory::kControl}) {
    for (const std::string& key : StepKinds::BuiltIn().Keys(category)) expected.push_back(key);
  }
  EXPECT_EQ(expected, SchemaStepKeys());
}

TEST(StepKindsTest, OneRowPerKindFoundByItsKey) {
  const StepKinds& table = StepKinds::BuiltIn();
  for (const StepKindInfo& row : table.rows()) {
    EXPECT_EQ(&table.Of(row.kind), &row);
    if (row.kind == StepKind::kAction) {
      EXPECT_TRUE(row.key.empty());
      EXPECT_EQ(row.category, StepCategory::kAction);
      continue;
    }
    ASSERT_EQ(table.Find(row.key), &row) << row.key;
    EXPECT_NE(row.category, StepCategory::kAction) << row.key;
  }
  EXPECT_EQ(table.Find(""), nullptr);
  EXPECT_EQ(table.Find("http"), nullptr);
  EXPECT_EQ(table.Find("sleep")->kind, StepKind::kSleep);
  EXPECT_TRUE(IsControl(StepKind::kBlock));
  EXPECT_FALSE(IsControl(StepKind::kInvoke));
  EXPECT_EQ(table.Of(StepKind::kWaitForEvent).shape, GraphShape::kWait);
}

TEST(StepKindsTest, ActionDurationFieldsComeFromTheSchema) {
  const std::vector<DurationField>& http = SchemaActionDurationFields("http");
  ASSERT_EQ(http.size(), 1u);
  EXPECT_EQ(http[0].name, "timeout");
  EXPECT_TRUE(SchemaActionDurationFields("email").empty());
  EXPECT_TRUE(SchemaActionDurationFields("no-such-action").empty());
}

std::string MissingActionHint(const CompileOptions& options) {
  CompiledFlow compiled =
      CompileFlow(LoadYaml("f.yaml", "id: f\nsteps:\n  - id: a\n    name: nothing\n"), options);
  for (const Diagnostic& d : compiled.diagnostics) {
    if (d.rule == "missing-action") return d.hint;
  }
  return "";
}

TEST(StepKindsTest, TheMissingActionHintListsTheActionsThenTheTable) {
  EXPECT_EQ(MissingActionHint({}),
            "add one of http, email, db, wait_for_event, sleep, sleep_until, send_event, invoke, "
            "set, log, fail, return, switch, parallel, foreach or steps");
  CompileOptions registered;
  registered.action_names = {"db", "email", "http"};
  EXPECT_EQ(MissingActionHint(registered),
            "add one of db, email, http, wait_for_event, sleep, sleep_until, send_event, invoke, "
            "set, log, fail, return, switch, parallel, foreach or steps");
}

TEST(StepKindsTest, TheCompilerSetsTheKindOnce) {
  CompiledFlow compiled = CompileFlow(LoadYaml("f.yaml", R"(id: f
steps:
  - id: call
    http: {url: "https://example.com"}
  - id: nap
    sleep: 1s
  - id: block
    steps:
      - id: note
        log: hi
)"));
  ASSERT_NE(compiled.program, nullptr);
  const StepList& steps = compiled.program->steps;
  EXPECT_EQ(steps[0].kind, StepKind::kAction);
  EXPECT_EQ(steps[0].action, "http");
  EXPECT_EQ(steps[1].kind, StepKind::kSleep);
  EXPECT_EQ(steps[2].kind, StepKind::kBlock);
  EXPECT_EQ(steps[2].body[0].kind, StepKind::kLog);
}

}  // namespace
}  // namespace flowrun
