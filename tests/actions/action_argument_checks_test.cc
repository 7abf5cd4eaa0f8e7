// The argument checks validate and test share with serve, called directly: each action's own
// rules, db names left to validate --config, other actions passed through, hostile input refused.
#include "actions/action_argument_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace flowrun {
namespace {

using ::testing::HasSubstr;

TEST(ActionArgumentChecksTest, AppliesEachActionsOwnChecks) {
  ActionArgumentChecks checks;
  EXPECT_TRUE(checks.Check("http", Json{{"url", "https://api.example.com/${{ x }}"}}).ok());
  EXPECT_THAT(checks.Check("http", Json{{"url", "gopher://x/${{ x }}"}}).message(),
              HasSubstr("url scheme \"gopher\" is not allowed"));
  EXPECT_THAT(
      checks.Check("http", Json{{"url", "https://x"}, {"headers", {{"Bad Name", "v"}}}}).message(),
      HasSubstr("header"));
  Status mail =
      checks.Check("email", Json{{"to", "a@example.com"}, {"subject", "Hi"}, {"text", "x"}});
  EXPECT_TRUE(mail.ok()) << mail.ToString();
  EXPECT_THAT(
      checks.Check("email", Json{{"to", "a@example.com"}, {"subject", "Hi\nBcc: x@y"}}).message(),
      HasSubstr("subject contains CR or LF"));
  EXPECT_FALSE(checks.Check("email", Json{{"to", "not an address"}}).ok());
  EXPECT_THAT(checks.Check("db", Json{{"database", "app"}, {"sql", "SELECT ${{ x }}"}}).message(),
              HasSubstr("sql must not contain"));
}

TEST(ActionArgumentChecksTest, DatabaseNamesAreLeftToValidateConfig) {
  ActionArgumentChecks checks;
  EXPECT_TRUE(checks.Check("db", Json{{"database", "anything"}, {"sql", "SELECT 1"}}).ok());
  EXPECT_THAT(checks.Check("db", Json{{"database", 7}, {"sql", "SELECT 1"}}).message(),
              HasSubstr("database must be a string"));
}

TEST(ActionArgumentChecksTest, TheConfigsHostRulesApply) {
  HttpConfig http;
  http.deny_hosts = {"metadata.internal"};
  ActionArgumentChecks checks(http);
  EXPECT_THAT(checks.Check("http", Json{{"url", "http://metadata.internal/latest"}}).message(),
              HasSubstr("not allowed"));
  EXPECT_TRUE(checks.Check("http", Json{{"url", "https://api.example.com/"}}).ok());
}

TEST(ActionArgumentChecksTest, OtherActionsPassAndHostileInputIsRefused) {
  ActionArgumentChecks checks;
  EXPECT_TRUE(checks.Check("log", Json("anything")).ok());
  EXPECT_TRUE(checks.Check("", Json()).ok());
  for (const char* action : {"http", "email", "db"}) {
    EXPECT_FALSE(checks.Check(action, Json("a string")).ok()) << action;
    EXPECT_FALSE(checks.Check(action, Json::array()).ok()) << action;
    EXPECT_FALSE(checks.Check(action, Json::object()).ok()) << action;
  }
  EXPECT_FALSE(
      checks.Check("email", Json{{"to", "a@example.com"}, {"subject", std::string(1 << 20, '\r')}})
          .ok());
  EXPECT_FALSE(checks.Check("http", Json{{"url", std::string(1 << 20, 'h')}}).ok());
}

TEST(ActionArgumentChecksTest, CompileOptionsCallCheck) {
  ActionArgumentChecks checks;
  CompileOptions options = checks.compile_options();
  ASSERT_TRUE(options.check_action);
  EXPECT_FALSE(options.check_action("http", Json{{"url", "ftp://x"}}).ok());
}

}  // namespace
}  // namespace flowrun
