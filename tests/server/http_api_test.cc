// The HTTP API as a whole, over real HTTP on loopback: health and readiness, metrics, routing
// errors (404, 405), authentication of /v1, /metrics and the dashboard, error bodies, request
// metrics, listen addresses.
#include "server/http_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "testing/api_test_server.h"

namespace flowrun {
namespace {

using testing::ApiTestServer;
using testing::ApiTestServerOptions;
using testing::BodyOf;
using testing::ErrorCode;
using ::testing::HasSubstr;

constexpr const char* kToken = "token-for-tests-0123456789";

TEST(HttpApiTest, HealthAndReadiness) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  auto health = client->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(BodyOf(health)["status"], "ok");
  auto ready = client->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(BodyOf(ready)["status"], "ready");
}

TEST(HttpApiTest, ReadyzIsUnavailableOnceShutdownBegins) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  server.runtime().Shutdown(std::chrono::seconds(1));
  auto ready = server.Client()->Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503);
  EXPECT_EQ(ErrorCode(ready), "unavailable");
}

TEST(HttpApiTest, UnknownPathIs404AndWrongMethodIs405WithAllow) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  auto missing = client->Get("/v2/nothing");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(ErrorCode(missing), "not_found");
  EXPECT_EQ(missing->get_header_value("Content-Type"), "application/json");

  auto wrong = client->Delete("/v1/runs");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(ErrorCode(wrong), "method_not_allowed");
  EXPECT_EQ(wrong->get_header_value("Allow"), "GET, HEAD, OPTIONS");

  auto get_ingest = client->Get("/e/some-key");
  ASSERT_TRUE(get_ingest);
  EXPECT_EQ(get_ingest->status, 405);
  EXPECT_EQ(get_ingest->get_header_value("Allow"), "POST, OPTIONS");
}

TEST(HttpApiTest, TokensGuardV1MetricsAndDashboardButNotHealth) {
  ApiTestServerOptions options;
  options.api_tokens = {kToken, "second-token-abcdef"};
  options.dashboard_files = [](std::string_view path) -> std::optional<std::string_view> {
    if (path == "src/server/dashboard/index.html") return "<!doctype html><title>x</title>";
    return std::nullopt;
  };
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  auto anonymous = server.Client();
  for (const char* path : {"/v1/runs", "/v1/events", "/v1/flows", "/v1/outbox", "/metrics",
                           "/v1/runs/run_x", "/assets/app.js"}) {
    auto result = anonymous->Get(path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 401) << path;
    EXPECT_EQ(ErrorCode(result), "unauthenticated") << path;
    EXPECT_EQ(result->get_header_value("WWW-Authenticate"), "Bearer realm=\"flowrun\"");
  }
  auto post = anonymous->Post("/v1/runs/run_x/cancel", "", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);

  auto wrong = server.Client("not-the-token");
  auto denied = wrong->Get("/v1/runs");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  EXPECT_THAT(denied->body, ::testing::Not(HasSubstr("not-the-token")));

  httplib::Headers basic = {{"Authorization", std::string("Basic ") + kToken}};
  auto basic_result = anonymous->Get("/v1/runs", basic);
  ASSERT_TRUE(basic_result);
  EXPECT_EQ(basic_result->status, 401);

  auto prefix = server.Client(std::string(kToken).substr(0, 10));
  auto prefix_result = prefix->Get("/v1/runs");
  ASSERT_TRUE(prefix_result);
  EXPECT_EQ(prefix_result->status, 401);

  for (const char* token : {kToken, "second-token-abcdef"}) {
    auto allowed = server.Client(token)->Get("/v1/runs");
    ASSERT_TRUE(allowed);
    EXPECT_EQ(allowed->status, 200) << allowed->body;
  }
  auto metrics = server.Client(kToken)->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");

  // Health checks stay public.
  EXPECT_EQ(anonymous->Get("/healthz")->status, 200);
  EXPECT_EQ(anonymous->Get("/readyz")->status, 200);

  // The dashboard shows a login form without a token, and the page with the cookie.
  auto page = anonymous->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 401);
  EXPECT_THAT(page->body, HasSubstr("<form method=\"post\" action=\"/login\">"));
  EXPECT_THAT(page->get_header_value("Content-Security-Policy"), HasSubstr("default-src 'self'"));

  auto bad_login = anonymous->Post("/login", "token=wrong", "application/x-www-form-urlencoded");
  ASSERT_TRUE(bad_login);
  EXPECT_EQ(bad_login->status, 401);
  EXPECT_FALSE(bad_login->has_header("Set-Cookie"));

  auto login = anonymous->Post("/login", std::string("token=") + kToken,
                               "application/x-www-form-urlencoded");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->status, 303);
  std::string cookie = login->get_header_value("Set-Cookie");
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  std::string pair = cookie.substr(0, cookie.find(';'));
  auto with_cookie = anonymous->Get("/", {{"Cookie", "theme=dark; " + pair}});
  ASSERT_TRUE(with_cookie);
  EXPECT_EQ(with_cookie->status, 200);
  EXPECT_EQ(with_cookie->body, "<!doctype html><title>x</title>");
  auto api_with_cookie = anonymous->Get("/v1/flows", {{"Cookie", pair}});
  ASSERT_TRUE(api_with_cookie);
  EXPECT_EQ(api_with_cookie->status, 200);
}

