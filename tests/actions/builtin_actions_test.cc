#include "actions/builtin_actions.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "flow/step_kinds.h"
#include "testing/in_memory_email_outbox.h"
#include "testing/loopback_http_server.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

TEST(BuiltinActionsTest, RegistersHttpEmailAndDb) {
  Config config = Config::Defaults(testing::MakeTempDir());
  config.databases = {{"app", "sqlite:" + config.base_dir + "/app.db"}};
  auto server = testing::LoopbackHttpServer::Start();
  testing::InMemoryEmailOutbox outbox;
  BuiltinActionEnvironment env;
  env.outbox = &outbox;
  ActionRegistry registry;
  ASSERT_TRUE(RegisterBuiltinActions(registry, config, env).ok());
  registry.Freeze();
  EXPECT_EQ(registry.Names(), (std::vector<std::string>{"db", "email", "http"}));

  Action* db = registry.Find("db");
  ASSERT_NE(db, nullptr);
  EXPECT_FALSE(db->CheckArguments({{"database", "crm"}, {"sql", "SELECT 1"}}).ok());
  ActionRequest request;
  request.idempotency_key = "run/step";
  request.arguments = {{"database", "app"}, {"sql", "SELECT :x AS x"}, {"params", {{"x", 7}}}};
  StatusOr<Json> out = db->Execute(request);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["rows"][0]["x"], 7);

  request.arguments = {{"to", "ada@example.com"}, {"subject", "hi"}, {"text", "x"}};
  ASSERT_TRUE(registry.Find("email")->Execute(request).ok());
  EXPECT_EQ(outbox.List(10)->size(), 1u);

  server->Script("/", {testing::HttpReply{200, "ok"}});
  request.arguments = {{"url", server->Url("/")}};
  ASSERT_TRUE(registry.Find("http")->Execute(request).ok());

  ActionRegistry again;
  ASSERT_TRUE(RegisterBuiltinActions(again, config, env).ok());
  EXPECT_EQ(RegisterBuiltinActions(again, config, env).code(), StatusCode::kAlreadyExists);
}

// The compiler takes the actions' step keys from schemas/flow.schema.json (flow/step_kinds.h):
// an action registered without its schema entry, or declared in the schema without being
// registered, fails here.
TEST(BuiltinActionsTest, TheRegistryHoldsTheActionsTheFlowSchemaDeclares) {
  Config config = Config::Defaults(testing::MakeTempDir());
  testing::InMemoryEmailOutbox outbox;
  BuiltinActionEnvironment env;
  env.outbox = &outbox;
  ActionRegistry registry;
  ASSERT_TRUE(RegisterBuiltinActions(registry, config, env).ok());
  std::vector<std::string> declared = SchemaActionNames();
  std::sort(declared.begin(), declared.end());
  EXPECT_EQ(registry.Names(), declared);
}

TEST(BuiltinActionsTest, ConfigLimitsReachTheHttpAction) {
  Config config = Config::Defaults("/tmp");
  config.http.deny_hosts = {"127.0.0.1"};
  testing::InMemoryEmailOutbox outbox;
  BuiltinActionEnvironment env;
  env.outbox = &outbox;
  ActionRegistry registry;
  ASSERT_TRUE(RegisterBuiltinActions(registry, config, env).ok());
  EXPECT_EQ(registry.Find("http")->CheckArguments({{"url", "http://127.0.0.1/"}}).code(),
            StatusCode::kPermissionDenied);
}

TEST(BuiltinActionsTest, MissingSmtpSecretIsAClearError) {
  Config config = Config::Defaults("/tmp");
  config.smtp = SmtpConfig{"smtp://mail.example.com:587", "ops@example.com", StartTls::kRequired,
                           "mailer", "${{ secrets.SMTP_PASSWORD }}"};
  Secrets secrets(std::map<std::string, std::string>{{"OTHER", "value"}});
  BuiltinActionEnvironment env;
  env.secrets = &secrets;
  ActionRegistry registry;
  Status status = RegisterBuiltinActions(registry, config, env);
  EXPECT_EQ(status.code(), StatusCode::kNotFound);
  EXPECT_EQ(status.message(),
            "smtp.password: secret \"SMTP_PASSWORD\" is not set (configured secrets: OTHER)");
}

TEST(BuiltinActionsTest, EmailNeedsSmtpOrAnOutbox) {
  ActionRegistry registry;
  Status status = RegisterBuiltinActions(registry, Config::Defaults("/tmp"), {});
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace flowrun
