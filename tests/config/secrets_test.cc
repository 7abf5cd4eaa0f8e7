#include "config/secrets.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/paths.h"

namespace flowrun {
namespace {

TEST(SecretsTest, ReadsListedEnvironmentVariables) {
  SecretsConfig config;
  config.env_names = {"CLERK_KEY"};
  StatusOr<Secrets> secrets =
      Secrets::Load(config, [](const std::string& name) -> std::optional<std::string> {
        if (name == "CLERK_KEY") return "sk_live_123";
        return std::nullopt;
      });
  ASSERT_TRUE(secrets.ok()) << secrets.status().ToString();
  EXPECT_EQ(secrets->Get("CLERK_KEY"), "sk_live_123");
  EXPECT_EQ(secrets->All(), Json({{"CLERK_KEY", "sk_live_123"}}));
}

TEST(SecretsTest, ListedButUnsetVariableIsAClearError) {
  SecretsConfig config;
  config.env_names = {"MISSING_KEY"};
  StatusOr<Secrets> secrets =
      Secrets::Load(config, [](const std::string&) { return std::optional<std::string>(); });
  ASSERT_FALSE(secrets.ok());
  EXPECT_EQ(secrets.status().code(), StatusCode::kNotFound);
  EXPECT_NE(secrets.status().message().find("MISSING_KEY"), std::string::npos);
}

TEST(SecretsTest, PrefixExposesStrippedNames) {
  SecretsConfig config;
  config.env_prefix = "FLOWRUN_SECRET_";
  StatusOr<Secrets> secrets = Secrets::Load(config, {}, [] {
    return std::map<std::string, std::string>{
        {"FLOWRUN_SECRET_A", "alpha"}, {"FLOWRUN_SECRET_", "ignored"}, {"PATH", "/usr/bin"}};
  });
  ASSERT_TRUE(secrets.ok());
  EXPECT_EQ(secrets->Names(), std::vector<std::string>{"A"});
  EXPECT_EQ(secrets->Get("A"), "alpha");
}

TEST(SecretsTest, ReadsTheRealEnvironment) {
  setenv("FLOWRUN_TEST_SECRET_X", "from-env", 1);
  SecretsConfig config;
  config.env_names = {"FLOWRUN_TEST_SECRET_X"};
  config.env_prefix = "FLOWRUN_TEST_SECRET_";
  StatusOr<Secrets> secrets = Secrets::Load(config);
  ASSERT_TRUE(secrets.ok());
  EXPECT_EQ(secrets->Get("FLOWRUN_TEST_SECRET_X"), "from-env");
  EXPECT_EQ(secrets->Get("X"), "from-env");
}

TEST(SecretsTest, ReadsAFileAndTheFileWins) {
  std::string dir = testing::MakeTempDir();
  std::ofstream(dir + "/secrets.yaml") << "STRIPE: sk_test_abc\nPORT: 587\nA: file-value\n";
  SecretsConfig config;
  config.env_names = {"A"};
  config.file = dir + "/secrets.yaml";
  StatusOr<Secrets> secrets =
      Secrets::Load(config, [](const std::string&) { return std::optional<std::string>("env"); });
  ASSERT_TRUE(secrets.ok()) << secrets.status().ToString();
  EXPECT_EQ(secrets->Get("STRIPE"), "sk_test_abc");
  EXPECT_EQ(secrets->Get("PORT"), "587");
  EXPECT_EQ(secrets->Get("A"), "file-value");
}

TEST(SecretsTest, BadFilesAreErrorsWithoutValues) {
  std::string dir = testing::MakeTempDir();
  std::ofstream(dir + "/nested.yaml") << "KEY: {value: hunter22}\n";
  SecretsConfig config;
  config.file = dir + "/nested.yaml";
  StatusOr<Secrets> secrets = Secrets::Load(config);
  ASSERT_FALSE(secrets.ok());
  EXPECT_EQ(secrets.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(secrets.status().message().find("nested.yaml:1:6"), std::string::npos)
      << secrets.status().message();
  EXPECT_EQ(secrets.status().message().find("hunter22"), std::string::npos);

  config.file = dir + "/absent.yaml";
  EXPECT_EQ(Secrets::Load(config).status().code(), StatusCode::kNotFound);
}

TEST(SecretsTest, ResolveReferences) {
  Secrets secrets(std::map<std::string, std::string>{{"SMTP_PASSWORD", "p4ssw0rd"}});
  EXPECT_EQ(*secrets.Resolve("${{ secrets.SMTP_PASSWORD }}"), "p4ssw0rd");
  EXPECT_EQ(*secrets.Resolve("${{secrets.SMTP_PASSWORD}}"), "p4ssw0rd");
  EXPECT_EQ(*secrets.Resolve("literal"), "literal");
  StatusOr<std::string> missing = secrets.Resolve("${{ secrets.NOPE }}");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("\"NOPE\" is not set"), std::string::npos);
  EXPECT_NE(missing.status().message().find("SMTP_PASSWORD"), std::string::npos);
  EXPECT_EQ(missing.status().message().find("p4ssw0rd"), std::string::npos);
  EXPECT_FALSE(secrets.Resolve("${{ event.data.x }}").ok());
}

}  // namespace
}  // namespace flowrun
