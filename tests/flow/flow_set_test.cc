#include "flow/flow_set.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/paths.h"

namespace flowrun {
namespace {

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(FlowSetTest, TestFilesAreNotFlows) {
  EXPECT_TRUE(IsTestFileName("flows/a.test.yaml"));
  EXPECT_TRUE(IsTestFileName("a.test.yml"));
  EXPECT_FALSE(IsTestFileName("flows/test.yaml"));
  EXPECT_FALSE(IsTestFileName("flows/a.yaml"));
  EXPECT_TRUE(IsFlowFileName("flows/a.yaml"));
  EXPECT_TRUE(IsFlowFileName("flows/flowrun.yml"));
  EXPECT_FALSE(IsFlowFileName("flows/a.test.yaml"));
  EXPECT_FALSE(IsFlowFileName("flows/a.json"));
}

TEST(FlowSetTest, ADirectorySearchSkipsTestFiles) {
  std::string dir = testing::MakeTempDir();
  Write(dir + "/hello.yaml", "id: hello\non: [{event: a/b}]\nsteps:\n  - id: s\n    log: hi\n");
  Write(dir + "/hello.test.yaml", "flow: hello\ncases: []\n");
  FlowSet set = LoadFlowSet({dir});
  ASSERT_EQ(set.files.size(), 1u);
  EXPECT_EQ(set.files[0].path, dir + "/hello.yaml");
  EXPECT_TRUE(set.diagnostics.empty());
}

// Keeping only what diagnostics need finds the same problems, duplicate ids across files
// included, and keeps each file's text for printing them.
TEST(FlowSetTest, DiagnosticsOnlyFindsTheSameProblemsAndKeepsTheText) {
  std::string dir = testing::MakeTempDir();
  Write(dir + "/a.yaml", "id: a\non: [{event: a/b}]\nsteps:\n  - id: s\n    log: hi\n");
  Write(dir + "/b.yaml", "id: a\nsteps:\n  - id: s\n    iff: true\n    log: hi\n");
  Write(dir + "/c.yaml", "id: c\nsteps: [{id: s, log: hi}]\n");
  FlowSet everything = LoadFlowSet({dir});
  FlowSet diagnostics_only = LoadFlowSet({dir}, {}, FlowSetContents::kDiagnosticsOnly);
  ASSERT_EQ(diagnostics_only.diagnostics.size(), everything.diagnostics.size());
  ASSERT_GE(everything.diagnostics.size(), 2u);  // the unknown key and the duplicate id
  for (size_t i = 0; i < everything.diagnostics.size(); ++i) {
    EXPECT_EQ(diagnostics_only.diagnostics[i].message, everything.diagnostics[i].message);
    EXPECT_EQ(diagnostics_only.diagnostics[i].pos.line, everything.diagnostics[i].pos.line);
  }
  EXPECT_NE(everything.files[2].program, nullptr);
  for (const FlowFile& file : diagnostics_only.files) {
    EXPECT_EQ(file.program, nullptr) << file.path;
    EXPECT_FALSE(file.document->source.text().empty()) << file.path;
  }
  EXPECT_EQ(diagnostics_only.Sources().size(), 3u);
}

}  // namespace
}  // namespace flowrun
