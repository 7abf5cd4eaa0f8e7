#include "config/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "testing/paths.h"

namespace flowrun {
namespace {

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& text) {
  std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ConfigTest, DefaultsWithoutFile) {
  Config config = Config::Defaults("/srv/app");
  EXPECT_EQ(config.listen, "127.0.0.1:8288");
  EXPECT_EQ(config.store, "sqlite:/srv/app/flowrun.db");
  EXPECT_EQ(config.flows, "/srv/app/flows");
  EXPECT_FALSE(config.smtp.has_value());
  EXPECT_EQ(config.http.timeout, std::chrono::seconds(30));
  EXPECT_EQ(config.http.connect_timeout, std::chrono::seconds(10));
  EXPECT_EQ(config.http.max_response_bytes, 10 * 1024 * 1024);
  EXPECT_EQ(config.http.max_connections_per_host, 256);
  EXPECT_EQ(config.http.max_connections, 10000);
  EXPECT_EQ(config.retention.runs, std::chrono::hours(24 * 30));
  EXPECT_TRUE(config.watch_flows);
  EXPECT_EQ(config.workers, Config::DefaultWorkers());
  EXPECT_EQ(Config::DefaultWorkers() % 3, 0);  // three per core
  EXPECT_GE(Config::DefaultWorkers(), 3);
}

TEST(ConfigTest, LoadsEverySettingAndResolvesPathsAgainstTheFile) {
  std::string dir = testing::MakeTempDir();
  std::string path = WriteFile(dir, "flowrun.yaml", R"(
listen: 0.0.0.0:9000
store: sqlite:data/runs.db
flows: my-flows
databases:
  app: sqlite:app.db
  abs: sqlite:/var/lib/crm.db
  mem: "sqlite::memory:"
  crm: postgres://user@db.internal/crm
smtp:
  url: smtp://mail.example.com:587
  from: Ops <ops@example.com>
  starttls: required
  username: mailer
  password: ${{ secrets.SMTP_PASSWORD }}
  max_sessions: 4
http:
  timeout: 5s
  connect_timeout: 500ms
  max_response_bytes: 1024
  allow_hosts: [api.example.com, "*.stripe.com"]
  deny_hosts: [metadata.google.internal]
  max_connections_per_host: 32
  max_connections: 2000
event_keys: [key-1]
api_tokens: [token-1, token-2]
webhooks:
  stripe:
    scheme: stripe
    secret: ${{ secrets.STRIPE_WEBHOOK }}
    tolerance: 10m
    transform: {name: stripe/event, data: "${{ body }}", id: body.id}
secrets:
  env: [CLERK_KEY]
  file: secrets.yaml
retention: 7d
max_event_bytes: 2048
workers: 3
watch_flows: false
)");
  StatusOr<Config> config = ReadConfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->path, path);
  EXPECT_EQ(config->listen, "0.0.0.0:9000");
  EXPECT_EQ(config->store, "sqlite:" + dir + "/data/runs.db");
  EXPECT_EQ(config->flows, dir + "/my-flows");
  EXPECT_EQ(config->databases.at("app"), "sqlite:" + dir + "/app.db");
  EXPECT_EQ(config->databases.at("abs"), "sqlite:/var/lib/crm.db");
  EXPECT_EQ(config->databases.at("mem"), "sqlite::memory:");
  EXPECT_EQ(config->databases.at("crm"), "postgres://user@db.internal/crm");
  ASSERT_TRUE(config->smtp.has_value());
  EXPECT_EQ(config->smtp->url, "smtp://mail.example.com:587");
  EXPECT_EQ(config->smtp->from, "Ops <ops@example.com>");
  EXPECT_EQ(config->smtp->starttls, StartTls::kRequired);
  EXPECT_EQ(config->smtp->username, "mailer");
  EXPECT_EQ(config->smtp->password, "${{ secrets.SMTP_PASSWORD }}");
  EXPECT_EQ(config->http.timeout, std::chrono::seconds(5));
  EXPECT_EQ(config->http.connect_timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(config->http.max_response_bytes, 1024);
  EXPECT_EQ(config->http.max_connections_per_host, 32);
  EXPECT_EQ(config->http.max_connections, 2000);
  EXPECT_EQ(config->smtp->max_sessions, 4);
  EXPECT_EQ(config->http.allow_hosts,
            (std::vector<std::string>{"api.example.com", "*.stripe.com"}));
  EXPECT_EQ(config->http.deny_hosts, (std::vector<std::string>{"metadata.google.internal"}));
  EXPECT_EQ(config->event_keys, (std::vector<std::string>{"key-1"}));
  EXPECT_EQ(config->api_tokens.size(), 2u);
  const WebhookConfig& hook = config->webhooks.at("stripe");
  EXPECT_EQ(hook.scheme, "stripe");
  EXPECT_EQ(hook.tolerance, std::chrono::minutes(10));
  EXPECT_EQ(hook.transform_name, "stripe/event");
  EXPECT_EQ(hook.transform_data, "${{ body }}");
  EXPECT_EQ(hook.transform_id, "body.id");
  EXPECT_EQ(config->secrets.env_names, (std::vector<std::string>{"CLERK_KEY"}));
  EXPECT_EQ(config->secrets.file, dir + "/secrets.yaml");
  EXPECT_EQ(config->retention.runs, std::chrono::hours(24 * 7));
  EXPECT_EQ(config->max_event_bytes, 2048);
  EXPECT_EQ(config->workers, 3);
  EXPECT_FALSE(config->watch_flows);
}

TEST(ConfigTest, EmptyFileMeansDefaults) {
  std::string dir = testing::MakeTempDir();
  StatusOr<Config> config = ReadConfigFile(WriteFile(dir, "flowrun.yaml", "# nothing yet\n"));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->store, "sqlite:" + dir + "/flowrun.db");
  EXPECT_EQ(config->http.max_response_bytes, 10 << 20);
}

