#include "actions/http/http_action.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "testing/free_port.h"
#include "testing/loopback_http_server.h"
#include "testing/paths.h"
#include "testing/test_certificates.h"

namespace flowrun {
namespace {

using testing::HttpReply;
using testing::LoopbackHttpServer;
using namespace std::chrono_literals;

ActionRequest Request(Json arguments, int attempt = 1) {
  ActionRequest request;
  request.run_id = "run-1";
  request.step_key = "get-user";
  request.idempotency_key = "run-1/get-user";
  request.attempt = attempt;
  request.arguments = std::move(arguments);
  return request;
}

class HttpActionTest : public ::testing::Test {
 protected:
  void SetUp() override { server_ = LoopbackHttpServer::Start(); }

  HttpAction MakeAction(HttpActionOptions options = {}) { return HttpAction(std::move(options)); }

  std::unique_ptr<LoopbackHttpServer> server_;
};

TEST_F(HttpActionTest, GetParsesJsonAndSendsIdempotencyKey) {
  server_->Script(
      "/users/42",
      {HttpReply{
          200, R"({"email":"ada@example.com","n":1})", "application/json", {{"X-Trace", "t1"}}}});
  HttpAction action({});
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url("/users/42")}}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["status"], 200);
  EXPECT_EQ((*out)["body"]["email"], "ada@example.com");
  EXPECT_EQ((*out)["headers"]["x-trace"], "t1");
  auto requests = server_->Requests("/users/42");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].method, "GET");
  EXPECT_EQ(requests[0].Header("idempotency-key"), "run-1/get-user");
}

TEST_F(HttpActionTest, FlowsOwnIdempotencyKeyWins) {
  server_->Script("/x", {HttpReply{200, "ok"}});
  HttpAction action({});
  ASSERT_TRUE(action
                  .Execute(Request(
                      {{"url", server_->Url("/x")}, {"headers", {{"idempotency-key", "order-7"}}}}))
                  .ok());
  auto requests = server_->Requests("/x");
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].headers.count("idempotency-key"), 1u);
  EXPECT_EQ(requests[0].Header("idempotency-key"), "order-7");
}

TEST_F(HttpActionTest, PostJsonFormBodyAndQuery) {
  server_->Handle("/echo", [](const testing::RecordedRequest& r) {
    Json echo = {{"method", r.method},
                 {"query", r.query},
                 {"type", r.Header("content-type")},
                 {"body", r.body}};
    return HttpReply{201, echo.dump(), "application/json"};
  });
  HttpAction action({});
  StatusOr<Json> json = action.Execute(Request({{"method", "post"},
                                                {"url", server_->Url("/echo?fixed=1")},
                                                {"query", {{"q", "a b&c=d"}, {"tag", {"x", "y"}}}},
                                                {"json", {{"name", "Ada"}, {"n", 3}}}}));
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  EXPECT_EQ((*json)["status"], 201);
  EXPECT_EQ((*json)["body"]["method"], "POST");
  EXPECT_EQ((*json)["body"]["query"], "fixed=1&q=a%20b%26c%3Dd&tag=x&tag=y");
  EXPECT_EQ((*json)["body"]["type"], "application/json");
  EXPECT_EQ(Json::parse((*json)["body"]["body"].get<std::string>()),
            Json({{"name", "Ada"}, {"n", 3}}));

  StatusOr<Json> form = action.Execute(Request(
      {{"method", "PUT"}, {"url", server_->Url("/echo")}, {"form", {{"a", "1 2"}, {"b", "é"}}}}));
  ASSERT_TRUE(form.ok());
  EXPECT_EQ((*form)["body"]["type"], "application/x-www-form-urlencoded");
  EXPECT_EQ((*form)["body"]["body"], "a=1%202&b=%C3%A9");

  StatusOr<Json> body = action.Execute(Request({{"method", "PATCH"},
                                                {"url", server_->Url("/echo")},
                                                {"headers", {{"Content-Type", "text/csv"}}},
                                                {"body", "a,b\n1,2\n"}}));
  ASSERT_TRUE(body.ok());
  EXPECT_EQ((*body)["body"]["type"], "text/csv");
  EXPECT_EQ((*body)["body"]["body"], "a,b\n1,2\n");
}

