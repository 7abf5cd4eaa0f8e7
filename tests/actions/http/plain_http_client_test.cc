#include "actions/http/plain_http_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "testing/free_port.h"
#include "testing/raw_http_peer.h"
#include "testing/thread_per_connection_server.h"
#include "testing/wait_until.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;

// A server on loopback that answers each request on a connection with the next of `answers`
// (bytes as given, so that tests can send what no real server would), one thread per
// connection. After the last answer it closes the connection; `close_after_each` closes it after
// every answer without saying so (a kept connection the server gave up on).
class ScriptedServer {
 public:
  ScriptedServer(std::vector<std::string> answers, bool close_after_each = false)
      : answers_(std::move(answers)),
        close_after_each_(close_after_each),
        server_([this](int fd) { Serve(fd); }) {}
  int port() const { return server_.port(); }
  int connections() const { return server_.connections(); }

 private:
  void Serve(int fd) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) return (void)close(fd);
        buffer.append(chunk, static_cast<size_t>(n));
      }
      buffer.erase(0, end + 4);
      const size_t index = next_++;
      if (index >= answers_.size()) break;
      send(fd, answers_[index].data(), answers_[index].size(), MSG_NOSIGNAL);
      if (close_after_each_ || next_ >= answers_.size()) break;
    }
    close(fd);
  }

  const std::vector<std::string> answers_;
  const bool close_after_each_;
  std::atomic<size_t> next_{0};
  testing::ThreadPerConnectionServer server_;  // last: its threads use the members above
};

class PlainHttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(loop_.Start().ok());
    peer_ = testing::RawHttpPeer::Start();
    ASSERT_NE(peer_, nullptr);
  }

  static PlainHttpClientOptions WithConnectionsPerHost(size_t connections) {
    PlainHttpClientOptions options;
    options.max_connections_per_host = connections;
    return options;
  }

  PlainHttpRequest Get(int port, const std::string& target = "/x",
                       std::chrono::milliseconds time = 5000ms) {
    PlainHttpRequest request;
    request.host = "127.0.0.1";
    request.port = port;
    request.method = "GET";
    request.target = target;
    request.connect_until = std::chrono::steady_clock::now() + time;
    request.until = std::chrono::steady_clock::now() + time;
    request.max_body_bytes = 1 << 20;
    return request;
  }

  std::future<PlainHttpResult> SendAsync(PlainHttpClient& client, PlainHttpRequest request) {
    auto done = std::make_shared<std::promise<PlainHttpResult>>();
    client.Send(std::move(request),
                [done](PlainHttpResult result) { done->set_value(std::move(result)); });
    return done->get_future();
  }

  PlainHttpResult Send(PlainHttpClient& client, PlainHttpRequest request) {
    return SendAsync(client, std::move(request)).get();
  }

  OutboundLoop loop_;
  std::unique_ptr<testing::RawHttpPeer> peer_;  // answers by path: see raw_http_peer.h
};

TEST_F(PlainHttpClientTest, KeepsTheConnectionAliveAcrossRequests) {
  PlainHttpClient client(loop_, {});
  for (int i = 0; i < 5; ++i) {
    PlainHttpResult result = Send(client, Get(peer_->port(), "/ok"));
    ASSERT_TRUE(result.error.ok()) << result.error.ToString();
    EXPECT_EQ(result.status, 200);
    EXPECT_FALSE(result.body.empty());
  }
  EXPECT_EQ(peer_->requests(), 5);
  EXPECT_EQ(peer_->connections(), 1);
  EXPECT_EQ(client.in_flight(), 0);
}

TEST_F(PlainHttpClientTest, BoundsTheConnectionsPerOriginAndQueuesTheRest) {
  PlainHttpClient client(loop_, WithConnectionsPerHost(4));
  constexpr int kRequests = 20;
  std::vector<std::future<PlainHttpResult>> results;
  for (int i = 0; i < kRequests; ++i) {
    results.push_back(SendAsync(client, Get(peer_->port(), "/delay/100")));
  }
  for (auto& result : results) {
    PlainHttpResult got = result.get();
    EXPECT_TRUE(got.error.ok()) << got.error.ToString();
    EXPECT_EQ(got.status, 200);
  }
  EXPECT_LE(peer_->most_pending(), 4);
  EXPECT_LE(peer_->connections(), 4);
  EXPECT_EQ(peer_->requests(), kRequests);
}

TEST_F(PlainHttpClientTest, ARequestWhoseTimeRunsOutWaitingForAConnectionSaysSo) {
  PlainHttpClient client(loop_, WithConnectionsPerHost(1));
  std::future<PlainHttpResult> holder = SendAsync(client, Get(peer_->port(), "/silent", 2000ms));
  PlainHttpResult waited = Send(client, Get(peer_->port(), "/ok", 200ms));
  EXPECT_EQ(waited.error.code(), StatusCode::kDeadlineExceeded) << waited.error.ToString();
  EXPECT_TRUE(waited.waited_for_connection);
  EXPECT_FALSE(waited.connected);
  PlainHttpResult held = holder.get();
  EXPECT_EQ(held.error.code(), StatusCode::kDeadlineExceeded);
  EXPECT_FALSE(held.waited_for_connection);
  EXPECT_TRUE(held.connected);
}

