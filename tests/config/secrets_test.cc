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

TEST(SecretRedactorTest, RedactsTextJsonAndStatus) {
  Secrets secrets(std::map<std::string, std::string>{
      {"TOKEN", "abc123"}, {"LONG", "abc123-extended"}, {"SHORT", "on"}});
  SecretRedactor redactor(secrets);
  EXPECT_EQ(redactor.RedactText("Bearer abc123; other abc123-extended; on"),
            "Bearer ***; other ***; on");
  Json value = {{"headers", {{"Authorization", "Bearer abc123"}}},
                {"list", {1, "xabc123x", nullptr}},
                {"abc123", true}};
  Json redacted = redactor.RedactJson(value);
  EXPECT_EQ(redacted["headers"]["Authorization"], "Bearer ***");
  EXPECT_EQ(redacted["list"], Json({1, "x***x", nullptr}));
  EXPECT_TRUE(redacted.contains("***"));
  Status status = UnavailableError("GET https://x/?key=abc123 failed");
  status.set_retry_after_ms(1500);
  Status clean = redactor.RedactStatus(status);
  EXPECT_EQ(clean.code(), StatusCode::kUnavailable);
  EXPECT_EQ(clean.message(), "GET https://x/?key=*** failed");
  EXPECT_EQ(clean.retry_after_ms(), 1500);
}

TEST(SecretRedactorTest, SecretContainingRedactionMarkerTerminates) {
  SecretRedactor redactor(std::vector<std::string>{"****"});
  EXPECT_EQ(redactor.RedactText("a********b"), "a******b");
}

// The journal (RedactSecrets) and every other view (SecretRedactor) hide the same strings.
TEST(SecretRedactorTest, JournalAndRedactorReplaceTheLongestSecretFirst) {
  const std::map<std::string, std::string> values = {{"SHORT", "abc"}, {"LONG", "abcdef"}};
  SecretRedactor redactor{Secrets(values)};
  Json journal_secrets = MapSecretSource(values).All();
  for (const std::string text : {"abcdef", "xabcdefx abc", "abcabcdef", "abcdefabc"}) {
    const std::string shown = redactor.RedactText(text);
    EXPECT_EQ(RedactSecrets(Json(text), journal_secrets), Json(shown)) << text;
    // No part of the longer secret is left behind ("***def" would show its suffix).
    EXPECT_EQ(shown.find("def"), std::string::npos) << text << " -> " << shown;
    EXPECT_EQ(shown.find("abc"), std::string::npos) << text << " -> " << shown;
  }
  EXPECT_EQ(redactor.RedactText("xabcdefx abc"), "x***x ***");
  // The order the secrets are given in does not matter.
  SecretRedactor reversed(std::vector<std::string>{"abcdef", "abc"});
  SecretRedactor forward(std::vector<std::string>{"abc", "abcdef"});
  EXPECT_EQ(reversed.RedactText("abcdef"), "***");
  EXPECT_EQ(forward.RedactText("abcdef"), "***");
}

TEST(SecretRedactorTest, RedactsPercentEncodedForms) {
  const std::map<std::string, std::string> values = {{"PASS", "p@ss w/rd+1"}};
  SecretRedactor redactor{Secrets(values)};
  Json journal_secrets = MapSecretSource(values).All();
  for (const std::string text :
       {"https://x/?pw=p%40ss%20w%2Frd%2B1", "https://x/?pw=p%40ss%20w%2frd%2b1",
        "pw=p%40ss+w%2Frd%2B1&x=1", "raw p@ss w/rd+1"}) {
    const std::string shown = redactor.RedactText(text);
    EXPECT_EQ(shown.find("ss"), std::string::npos) << text << " -> " << shown;
    EXPECT_NE(shown.find("***"), std::string::npos) << text;
    EXPECT_EQ(RedactSecrets(Json(text), journal_secrets), Json(shown)) << text;
  }
  // A secret with nothing to encode has one form only.
  EXPECT_EQ(SecretNeedles({"plain"}), std::vector<std::string>{"plain"});
  // Short values are never redacted, in any form.
  EXPECT_TRUE(SecretNeedles({"a b"}).size() > 1);
  EXPECT_TRUE(SecretNeedles({"ab"}).empty());
}

}  // namespace
}  // namespace flowrun