TEST(ConfigTest, SecretsPrefixForm) {
  LoadedConfig loaded =
      LoadConfigText("/etc/flowrun/flowrun.yaml", "secrets: {env: FLOWRUN_SECRET_}\n");
  ASSERT_TRUE(loaded.config.has_value());
  EXPECT_EQ(loaded.config->secrets.env_prefix, "FLOWRUN_SECRET_");
  EXPECT_TRUE(loaded.config->secrets.env_names.empty());
}

TEST(ConfigTest, SchemaErrorsAreLocated) {
  LoadedConfig loaded = LoadConfigText("conf/flowrun.yaml",
                                       "listen: 127.0.0.1:8288\n"
                                       "smtp:\n"
                                       "  url: http://mail.example.com\n"
                                       "  startls: auto\n"
                                       "databases:\n"
                                       "  app: mysql://x\n");
  EXPECT_FALSE(loaded.config.has_value());
  ASSERT_GE(loaded.diagnostics.size(), 3u);
  std::vector<std::pair<int, int>> positions;
  for (const Diagnostic& d : loaded.diagnostics) {
    EXPECT_EQ(d.path, "conf/flowrun.yaml");
    positions.emplace_back(d.pos.line, d.pos.column);
  }
  EXPECT_NE(std::find(positions.begin(), positions.end(), std::make_pair(3, 8)), positions.end());
  EXPECT_NE(std::find(positions.begin(), positions.end(), std::make_pair(4, 3)), positions.end());
  EXPECT_NE(std::find(positions.begin(), positions.end(), std::make_pair(6, 8)), positions.end());
}

TEST(ConfigTest, ConnectionLimitsMustBePositive) {
  for (const char* text :
       {"http: {max_connections_per_host: 0}\n", "http: {max_connections_per_host: many}\n",
        "http: {max_connections: 0}\n", "smtp: {url: 'smtp://m:25', max_sessions: 0}\n",
        "smtp: {url: 'smtp://m:25', max_sessions: 100000}\n"}) {
    LoadedConfig loaded = LoadConfigText("flowrun.yaml", text);
    EXPECT_FALSE(loaded.config.has_value()) << text;
    EXPECT_FALSE(loaded.diagnostics.empty()) << text;
  }
}

TEST(ConfigTest, ReadConfigFileJoinsDiagnosticsAsFileLineCol) {
  std::string dir = testing::MakeTempDir();
  std::string path = WriteFile(dir, "flowrun.yaml", "http:\n  timeout: soon\n");
  StatusOr<Config> config = ReadConfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find(path + ":2:12: error:"), std::string::npos)
      << config.status().message();
}

TEST(ConfigTest, SemanticErrorsAreLocated) {
  LoadedConfig loaded = LoadConfigText("flowrun.yaml",
                                       "listen: localhost\n"
                                       "http: {timeout: 0s}\n"
                                       "secrets: {env: [GOOD, 1BAD]}\n");
  ASSERT_FALSE(loaded.config.has_value());
  ASSERT_EQ(loaded.diagnostics.size(), 3u);
  EXPECT_EQ(loaded.diagnostics[0].pos.line, 1);
  EXPECT_NE(loaded.diagnostics[0].message.find("expected host:port"), std::string::npos);
  EXPECT_EQ(loaded.diagnostics[1].pos.line, 2);
  EXPECT_EQ(loaded.diagnostics[2].pos.line, 3);
  EXPECT_NE(loaded.diagnostics[2].message.find("1BAD"), std::string::npos);
}