TEST_F(HttpActionTest, ServiceUnavailableThenOkIsRetryableThenSucceeds) {
  server_->Script("/flaky",
                  {HttpReply{503, "busy"}, HttpReply{200, "{\"ok\":true}", "application/json"}});
  HttpAction action({});
  StatusOr<Json> first = action.Execute(Request({{"url", server_->Url("/flaky")}}, 1));
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kUnavailable);
  EXPECT_TRUE(first.status().IsRetryable());
  EXPECT_NE(first.status().message().find("503"), std::string::npos);
  StatusOr<Json> second = action.Execute(Request({{"url", server_->Url("/flaky")}}, 2));
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ((*second)["body"]["ok"], true);
  auto requests = server_->Requests("/flaky");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("idempotency-key"), requests[1].Header("idempotency-key"));
}

TEST_F(HttpActionTest, TooManyRequestsHonoursRetryAfterSeconds) {
  server_->Script("/limited", {HttpReply{429, "slow down", "text/plain", {{"Retry-After", "7"}}}});
  HttpAction action({});
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url("/limited")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(out.status().IsRetryable());
  EXPECT_EQ(out.status().retry_after_ms(), 7000);
}

TEST(RetryAfterTest, SecondsAndHttpDates) {
  TimePoint now = *ParseTimestamp("2015-10-21T07:28:00Z");
  EXPECT_EQ(ParseRetryAfter("120", now), 120000);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:30 GMT", now), 30000);
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now), 0);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
}

TEST_F(HttpActionTest, ServiceUnavailableWithRetryAfterDate) {
  class FixedClock final : public Clock {
   public:
    TimePoint Now() const override { return *ParseTimestamp("2015-10-21T07:28:00Z"); }
  } clock;
  server_->Script(
      "/maint",
      {HttpReply{503, "", "text/plain", {{"Retry-After", "Wed, 21 Oct 2015 07:29:00 GMT"}}}});
  HttpActionOptions options;
  options.clock = &clock;
  HttpAction action(options);
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url("/maint")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().retry_after_ms(), 60000);
}

TEST_F(HttpActionTest, ClientErrorsAreNotRetried) {
  server_->Script("/missing", {HttpReply{404, "{\"error\":\"no such user\"}", "application/json"}});
  HttpAction action({});
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url("/missing")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_FALSE(out.status().IsRetryable());
  EXPECT_NE(out.status().message().find("unexpected status 404"), std::string::npos);
  EXPECT_NE(out.status().message().find("no such user"), std::string::npos);
}

TEST_F(HttpActionTest, ExpectAcceptsListedStatuses) {
  server_->Script("/gone", {HttpReply{404, "gone"}});
  HttpAction action({});
  StatusOr<Json> out =
      action.Execute(Request({{"url", server_->Url("/gone")}, {"expect", {200, "4xx"}}}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["status"], 404);
  EXPECT_EQ((*out)["body"], "gone");
  StatusOr<Json> strict =
      action.Execute(Request({{"url", server_->Url("/gone")}, {"expect", 410}}));
  EXPECT_FALSE(strict.ok());
}

TEST_F(HttpActionTest, SlowResponseHitsTheTimeout) {
  server_->Script("/slow", {HttpReply{200, "late", "text/plain", {}, 700ms}});
  HttpAction action({});
  auto started = std::chrono::steady_clock::now();
  StatusOr<Json> out =
      action.Execute(Request({{"url", server_->Url("/slow")}, {"timeout", "200ms"}}));
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded) << out.status().ToString();
  EXPECT_TRUE(out.status().IsRetryable());
  EXPECT_NE(out.status().message().find("no response within 200ms"), std::string::npos)
      << out.status().message();
  EXPECT_LT(elapsed, 650ms);
}

TEST_F(HttpActionTest, StepDeadlineCapsTheTimeout) {
  server_->Script("/slow", {HttpReply{200, "late", "text/plain", {}, 700ms}});
  HttpAction action({});
  ActionRequest request = Request({{"url", server_->Url("/slow")}});
  request.deadline = SystemClock().Now() + 150ms;
  StatusOr<Json> out = action.Execute(request);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded);
  request.deadline = SystemClock().Now() - 1ms;
  EXPECT_EQ(action.Execute(request).status().code(), StatusCode::kDeadlineExceeded);
}

TEST_F(HttpActionTest, OversizedBodyIsAClearError) {
  server_->Script("/big", {HttpReply{200, std::string(300 * 1024, 'x')}});
  HttpActionOptions options;
  options.limits.max_response_bytes = 100 * 1024;
  HttpAction action(options);
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url("/big")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(out.status().message().find("larger than the limit of 102400 bytes"), std::string::npos)
      << out.status().message();
  // Exactly at the limit is fine.
  server_->Script("/fits", {HttpReply{200, std::string(100 * 1024, 'y')}});
  StatusOr<Json> fits = action.Execute(Request({{"url", server_->Url("/fits")}}));
  ASSERT_TRUE(fits.ok()) << fits.status().ToString();
  EXPECT_EQ((*fits)["body"].get<std::string>().size(), 100u * 1024);
}