TEST_F(PlainHttpClientTest, BoundsTheConnectionsOfAllOriginsAndClosesIdleOnesToMakeRoom) {
  auto first = testing::RawHttpPeer::Start();
  auto second = testing::RawHttpPeer::Start();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  PlainHttpClientOptions options;
  options.max_connections_per_host = 2;
  options.max_total_connections = 2;
  PlainHttpClient client(loop_, options);
  // An idle kept connection to the first origin makes room for the second origin's requests.
  ASSERT_TRUE(Send(client, Get(first->port(), "/ok")).error.ok());
  constexpr int kRequests = 6;
  std::vector<std::future<PlainHttpResult>> results;
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    results.push_back(SendAsync(client, Get((i % 2 ? second : first)->port(), "/delay/200")));
  }
  for (auto& result : results) {
    PlainHttpResult got = result.get();
    EXPECT_TRUE(got.error.ok()) << got.error.ToString();
  }
  // Two at a time over both origins: three rounds of 200 ms at least (four at a time, as the
  // per-origin bound alone allows, would take two).
  EXPECT_GE(std::chrono::steady_clock::now() - started, 590ms);
  EXPECT_EQ(first->requests() + second->requests(), kRequests + 1);
}

TEST_F(PlainHttpClientTest, RequestsWaitingForTheirOwnOriginDoNotCostOthersTheirKeptConnection) {
  auto slow = testing::RawHttpPeer::Start();
  auto fast = testing::RawHttpPeer::Start();
  ASSERT_NE(slow, nullptr);
  ASSERT_NE(fast, nullptr);
  PlainHttpClient client(loop_, WithConnectionsPerHost(1));
  // The slow origin's one connection is busy, and a second request waits for it.
  std::future<PlainHttpResult> busy = SendAsync(client, Get(slow->port(), "/silent", 1000ms));
  std::future<PlainHttpResult> queued = SendAsync(client, Get(slow->port(), "/silent", 1000ms));
  std::this_thread::sleep_for(50ms);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Send(client, Get(fast->port(), "/ok")).error.ok());
  EXPECT_EQ(fast->connections(), 1);  // kept and reused: the waiting requests are another's
  busy.get();
  queued.get();
}

TEST_F(PlainHttpClientTest, ForgetsAnOriginOnceItHasNoConnectionAndNoRequest) {
  PlainHttpClientOptions options;
  options.idle_timeout = 100ms;
  PlainHttpClient client(loop_, options);
  for (int i = 0; i < 3; ++i) {
    auto peer = testing::RawHttpPeer::Start();
    ASSERT_NE(peer, nullptr);
    ASSERT_TRUE(Send(client, Get(peer->port(), "/ok")).error.ok());
  }
  EXPECT_EQ(client.origins_held(), 3u);  // each keeps its idle connection for now
  std::this_thread::sleep_for(400ms);    // the idle timeout closes them
  EXPECT_EQ(client.origins_held(), 0u);
  // A refused connection leaves nothing behind either.
  int port = 0;
  int listener = testing::ListenOnLoopback(1, &port);
  ASSERT_GE(listener, 0);
  close(listener);
  EXPECT_FALSE(Send(client, Get(port)).error.ok());
  // The entry goes right after the callback, on the loop thread.
  EXPECT_TRUE(testing::WaitUntil([&] { return client.origins_held() == 0; }));
}

TEST_F(PlainHttpClientTest, SkipsInterimResponsesAndReadsChunkedBodiesWithTrailers) {
  ScriptedServer server(
      {"HTTP/1.1 100 Continue\r\n\r\n"
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Tag: a\r\n\r\n"
       "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"});
  PlainHttpClient client(loop_, {});
  PlainHttpResult result = Send(client, Get(server.port()));
  ASSERT_TRUE(result.error.ok()) << result.error.ToString();
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "hello world");
  bool tagged = false;
  for (const auto& [name, value] : result.headers)
    tagged = tagged || (name == "x-tag" && value == "a");
  EXPECT_TRUE(tagged);
}

TEST_F(PlainHttpClientTest, ABodyThatEndsWithTheConnectionIsCompleteAndTheConnectionNotKept) {
  ScriptedServer server({"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"});
  PlainHttpClient client(loop_, {});
  PlainHttpResult result = Send(client, Get(server.port()));
  ASSERT_TRUE(result.error.ok()) << result.error.ToString();
  EXPECT_EQ(result.body, "all of it");
}