TEST(ConfigTest, MissingFileIsNotFound) {
  StatusOr<Config> config = ReadConfigFile("/nonexistent/flowrun.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kNotFound);
}

TEST(ConfigTest, DuplicateKeysAreErrors) {
  LoadedConfig loaded = LoadConfigText("flowrun.yaml", "listen: a:1\nlisten: b:2\n");
  EXPECT_FALSE(loaded.config.has_value());
  ASSERT_FALSE(loaded.diagnostics.empty());
  EXPECT_EQ(loaded.diagnostics[0].pos.line, 2);
}

TEST(ConfigTest, ServerLimitsHaveDefaultsAndCanBeSet) {
  ServerConfig defaults = Config::Defaults("/srv").server;
  EXPECT_EQ(defaults.header_timeout, std::chrono::seconds(10));
  EXPECT_EQ(defaults.idle_timeout, std::chrono::seconds(60));
  EXPECT_EQ(defaults.max_connections, 10000);
  EXPECT_EQ(defaults.max_connections_per_ip, 1000);

  LoadedConfig loaded = LoadConfigText("flowrun.yaml", R"(server:
  header_timeout: 5s
  idle_timeout: 2m
  min_body_bytes_per_second: 4096
  max_connections: 500
  max_connections_per_ip: 50
  max_header_bytes: 8192
  max_body_bytes: {events: 2048, webhooks: 4096, api: 1024}
  io_threads: 3
  handler_threads: 6
)");
  ASSERT_TRUE(loaded.config.has_value());
  const ServerConfig& server = loaded.config->server;
  EXPECT_EQ(server.header_timeout, std::chrono::seconds(5));
  EXPECT_EQ(server.idle_timeout, std::chrono::minutes(2));
  EXPECT_EQ(server.min_body_bytes_per_second, 4096);
  EXPECT_EQ(server.max_connections, 500);
  EXPECT_EQ(server.max_connections_per_ip, 50);
  EXPECT_EQ(server.max_header_bytes, 8192);
  EXPECT_EQ(server.max_events_body_bytes, 2048);
  EXPECT_EQ(server.max_webhooks_body_bytes, 4096);
  EXPECT_EQ(server.max_api_body_bytes, 1024);
  EXPECT_EQ(server.io_threads, 3);
  EXPECT_EQ(server.handler_threads, 6);

  for (const char* bad : {"server: {header_timeout: soon}\n", "server: {max_connections: 0}\n",
                          "server: {max_header_bytes: 10}\n", "server: {max_body_bytes: {x: 1}}\n",
                          "server: {keepalive: 5s}\n"}) {
    LoadedConfig refused = LoadConfigText("flowrun.yaml", bad);
    EXPECT_FALSE(refused.config.has_value()) << bad;
    ASSERT_FALSE(refused.diagnostics.empty()) << bad;
    EXPECT_EQ(refused.diagnostics.front().pos.line, 1) << bad;
  }
}

TEST(ConfigTest, RetentionPerKindAndStepOutputLimit) {
  LoadedConfig defaults = LoadConfigText("flowrun.yaml", "");
  ASSERT_TRUE(defaults.config.has_value());
  EXPECT_EQ(defaults.config->retention.events, std::chrono::hours(24 * 30));
  EXPECT_EQ(defaults.config->retention.outbox, std::chrono::hours(24 * 30));
  EXPECT_EQ(defaults.config->limits.max_step_output_bytes, 1 << 20);

  LoadedConfig loaded = LoadConfigText("flowrun.yaml",
                                       "retention: {runs: 7d, events: 2d, outbox: 0s}\n"
                                       "limits: {max_step_output_bytes: 4096}\n");
  ASSERT_TRUE(loaded.config.has_value());
  EXPECT_EQ(loaded.config->retention.runs, std::chrono::hours(24 * 7));
  EXPECT_EQ(loaded.config->retention.events, std::chrono::hours(48));
  EXPECT_EQ(loaded.config->retention.outbox, Duration::zero());
  EXPECT_EQ(loaded.config->limits.max_step_output_bytes, 4096);

  for (const char* text :
       {"retention: {runs: 7d, forever: 1d}\n", "retention: {events: soon}\n", "retention: 5\n",
        "limits: {max_step_output_bytes: 0}\n", "limits: {max_step_output_bytes: -1}\n"}) {
    LoadedConfig bad = LoadConfigText("flowrun.yaml", text);
    EXPECT_FALSE(bad.config.has_value()) << text;
    EXPECT_FALSE(bad.diagnostics.empty()) << text;
  }
}

}  // namespace
}  // namespace flowrun
