#include "interpreter/flow_set.h"

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

}  // namespace
}  // namespace flowrun