TEST(HttpApiTest, WithoutTokensEverythingIsOpen) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  EXPECT_EQ(client->Get("/v1/runs")->status, 200);
  EXPECT_EQ(client->Get("/metrics")->status, 200);
}

TEST(HttpApiTest, DashboardAssetsHaveContentTypesAndCsp) {
  ApiTestServerOptions options;
  options.dashboard_files = [](std::string_view path) -> std::optional<std::string_view> {
    if (path == "src/server/dashboard/index.html") return "<html></html>";
    if (path == "src/server/dashboard/assets/app.js") return "console.log(1)";
    if (path == "src/server/dashboard/assets/app.css") return "body{}";
    return std::nullopt;
  };
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  struct Case {
    const char* path;
    const char* type;
  };
  for (const Case& c :
       {Case{"/", "text/html; charset=utf-8"}, Case{"/index.html", "text/html; charset=utf-8"},
        Case{"/assets/app.js", "text/javascript; charset=utf-8"},
        Case{"/assets/app.css", "text/css; charset=utf-8"}}) {
    auto result = client->Get(c.path);
    ASSERT_TRUE(result) << c.path;
    EXPECT_EQ(result->status, 200) << c.path;
    EXPECT_EQ(result->get_header_value("Content-Type"), c.type) << c.path;
    std::string csp = result->get_header_value("Content-Security-Policy");
    EXPECT_THAT(csp, HasSubstr("default-src 'self'"));
    EXPECT_THAT(csp, ::testing::Not(HasSubstr("http")));
    EXPECT_EQ(result->get_header_value("X-Content-Type-Options"), "nosniff");
  }
  for (const char* path : {"/assets/missing.js", "/assets/../CMakeLists.txt", "/assets/a//b.js"}) {
    auto result = client->Get(path);
    ASSERT_TRUE(result) << path;
    EXPECT_EQ(result->status, 404) << path;
  }
}

TEST(HttpApiTest, HttpRequestsAreCountedByRouteAndCode) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto client = server.Client();
  client->Get("/healthz");
  client->Get("/v1/runs/run_missing");
  client->Get("/nowhere");
  // A request is counted after its response has been written, so the last one may land a moment
  // after the client saw it: poll briefly.
  auto metrics = client->Get("/metrics");
  for (int i = 0;
       i < 100 && metrics && metrics->body.find("route=\"unmatched\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = client->Get("/metrics");
  }
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body,
              HasSubstr("flowrun_http_requests_total{route=\"GET /healthz\",code=\"200\"} 1"));
  EXPECT_THAT(metrics->body,
              HasSubstr("flowrun_http_requests_total{route=\"GET /v1/runs/{id}\",code=\"404\"} 1"));
  EXPECT_THAT(metrics->body,
              HasSubstr("flowrun_http_requests_total{route=\"unmatched\",code=\"404\"} 1"));
}

TEST(HttpApiTest, ListenOnABusyPortFailsClearly) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto api = HttpApi::Create(server.runtime(), Config::Defaults(server.dir()));
  ASSERT_TRUE(api.ok());
  Status status = (*api)->Listen("127.0.0.1", server.port());
  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  (*api)->Stop();
}

// The defaults with one stripe webhook, "pay", whose secret is `secret`.
Config WithStripeWebhook(const ApiTestServer& server, const std::string& secret) {
  Config config = Config::Defaults(server.dir());
  WebhookConfig webhook;
  webhook.scheme = "stripe";
  webhook.secret = secret;
  config.webhooks["pay"] = webhook;
  return config;
}

TEST(HttpApiTest, BadWebhookConfigIsRefusedAtCreate) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  auto api =
      HttpApi::Create(server.runtime(), WithStripeWebhook(server, "${{ env.NOT_A_SECRET }}"));
  ASSERT_FALSE(api.ok());
  EXPECT_THAT(api.status().message(), HasSubstr("webhook \"pay\""));
}

// An unset secret holds back that webhook only (webhook_routes_test checks its 503).
TEST(HttpApiTest, AWebhookWhoseSecretIsNotSetDoesNotStopTheService) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  EXPECT_TRUE(
      HttpApi::Create(server.runtime(), WithStripeWebhook(server, "${{ secrets.MISSING }}")).ok());
}

TEST(ListenAddressTest, ParsesHostsAndPorts) {
  auto v4 = ParseListenAddress("127.0.0.1:8288");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->first, "127.0.0.1");
  EXPECT_EQ(v4->second, 8288);
  auto v6 = ParseListenAddress("[::1]:9000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->first, "::1");
  auto any = ParseListenAddress(":80");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->first, "0.0.0.0");
  for (const char* bad : {"localhost", "host:99999", "host:x", "::1:80", "[::1]80"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("127.example.com"));
}

}  // namespace
}  // namespace flowrun
