// `flowrun schema` as an editor setup uses it: the built binary prints the embedded schemas.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/json.h"
#include "testing/paths.h"
#include "testing/subprocess.h"

namespace flowrun {
namespace {

using testing::FlowrunBinary;
using testing::RunProcess;

std::string ReadSource(const std::string& relative) {
  std::ifstream in(testing::SourceDir() + "/" + relative, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(SchemaCommandTest, PrintsTheFlowSchema) {
  auto result = RunProcess({FlowrunBinary(), "schema"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.err, "");
  EXPECT_EQ(Json::parse(result.out), Json::parse(ReadSource("schemas/flow.schema.json")));
  EXPECT_EQ(result.out.back(), '\n');
}

TEST(SchemaCommandTest, PrintsTheConfigSchemaWithConfigFlag) {
  auto result = RunProcess({FlowrunBinary(), "schema", "--config"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Json::parse(result.out), Json::parse(ReadSource("schemas/config.schema.json")));
}

TEST(SchemaCommandTest, UnknownOptionIsAUsageError) {
  auto result = RunProcess({FlowrunBinary(), "schema", "--flows"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_EQ(result.out, "");
}

}  // namespace
}  // namespace flowrun
