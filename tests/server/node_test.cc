#include "server/node.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "common/simulated_clock.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

class NodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir();
    std::filesystem::create_directories(dir_ + "/flows");
  }

  NodeOptions Options() {
    NodeOptions options;
    options.config = Config::Defaults(dir_);
    options.config.store = "sqlite:" + dir_ + "/flowrun.db";
    options.config.flows = dir_ + "/flows";
    options.config.migrate_auto = true;
    options.clock = &clock_;
    options.secrets = std::map<std::string, std::string>{{"TOKEN", "s3cret-value"}};
    return options;
  }

  std::string dir_;
  SimulatedClock clock_;
};

TEST_F(NodeTest, OpensEveryPartOverAFlowRegistry) {
  auto node = OpenNode(Options());
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_NE(node->identity, nullptr);
  EXPECT_FALSE(node->node_id.empty());
  EXPECT_NE(node->store, nullptr);
  EXPECT_NE(node->outbox, nullptr);
  EXPECT_NE(node->flows, nullptr);
  EXPECT_NE(node->engine, nullptr);
  EXPECT_TRUE(node->actions->frozen());
  EXPECT_NE(node->actions->Find("http"), nullptr);
  EXPECT_EQ(node->secrets->Get("TOKEN"), "s3cret-value");
  EXPECT_TRUE(node->flows->Reload().ok());
  EXPECT_TRUE(node->engine->Recover().ok());
}

TEST_F(NodeTest, CallersCatalogAndIdWithoutIdentity) {
  InMemoryProgramCatalog catalog;
  NodeOptions options = Options();
  options.catalog = &catalog;
  options.keep_node_identity = false;
  options.node_id = "run";
  auto node = OpenNode(std::move(options));
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  EXPECT_EQ(node->identity, nullptr);
  EXPECT_EQ(node->node_id, "run");
  EXPECT_EQ(node->flows, nullptr);
  EXPECT_NE(node->engine, nullptr);
}

TEST_F(NodeTest, CompileOptionsCheckArgumentsOfKnownActions) {
  auto node = OpenNode(Options());
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  CompileOptions compile = node->compile_options();
  ASSERT_TRUE(compile.check_action);
  EXPECT_FALSE(compile.check_action("http", Json("not a map")).ok());
  EXPECT_TRUE(compile.check_action("not_an_action", Json::object()).ok());
}

TEST_F(NodeTest, MissingFlowsDirectoryIsNotFound) {
  NodeOptions options = Options();
  options.config.flows = dir_ + "/missing";
  auto node = OpenNode(std::move(options));
  EXPECT_EQ(node.status().code(), StatusCode::kNotFound) << node.status().ToString();
}

TEST_F(NodeTest, CloseLetsTheNextNodeOpenTheSameStore) {
  auto first = OpenNode(Options());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string id = first->node_id;
  first->Close();
  EXPECT_EQ(first->store, nullptr);
  auto second = OpenNode(Options());
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->node_id, id);
}

}  // namespace
}  // namespace flowrun