TEST_F(HttpActionTest, FollowsRedirectsAndSwitchesToGetAfter303) {
  server_->Script("/start", {HttpReply{302, "", "text/plain", {{"Location", "/middle"}}}});
  server_->Script("/middle",
                  {HttpReply{303, "", "text/plain", {{"Location", server_->Url("/end")}}}});
  server_->Script("/end", {HttpReply{200, "arrived"}});
  HttpAction action({});
  StatusOr<Json> out = action.Execute(
      Request({{"method", "POST"}, {"url", server_->Url("/start")}, {"json", {{"a", 1}}}}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["body"], "arrived");
  auto end = server_->Requests("/end");
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].method, "GET");
  EXPECT_EQ(end[0].body, "");
}

TEST_F(HttpActionTest, TemporaryRedirectKeepsMethodAndBody) {
  server_->Script("/old", {HttpReply{307, "", "text/plain", {{"Location", "new"}}}});
  server_->Handle("/new", [](const testing::RecordedRequest& r) {
    return HttpReply{200, r.method + " " + r.body};
  });
  HttpAction action({});
  StatusOr<Json> out =
      action.Execute(Request({{"method", "POST"}, {"url", server_->Url("/old")}, {"body", "x=1"}}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["body"], "POST x=1");
}

TEST_F(HttpActionTest, RedirectLoopStopsAtTheBound) {
  server_->Script("/a", {HttpReply{302, "", "text/plain", {{"Location", "/b"}}}});
  server_->Script("/b", {HttpReply{302, "", "text/plain", {{"Location", "/a"}}}});
  HttpActionOptions options;
  options.max_redirects = 4;
  HttpAction action(options);
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url("/a")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(out.status().message().find("more than 4 redirects"), std::string::npos);
  EXPECT_EQ(server_->Requests().size(), 5u);
}

TEST_F(HttpActionTest, RedirectToDeniedHostIsRefused) {
  server_->Script(
      "/out",
      {HttpReply{
          302, "", "text/plain", {{"Location", "http://169.254.169.254/latest/meta-data"}}}});
  HttpActionOptions options;
  options.limits.deny_hosts = {"169.254.169.254"};
  HttpAction action(options);
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url("/out")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(out.status().message().find("169.254.169.254"), std::string::npos);
}

TEST_F(HttpActionTest, KeepAliveReusesTheConnection) {
  server_->Script("/ping", {HttpReply{200, "pong"}});
  HttpAction action({});
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(action.Execute(Request({{"url", server_->Url("/ping")}})).ok());
  auto requests = server_->Requests("/ping");
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].client_port, requests[1].client_port);
  EXPECT_EQ(requests[1].client_port, requests[2].client_port);

  HttpActionOptions no_keep_alive;
  no_keep_alive.keep_alive = false;
  HttpAction fresh(no_keep_alive);
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(fresh.Execute(Request({{"url", server_->Url("/ping")}})).ok());
  requests = server_->Requests("/ping");
  EXPECT_NE(requests[3].client_port, requests[4].client_port);
}

TEST_F(HttpActionTest, BadInputIsRefusedBeforeAnythingIsSent) {
  HttpAction action({});
  struct Case {
    Json args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{{"url", server_->Url("/x")}, {"headers", {{"X-Evil", "a\r\nInjected: 1"}}}}, "CR, LF"},
      {{{"url", server_->Url("/x")}, {"headers", {{"X-Evil\nInjected", "a"}}}}, "header name"},
      {{{"url", "file:///etc/passwd"}}, "only http and https"},
      {{{"url", "ftp://127.0.0.1/"}}, "only http and https"},
      {{{"url", "gopher://127.0.0.1:70/"}}, "only http and https"},
      {{{"url", "127.0.0.1/x"}}, "not absolute"},
      {{{"url", "http://user:pw@127.0.0.1/"}}, "credentials"},
      {{{"url", server_->Url("/x")}, {"json", 1}, {"body", "x"}}, "at most one"},
      {{{"url", server_->Url("/x")}, {"method", "TRACE"}}, "TRACE"},
      {{{"url", server_->Url("/x")}, {"timeout", "soon"}}, "duration"},
      {{{"url", server_->Url("/x")}, {"expect", {"2yy"}}}, "expect"},
  };
  for (const Case& c : cases) {
    StatusOr<Json> out = action.Execute(Request(c.args));
    ASSERT_FALSE(out.ok()) << c.args.dump();
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << c.args.dump();
    EXPECT_NE(out.status().message().find(c.message), std::string::npos) << out.status().message();
    EXPECT_FALSE(action.CheckArguments(c.args).ok()) << c.args.dump();
  }
  EXPECT_TRUE(server_->Requests().empty());
}

