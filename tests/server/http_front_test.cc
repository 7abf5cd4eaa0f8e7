// The HTTP front against hostile and careless clients, over raw loopback sockets to the real
// server (HttpApi on HttpServer): idle and slow clients, slow bodies, pipelining, early 413,
// 431, Host, HEAD and OPTIONS, NUL bytes, connection limits, and shutdown with 1,000 connections
// open. Every wait is bounded by a deadline.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/http_server.h"
#include "testing/api_test_server.h"

namespace flowrun {
namespace {

using testing::ApiTestServer;
using testing::ApiTestServerOptions;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

constexpr auto kPatience = std::chrono::seconds(10);

// A raw TCP client on loopback.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;
  ~RawClient() {
    if (fd_ >= 0) close(fd_);
  }

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one whole response (headers and a Content-Length body; no body for HEAD when
  // `head`), or returns "" at the deadline or on EOF before it is whole.
  std::string ReadResponse(bool head = false, Clock::duration patience = kPatience) {
    const auto deadline = Clock::now() + patience;
    while (true) {
      size_t end = pending_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        std::string headers = pending_.substr(0, end);
        size_t at = Lowered(headers).find("\r\ncontent-length:");
        if (at != std::string::npos && !head) length = std::stoul(headers.substr(at + 17));
        if (pending_.size() >= end + 4 + length) {
          std::string response = pending_.substr(0, end + 4 + length);
          pending_.erase(0, end + 4 + length);
          return response;
        }
      }
      if (!ReadSome(deadline)) return "";
    }
  }

  // True when the server closes the connection before the deadline (what it sends first is
  // kept in pending()).
  bool WaitClosed(Clock::duration patience = kPatience) {
    const auto deadline = Clock::now() + patience;
    while (ReadSome(deadline)) {
    }
    return closed_;
  }

  const std::string& pending() const { return pending_; }
  // Whether the connection ended with a reset rather than an orderly close.
  bool reset() const { return reset_; }

 private:
  static std::string Lowered(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
  }

  // Reads what arrives before the deadline; false at the deadline or when closed.
  bool ReadSome(Clock::time_point deadline) {
    if (closed_) return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buffer[16384];
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      closed_ = true;
      reset_ = n < 0 && errno == ECONNRESET;
      return false;
    }
    pending_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  bool reset_ = false;
  std::string pending_;
};

std::string Get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra) +
         "\r\n";
}

std::string Post(std::string_view path, std::string_view body, std::string_view extra = "") {
  return "POST " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\nContent-Type: " +
         "application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(body);
}

std::string BodyOf(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

// Fast timeouts, so that the tests that wait for them stay short.
ServerConfig QuickLimits() {
  ServerConfig limits;
  limits.header_timeout = std::chrono::seconds(1);
  limits.idle_timeout = std::chrono::seconds(2);
  limits.min_body_bytes_per_second = 1000;
  return limits;
}

ApiTestServerOptions QuickOptions() {
  ApiTestServerOptions options;
  options.server = QuickLimits();
  return options;
}

// Times GET /healthz on a new connection.
Clock::duration TimeHealthz(int port) {
  auto start = Clock::now();
  RawClient client(port);
  EXPECT_TRUE(client.Send(Get("/healthz")));
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 200"));
  return Clock::now() - start;
}

TEST(HttpFrontTest, IdleAndHalfSentConnectionsDoNotDelayOthers) {
  ApiTestServerOptions options;  // the default timeouts: nobody is closed during the test
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 300; ++i) {
    idle.push_back(std::make_unique<RawClient>(server.port()));
    ASSERT_TRUE(idle.back()->connected());
    if (i % 2 == 0) idle.back()->Send("GET /healthz HTTP/1.1\r\nHo");  // never finished
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_LT(TimeHealthz(server.port()), std::chrono::seconds(1));
  }
  RawClient sender(server.port());
  sender.Send(Post("/e/key", R"({"name":"test/hello","data":{"name":"x"}})"));
  EXPECT_THAT(sender.ReadResponse(), StartsWith("HTTP/1.1 200"));
}

TEST(HttpFrontTest, ASilentConnectionIsClosedAfterTheHeaderTimeout) {
  ApiTestServer server(QuickOptions());
  ASSERT_TRUE(server.ok());
  RawClient silent(server.port());
  auto start = Clock::now();
  EXPECT_TRUE(silent.WaitClosed());
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(900));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(4));
}

TEST(HttpFrontTest, AKeptAliveConnectionIsClosedAfterTheIdleTimeout) {
  ApiTestServer server(QuickOptions());
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  client.Send(Get("/healthz"));
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 200"));
  auto start = Clock::now();
  EXPECT_TRUE(client.WaitClosed());
  // The idle timeout (2 s), not the header timeout (1 s), applies between requests.
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(1800));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
}