TEST_F(PlainHttpClientTest, AKeptConnectionTheServerClosedGetsTheRequestOnceMoreOnANewOne) {
  // The server says nothing of closing, then closes after each answer.
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  ScriptedServer server({ok, ok}, /*close_after_each=*/true);
  PlainHttpClient client(loop_, {});
  ASSERT_TRUE(Send(client, Get(server.port())).error.ok());
  std::this_thread::sleep_for(50ms);  // the close reaches the idle connection
  PlainHttpResult second = Send(client, Get(server.port()));
  ASSERT_TRUE(second.error.ok()) << second.error.ToString();
  EXPECT_EQ(second.body, "ok");
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(PlainHttpClientTest, AConnectionIdleForTheIdleTimeoutIsClosed) {
  const std::string ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
  ScriptedServer server({ok, ok, ok});
  PlainHttpClientOptions options;
  options.idle_timeout = 200ms;
  PlainHttpClient client(loop_, options);
  ASSERT_TRUE(Send(client, Get(server.port())).error.ok());
  ASSERT_TRUE(Send(client, Get(server.port())).error.ok());  // within the time: reused
  EXPECT_EQ(server.connections(), 1);
  std::this_thread::sleep_for(600ms);
  ASSERT_TRUE(Send(client, Get(server.port())).error.ok());  // closed meanwhile: a new one
  EXPECT_EQ(server.connections(), 2);
}

TEST_F(PlainHttpClientTest, MalformedAndOversizedResponsesAreClearErrors) {
  PlainHttpClient client(loop_, {});
  {
    ScriptedServer server({"SMTP ready\r\n\r\n"});
    PlainHttpResult result = Send(client, Get(server.port()));
    EXPECT_EQ(result.error.code(), StatusCode::kUnavailable);
    EXPECT_NE(result.error.message().find("malformed response"), std::string::npos)
        << result.error.ToString();
  }
  {
    ScriptedServer server({"HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'a') +
                           "\r\nContent-Length: 0\r\n\r\n"});
    PlainHttpResult result = Send(client, Get(server.port()));
    EXPECT_EQ(result.error.code(), StatusCode::kUnavailable) << result.error.ToString();
  }
  {
    ScriptedServer server(
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
         "hello!"});
    PlainHttpResult result = Send(client, Get(server.port()));
    EXPECT_EQ(result.error.code(), StatusCode::kUnavailable) << result.error.ToString();
  }
  {
    ScriptedServer server({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"});
    PlainHttpResult result = Send(client, Get(server.port()));
    EXPECT_EQ(result.error.code(), StatusCode::kUnavailable) << result.error.ToString();
  }
  {
    // Over the body limit in one piece with the header, and in chunks.
    ScriptedServer server({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'),
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" +
                               std::string(100, 'x') + "\r\n0\r\n\r\n"});
    for (int i = 0; i < 2; ++i) {
      PlainHttpRequest request = Get(server.port());
      request.max_body_bytes = 99;
      PlainHttpResult result = Send(client, request);
      EXPECT_TRUE(result.too_large) << result.error.ToString();
      EXPECT_EQ(result.error.code(), StatusCode::kFailedPrecondition);
    }
  }
}

TEST_F(PlainHttpClientTest, TimeAndRefusalEndRequestsAndSayWhetherTheyConnected) {
  PlainHttpClient client(loop_, {});
  PlainHttpResult silent = Send(client, Get(peer_->port(), "/silent", 200ms));
  EXPECT_EQ(silent.error.code(), StatusCode::kDeadlineExceeded) << silent.error.ToString();
  EXPECT_TRUE(silent.connected);

  PlainHttpResult trickle = Send(client, Get(peer_->port(), "/trickle", 300ms));
  EXPECT_EQ(trickle.error.code(), StatusCode::kDeadlineExceeded) << trickle.error.ToString();

  PlainHttpRequest endless = Get(peer_->port(), "/endless");
  endless.max_body_bytes = 1 << 20;
  PlainHttpResult big = Send(client, endless);
  EXPECT_TRUE(big.too_large) << big.error.ToString();

  PlainHttpResult cut = Send(client, Get(peer_->port(), "/cut"));
  EXPECT_EQ(cut.error.code(), StatusCode::kUnavailable) << cut.error.ToString();

  int port = 0;
  int listener = testing::ListenOnLoopback(1, &port);
  ASSERT_GE(listener, 0);
  close(listener);  // nobody listens there now
  PlainHttpResult refused = Send(client, Get(port));
  EXPECT_EQ(refused.error.code(), StatusCode::kUnavailable) << refused.error.ToString();
  EXPECT_FALSE(refused.connected);
  EXPECT_EQ(client.in_flight(), 0);
}

TEST_F(PlainHttpClientTest, StoppingTheLoopEndsRequestsInFlightAndWaiting) {
  PlainHttpClient client(loop_, WithConnectionsPerHost(1));
  std::future<PlainHttpResult> in_flight = SendAsync(client, Get(peer_->port(), "/silent", 30s));
  std::future<PlainHttpResult> waiting = SendAsync(client, Get(peer_->port(), "/silent", 30s));
  std::this_thread::sleep_for(100ms);
  loop_.Stop();
  for (auto* future : {&in_flight, &waiting}) {
    ASSERT_EQ(future->wait_for(10s), std::future_status::ready);
    PlainHttpResult got = future->get();
    EXPECT_TRUE(got.stopped);
    EXPECT_EQ(got.error.code(), StatusCode::kUnavailable);
  }
  EXPECT_EQ(client.in_flight(), 0);
}

}  // namespace
}  // namespace flowrun