TEST_F(HttpActionTest, CrLfInUrlIsPercentEncodedNeverRaw) {
  const std::string path = "/a b\r\nX-Injected: 1";
  server_->Handle(path, [](const testing::RecordedRequest& r) { return HttpReply{200, r.path}; });
  HttpAction action({});
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url(path)}}));
  auto requests = server_->Requests();
  ASSERT_EQ(requests.size(), 1u);
  ASSERT_TRUE(out.ok()) << out.status().ToString() << " path=" << Json(requests[0].path).dump();
  // The server decoded %0D%0A back into the path: it travelled inside the request line.
  EXPECT_EQ(requests[0].path, path);
  EXPECT_EQ(requests[0].headers.count("x-injected"), 0u);
}

TEST_F(HttpActionTest, ConcurrentCallsShareBoundedConnectionsPerHost) {
  std::atomic<int> serving{0};
  std::atomic<int> most_serving{0};
  server_->Handle("/c", [&](const testing::RecordedRequest&) {
    int now = ++serving;
    int seen = most_serving.load();
    while (now > seen && !most_serving.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(20ms);
    --serving;
    return HttpReply{200, "{\"ok\":1}", "application/json"};
  });
  HttpActionOptions options;
  options.limits.max_connections_per_host = 3;
  HttpAction action(options);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (action.Execute(Request({{"url", server_->Url("/c")}})).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 60);
  EXPECT_EQ(server_->Requests("/c").size(), 60u);
  // Six callers at once, at most three connections: the others wait for one.
  EXPECT_LE(most_serving.load(), 3);
  EXPECT_GE(most_serving.load(), 2);
}

TEST_F(HttpActionTest, AllowAndDenyHosts) {
  HttpConfig limits;
  limits.allow_hosts = {"api.example.com", "*.stripe.com"};
  limits.deny_hosts = {"evil.stripe.com"};
  EXPECT_TRUE(HttpHostAllowed(limits, "api.example.com"));
  EXPECT_TRUE(HttpHostAllowed(limits, "API.Example.com"));
  EXPECT_TRUE(HttpHostAllowed(limits, "api.stripe.com"));
  EXPECT_FALSE(HttpHostAllowed(limits, "stripe.com"));
  EXPECT_FALSE(HttpHostAllowed(limits, "evil.stripe.com"));
  EXPECT_FALSE(HttpHostAllowed(limits, "example.com"));

  HttpActionOptions options;
  options.limits.allow_hosts = {"api.example.com"};
  HttpAction action(options);
  StatusOr<Json> out = action.Execute(Request({{"url", server_->Url("/x")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kPermissionDenied);
  Status check = action.CheckArguments({{"url", "http://127.0.0.1/x"}});
  EXPECT_EQ(check.code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(server_->Requests().empty());
}

TEST_F(HttpActionTest, CheckArgumentsToleratesTemplates) {
  HttpAction action({});
  EXPECT_TRUE(action
                  .CheckArguments({{"url", "https://api.example.com/users/${{ event.data.id }}"},
                                   {"headers", {{"Authorization", "Bearer ${{ secrets.KEY }}"}}},
                                   {"json", "${{ event.data }}"},
                                   {"timeout", "10s"}})
                  .ok());
  EXPECT_TRUE(action.CheckArguments({{"url", "${{ vars.url }}"}}).ok());
  EXPECT_FALSE(action.CheckArguments({{"url", "ftp://x/${{ vars.path }}"}}).ok());
  EXPECT_FALSE(action.CheckArguments({{"url", "https://x/"}, {"timeout", "ten"}}).ok());
  EXPECT_FALSE(
      action.CheckArguments({{"url", "https://x/"}, {"json", 1}, {"form", {{"a", 1}}}}).ok());
}

TEST_F(HttpActionTest, UnreachableHostIsRetryableAndClear) {
  // Bind a port, then close it, so nothing listens there.
  int closed_port;
  {
    auto probe = LoopbackHttpServer::Start();
    closed_port = probe->port();
  }
  HttpAction action({});
  StatusOr<Json> out =
      action.Execute(Request({{"url", "http://127.0.0.1:" + std::to_string(closed_port) + "/x"}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(out.status().message().find("could not connect to 127.0.0.1"), std::string::npos)
      << out.status().message();

  StatusOr<Json> dns = action.Execute(Request({{"url", "http://no-such-host.invalid/x"}}));
  ASSERT_FALSE(dns.ok());
  EXPECT_EQ(dns.status().code(), StatusCode::kUnavailable);
}

TEST_F(HttpActionTest, ErrorMessagesAreRedacted) {
  server_->Script("/secret", {HttpReply{500, "bad token sk_live_abcdef"}});
  SecretRedactor redactor(std::vector<std::string>{"sk_live_abcdef"});
  HttpActionOptions options;
  options.redactor = &redactor;
  HttpAction action(options);
  StatusOr<Json> out =
      action.Execute(Request({{"url", server_->Url("/secret?key=sk_live_abcdef")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message().find("sk_live_abcdef"), std::string::npos)
      << out.status().message();
  EXPECT_NE(out.status().message().find("***"), std::string::npos);
}

TEST(HttpActionTlsTest, VerifiesAgainstTheConfiguredCa) {
  std::string dir = testing::MakeTempDir();
  testing::TestCertificates certs = testing::GenerateTestCertificates(dir);
  auto server = LoopbackHttpServer::StartTls(certs.server_cert, certs.server_key);
  server->Script("/secure", {HttpReply{200, "{\"tls\":true}", "application/json"}});

  HttpActionOptions trusted;
  trusted.ca_file = certs.ca_cert;
  HttpAction action(trusted);
  StatusOr<Json> out = action.Execute(Request({{"url", server->LocalhostUrl("/secure")}}));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["body"]["tls"], true);
  StatusOr<Json> by_ip = action.Execute(Request({{"url", server->Url("/secure")}}));
  ASSERT_TRUE(by_ip.ok()) << by_ip.status().ToString();

  // The system bundle does not know the test CA; a different CA must not be accepted either.
  for (std::string ca : {std::string(), certs.other_ca_cert}) {
    HttpActionOptions options;
    options.ca_file = ca;
    HttpAction untrusting(options);
    StatusOr<Json> refused =
        untrusting.Execute(Request({{"url", server->LocalhostUrl("/secure")}}));
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition)
        << refused.status().ToString();
    EXPECT_NE(refused.status().message().find("certificate could not be verified"),
              std::string::npos);
  }
  EXPECT_EQ(server->Requests().size(), 2u);
}

TEST(HttpActionTlsTest, RedirectFromHttpsToHttpIsRefused) {
  std::string dir = testing::MakeTempDir();
  testing::TestCertificates certs = testing::GenerateTestCertificates(dir);
  auto tls = LoopbackHttpServer::StartTls(certs.server_cert, certs.server_key);
  auto plain = LoopbackHttpServer::Start();
  tls->Script("/down", {HttpReply{302, "", "text/plain", {{"Location", plain->Url("/x")}}}});
  HttpActionOptions options;
  options.ca_file = certs.ca_cert;
  HttpAction action(options);
  StatusOr<Json> out = action.Execute(Request({{"url", tls->LocalhostUrl("/down")}}));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("refusing a redirect from https"), std::string::npos);
  EXPECT_TRUE(plain->Requests().empty());
}

}  // namespace
}  // namespace flowrun

namespace flowrun {
namespace {

// With http_proxy set, an http:// request goes to the proxy (through libcurl), in absolute form.
TEST(HttpActionProxyTest, HttpRequestsGoThroughTheProxyNamedByHttpProxy) {
  int port = 0;
  int listener = testing::ListenOnLoopback(4, &port);
  ASSERT_GE(listener, 0);
  std::string request_line;
  std::thread proxy([&] {
    int fd = accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    std::string received;
    char chunk[4096];
    while (received.find("\r\n\r\n") == std::string::npos) {
      ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      received.append(chunk, static_cast<size_t>(n));
    }
    request_line = received.substr(0, received.find("\r\n"));
    const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nvia proxy";
    send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
    close(fd);
  });
  setenv("http_proxy", ("http://127.0.0.1:" + std::to_string(port)).c_str(), 1);
  StatusOr<Json> out = InternalError("not run");
  {
    HttpAction action({});
    out = action.Execute(Request({{"url", "http://api.example.invalid/users/1"}}));
  }
  unsetenv("http_proxy");
  proxy.join();
  close(listener);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)["body"], "via proxy");
  EXPECT_EQ(request_line, "GET http://api.example.invalid/users/1 HTTP/1.1");
}

}  // namespace
}  // namespace flowrun