TEST(HttpFrontTest, SlowlorisHeadersAreCutOffAtTheHeaderTimeout) {
  ApiTestServer server(QuickOptions());
  ASSERT_TRUE(server.ok());
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 50; ++i) slow.push_back(std::make_unique<RawClient>(server.port()));
  const std::string request = Get("/healthz", "X-Padding: " + std::string(200, 'a') + "\r\n");
  auto start = Clock::now();
  size_t sent = 0;
  bool all_closed = false;
  // One byte a client every 100 ms: the headers would take 25 s to arrive.
  while (Clock::now() - start < std::chrono::seconds(5) && sent < request.size()) {
    all_closed = true;
    for (auto& client : slow) all_closed &= !client->Send(request.substr(sent, 1));
    if (all_closed) break;
    ++sent;
    EXPECT_LT(TimeHealthz(server.port()), std::chrono::seconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& client : slow) {
    EXPECT_TRUE(client->WaitClosed(std::chrono::seconds(3)));
    EXPECT_THAT(client->pending(), Not(HasSubstr("200 OK")));
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(6));
}

TEST(HttpFrontTest, ASlowBodyIsCutOffBelowTheMinimumRate) {
  ApiTestServer server(QuickOptions());
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  // 2,000 bytes at 1,000 B/s at least, after 1 s of grace: 3 s to send them all.
  client.Send("POST /e/key HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n");
  auto start = Clock::now();
  bool closed = false;
  while (Clock::now() - start < std::chrono::seconds(8)) {
    if (!client.Send("{")) {
      closed = true;
      break;
    }
    if (client.WaitClosed(std::chrono::milliseconds(100))) {
      closed = true;
      break;
    }
  }
  EXPECT_TRUE(closed);
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(2500));
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(6));
}

