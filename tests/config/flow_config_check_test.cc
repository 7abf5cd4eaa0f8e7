#include "config/flow_config_check.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/paths.h"

namespace flowrun {
namespace {

class ValidateConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir(); }

  void Write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name) << text;
  }

  std::vector<Diagnostic> Check(const std::string& config_text,
                                std::set<std::string> secrets = {}) {
    LoadedConfig loaded = LoadConfigText(dir_ + "/flowrun.yaml", config_text);
    EXPECT_TRUE(loaded.config.has_value());
    FlowSet set = LoadFlowSet({dir_ + "/flows"});
    EXPECT_TRUE(set.diagnostics.empty()) << set.diagnostics[0].message;
    return CheckFlowsAgainstConfig(set, *loaded.config, loaded, [&](const std::string& name) {
      return secrets.count(name) > 0;
    });
  }

  std::string dir_;
};

constexpr const char* kFlow = R"(id: signup
on:
  - event: user/signup
steps:
  - id: fetch
    http:
      url: https://crm.example.com/x
      headers: {Authorization: "Bearer ${{ secrets.CRM_KEY }}"}
  - id: save
    db:
      database: app
      sql: SELECT 1
  - id: greet
    email: {to: a@example.com, subject: hi, text: hi}
)";

TEST_F(ValidateConfigTest, NamesFlowStepAndTheMissingSetting) {
  std::filesystem::create_directories(dir_ + "/flows");
  Write("flows/signup.yaml", kFlow);
  auto diagnostics = Check("smtp: {url: \"smtp://127.0.0.1:2525\"}\n");
  ASSERT_EQ(diagnostics.size(), 3u);
  EXPECT_EQ(diagnostics[0].rule, "config-secret");
  EXPECT_EQ(diagnostics[0].message,
            "flow signup, step fetch: secret \"CRM_KEY\" is not configured");
  EXPECT_EQ(diagnostics[0].pos, (SourcePos{8, 32}));
  EXPECT_EQ(diagnostics[1].rule, "config-database");
  EXPECT_EQ(diagnostics[1].message, "flow signup, step save: database \"app\" is not configured");
  EXPECT_EQ(diagnostics[1].pos, (SourcePos{11, 17}));
  EXPECT_EQ(diagnostics[2].rule, "config-smtp");
  EXPECT_NE(diagnostics[2].message.find("step greet"), std::string::npos);
}

TEST_F(ValidateConfigTest, AConfigWithEverythingPasses) {
  std::filesystem::create_directories(dir_ + "/flows");
  Write("flows/signup.yaml", kFlow);
  auto diagnostics = Check(
      "databases: {app: \"sqlite:app.db\"}\nsmtp: {url: \"smtp://127.0.0.1:2525\", from: "
      "a@example.com}\n",
      {"CRM_KEY"});
  EXPECT_TRUE(diagnostics.empty()) << diagnostics[0].message;
}

TEST_F(ValidateConfigTest, SecretsOfSmtpAndWebhooksAreChecked) {
  std::filesystem::create_directories(dir_ + "/flows");
  Write("flows/ok.yaml", "id: ok\non:\n  - event: a\nsteps:\n  - id: s\n    log: x\n");
  auto diagnostics = Check(
      "smtp:\n  url: \"smtp://127.0.0.1:2525\"\n  username: mailer\n  password: \"${{ "
      "secrets.SMTP_PASSWORD }}\"\nwebhooks:\n  stripe:\n    scheme: stripe\n    secret: \"${{ "
      "secrets.STRIPE_WEBHOOK_SECRET }}\"\n");
  ASSERT_EQ(diagnostics.size(), 2u);
  EXPECT_EQ(diagnostics[0].message, "smtp: secret \"SMTP_PASSWORD\" is not configured");
  EXPECT_EQ(diagnostics[0].pos.line, 4);
  EXPECT_EQ(diagnostics[1].message,
            "webhook stripe: secret \"STRIPE_WEBHOOK_SECRET\" is not configured");
  EXPECT_EQ(diagnostics[1].pos.line, 8);
}

TEST_F(ValidateConfigTest, NestedStepsAreChecked) {
  std::filesystem::create_directories(dir_ + "/flows");
  Write("flows/nested.yaml", R"(id: nested
on:
  - event: a
steps:
  - id: par
    parallel:
      branches:
        left:
          - id: deep
            db: {database: analytics, sql: SELECT 1}
  - id: each
    foreach:
      items: event.data.items
      steps:
        - id: inner
          db: {database: "${{ event.data.db }}", sql: SELECT 1}
)");
  auto diagnostics = Check("databases: {app: \"sqlite:app.db\"}\n");
  ASSERT_EQ(diagnostics.size(), 1u);
  EXPECT_EQ(diagnostics[0].message,
            "flow nested, step deep: database \"analytics\" is not configured");
  EXPECT_EQ(diagnostics[0].hint, "the config's databases are app");
}

}  // namespace
}  // namespace flowrun