TEST(HttpFrontTest, PipelinedRequestsAreAnsweredInOrder) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  client.Send(Get("/healthz") + Post("/e/key", R"({"name":"test/hello","id":"p1"})") +
              Get("/readyz") + "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n" +
              Get("/v1/events?limit=5") + Post("/e/key", R"({"name":""})"));
  std::string health = client.ReadResponse();
  std::string ingest = client.ReadResponse();
  std::string ready = client.ReadResponse();
  std::string head = client.ReadResponse(/*head=*/true);
  std::string events = client.ReadResponse();
  std::string bad = client.ReadResponse();
  EXPECT_THAT(BodyOf(health), HasSubstr(R"("status":"ok")"));
  EXPECT_THAT(BodyOf(ingest), HasSubstr(R"("ids":["evt_)"));
  EXPECT_THAT(BodyOf(ready), HasSubstr(R"("status":"ready")"));
  EXPECT_THAT(head, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(head, HasSubstr("Content-Length: 15\r\n"));
  EXPECT_EQ(BodyOf(head), "");
  EXPECT_THAT(BodyOf(events), HasSubstr(R"("events":[)"));
  EXPECT_THAT(bad, StartsWith("HTTP/1.1 400"));
}

TEST(HttpFrontTest, ChunkedBodiesAreReadWhetherTheyArriveWholeOrInPieces) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  const std::string head =
      "POST /e/key HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  // Whole in one send (parsed from what the first read brought), then piece by piece.
  ASSERT_TRUE(client.Send(head + "a\r\n{\"name\":\"t\r\nb\r\nest/whole\"}\r\n0\r\n\r\n"));
  std::string whole = client.ReadResponse();
  EXPECT_THAT(whole, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(BodyOf(whole), HasSubstr(R"("ids":["evt_)"));
  ASSERT_TRUE(client.Send(head + "a\r\n{\"name\":\"t\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(client.Send("c\r\nest/pieces\"}\r\n0\r\n\r\n"));
  std::string pieces = client.ReadResponse();
  EXPECT_THAT(pieces, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(BodyOf(pieces), HasSubstr(R"("ids":["evt_)"));
}

TEST(HttpFrontTest, AnHttp10KeepAliveRequestIsAnsweredKeepAlive) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  ASSERT_TRUE(client.Send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  std::string first = client.ReadResponse();
  EXPECT_THAT(first, StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(first, HasSubstr("Connection: keep-alive\r\n"));
  EXPECT_THAT(first, HasSubstr("Content-Length: 15\r\n"));
  ASSERT_TRUE(client.Send("GET /healthz HTTP/1.0\r\n\r\n"));
  std::string second = client.ReadResponse();
  EXPECT_THAT(second, StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(second, Not(HasSubstr("Connection:")));
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_FALSE(client.reset());
}

TEST(HttpFrontTest, AConnectionCloseAnswerEndsWithAnOrderlyClose) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  ASSERT_TRUE(client.Send(Post("/e/key", R"({"name":"test/hello"})", "Connection: close\r\n")));
  std::string ingest = client.ReadResponse();
  EXPECT_THAT(ingest, StartsWith("HTTP/1.1 200"));
  EXPECT_THAT(ingest, HasSubstr("Connection: close\r\n"));
  EXPECT_THAT(BodyOf(ingest), HasSubstr(R"("ids":["evt_)"));
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_FALSE(client.reset());
  EXPECT_EQ(client.pending(), "");
}

TEST(HttpFrontTest, BytesSentAfterAConnectionCloseRequestDoNotCostItsAnswer) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  // A request that asks to close, with more requests behind it: the first is answered whole,
  // the rest are read and dropped, and the connection ends without a reset.
  std::string more;
  for (int i = 0; i < 200; ++i) more += Get("/readyz");
  ASSERT_TRUE(client.Send(Get("/healthz", "Connection: close\r\n") + more));
  std::string health = client.ReadResponse();
  EXPECT_THAT(BodyOf(health), HasSubstr(R"("status":"ok")"));
  EXPECT_TRUE(client.WaitClosed());
  EXPECT_FALSE(client.reset());
  EXPECT_EQ(client.pending(), "");
}

TEST(HttpFrontTest, AnOversizedContentLengthGets413BeforeTheBodyIsSent) {
  ApiTestServer server;  // events: 16 MiB
  ASSERT_TRUE(server.ok());
  {
    RawClient client(server.port());
    client.Send("POST /e/key HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n");
    std::string response = client.ReadResponse();
    EXPECT_THAT(response, StartsWith("HTTP/1.1 413"));
    EXPECT_THAT(BodyOf(response), HasSubstr(R"("status":413)"));
    EXPECT_THAT(BodyOf(response), HasSubstr("over the limit of 16777216 bytes"));
    EXPECT_TRUE(client.WaitClosed());
  }
  {
    RawClient client(server.port());
    client.Send(
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        "Content-Length: 1000000000\r\n\r\n");
    std::string response = client.ReadResponse();
    // No 100 Continue first: the client never sends the body.
    EXPECT_THAT(response, StartsWith("HTTP/1.1 413"));
    EXPECT_THAT(BodyOf(response), HasSubstr(R"("code":"payload_too_large")"));
    EXPECT_TRUE(client.WaitClosed());
  }
  {
    // Within the limit, Expect: 100-continue gets its 100 and then the answer.
    RawClient client(server.port());
    std::string body = R"({"name":"test/hello"})";
    client.Send("POST /e/key HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
                std::to_string(body.size()) + "\r\n\r\n");
    EXPECT_EQ(client.ReadResponse(), "HTTP/1.1 100 Continue\r\n\r\n");
    client.Send(body);
    EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 200"));
  }
  {
    // The API's other routes have a 1 MiB limit; a chunked body is cut off at it.
    RawClient client(server.port());
    client.Send(
        "POST /v1/flows/hello/invoke HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    std::string chunk(64 * 1024, 'a');
    char size[16];
    snprintf(size, sizeof(size), "%zx\r\n", chunk.size());
    for (int i = 0; i < 17 && client.Send(size + chunk + "\r\n"); ++i) {
    }
    EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 413"));
  }
}

TEST(HttpFrontTest, OversizedHeadersGet431) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  client.Send(Get("/healthz", "X-Big: " + std::string(20000, 'b') + "\r\n"));
  std::string response = client.ReadResponse();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 431"));
  EXPECT_THAT(BodyOf(response), HasSubstr("over the limit of 16384 bytes"));
  EXPECT_TRUE(client.WaitClosed());
}

TEST(HttpFrontTest, Http11WithoutHostIs400AndHttp10WithoutHostIsServed) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  client.Send("GET /healthz HTTP/1.1\r\n\r\n");
  std::string response = client.ReadResponse();
  EXPECT_THAT(response, StartsWith("HTTP/1.1 400"));
  EXPECT_THAT(BodyOf(response), HasSubstr("Host header"));
  RawClient old(server.port());
  old.Send("GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_THAT(old.ReadResponse(), StartsWith("HTTP/1.0 200"));
  EXPECT_TRUE(old.WaitClosed());
}

TEST(HttpFrontTest, NulBytesAndMalformedRequestsAre400) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  for (std::string request :
       {std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A\0b: 1\r\n\r\n", 42),
        std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 42),
        std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n"),
        std::string("GET\0/healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35),
        std::string("POST /e/key HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
        std::string(
            "POST /e/k HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")}) {
    RawClient client(server.port());
    client.Send(request);
    EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 400")) << request;
    EXPECT_TRUE(client.WaitClosed());
  }
}

TEST(HttpFrontTest, HeadAndOptionsAreAnsweredAndListedInAllow) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  RawClient client(server.port());
  client.Send("OPTIONS /v1/runs HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string options = client.ReadResponse();
  EXPECT_THAT(options, StartsWith("HTTP/1.1 204"));
  EXPECT_THAT(options, HasSubstr("Allow: GET, HEAD, OPTIONS\r\n"));
  client.Send("OPTIONS /e/key HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(client.ReadResponse(), HasSubstr("Allow: POST, OPTIONS\r\n"));
  client.Send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 204"));
  client.Send("DELETE /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string not_allowed = client.ReadResponse();
  EXPECT_THAT(not_allowed, StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(not_allowed, HasSubstr("Allow: GET, HEAD, OPTIONS\r\n"));
  client.Send("HEAD /v1/runs/run_missing HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string head = client.ReadResponse(/*head=*/true);
  EXPECT_THAT(head, StartsWith("HTTP/1.1 404"));
  EXPECT_EQ(BodyOf(head), "");
  client.Send("OPTIONS /nowhere HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_THAT(client.ReadResponse(), StartsWith("HTTP/1.1 404"));
}

TEST(HttpFrontTest, ConnectionsOverThePerAddressLimitAreRefusedWith503) {
  ApiTestServerOptions options;
  options.server.max_connections_per_ip = 5;
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 5; ++i) held.push_back(std::make_unique<RawClient>(server.port()));
  // The server counts a connection once it has accepted it: make sure the five are in.
  for (auto& client : held) {
    client->Send(Get("/healthz"));
    EXPECT_THAT(client->ReadResponse(), StartsWith("HTTP/1.1 200"));
  }
  RawClient extra(server.port());
  EXPECT_TRUE(extra.WaitClosed());
  EXPECT_THAT(extra.pending(), StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(extra.pending(), HasSubstr("too many connections"));
  held.pop_back();
  // One closed: a new connection gets in (once the server has seen the close).
  bool served = false;
  for (auto deadline = Clock::now() + kPatience; !served && Clock::now() < deadline;) {
    RawClient again(server.port());
    again.Send(Get("/healthz"));
    served = again.ReadResponse().starts_with("HTTP/1.1 200");
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
}

TEST(HttpFrontTest, AtTheConnectionLimitIdleConnectionsMakeRoomAndBusyOnesDoNot) {
  ApiTestServerOptions options;
  options.server.max_connections = 5;
  ApiTestServer server(options);
  ASSERT_TRUE(server.ok());
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 5; ++i) idle.push_back(std::make_unique<RawClient>(server.port()));
  // A connection may be evicted once it has waited a second without sending anything.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  RawClient newcomer(server.port());
  newcomer.Send(Get("/healthz"));
  EXPECT_THAT(newcomer.ReadResponse(), StartsWith("HTTP/1.1 200"));
  int evicted = 0;
  for (auto& client : idle) evicted += client->WaitClosed(std::chrono::milliseconds(200));
  EXPECT_EQ(evicted, 1);
  // The newcomer, kept alive, is idle too once it has waited a second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));

  // Now every connection has a request under way: a newcomer is refused.
  std::vector<std::unique_ptr<RawClient>> busy;
  for (int i = 0; i < 5; ++i) {
    busy.push_back(std::make_unique<RawClient>(server.port()));
    busy.back()->Send("GET /healthz HTTP/1.1\r\nHo");
  }
  // The idle ones were evicted for these; wait until the server has closed them.
  for (auto& client : idle) client->WaitClosed(std::chrono::seconds(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  RawClient refused(server.port());
  EXPECT_TRUE(refused.WaitClosed());
  EXPECT_THAT(refused.pending(), StartsWith("HTTP/1.1 503"));
  for (auto& client : busy) {
    client->Send("st: x\r\n\r\n");
    EXPECT_THAT(client->ReadResponse(), StartsWith("HTTP/1.1 200"));
  }
}

TEST(HttpFrontTest, StopClosesAThousandOpenConnectionsPromptly) {
  ApiTestServer server;
  ASSERT_TRUE(server.ok());
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 1000; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    ASSERT_TRUE(clients.back()->connected()) << i;
    if (i % 3 == 1) clients.back()->Send("GET /healthz HTTP/1.1\r\n");  // half a request
    if (i % 3 == 2) {
      clients.back()->Send(Get("/healthz"));  // kept alive after its answer
      EXPECT_THAT(clients.back()->ReadResponse(), StartsWith("HTTP/1.1 200"));
    }
  }
  auto start = Clock::now();
  server.api().Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(3));
  for (auto& client : clients) EXPECT_TRUE(client->WaitClosed(std::chrono::seconds(3)));
  RawClient late(server.port());
  EXPECT_FALSE(late.connected() && late.Send(Get("/healthz")) && !late.ReadResponse().empty());
}

}  // namespace
}  // namespace flowrun
