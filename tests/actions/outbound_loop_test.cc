#include "actions/outbound_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "testing/free_port.h"
#include "testing/thread_per_connection_server.h"
#include "testing/wait_until.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;

TEST(OutboundLoopTest, WaitsForASocketOrItsTime) {
  OutboundLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);

  std::promise<int> timed_out;
  auto started = std::chrono::steady_clock::now();
  loop.WaitFd(pair[0], CURL_WAIT_POLLIN, std::chrono::steady_clock::now() + 100ms,
              [&](int revents) { timed_out.set_value(revents); });
  EXPECT_EQ(timed_out.get_future().get(), OutboundLoop::kWaitTimedOut);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 95ms);

  std::promise<int> readable;
  std::promise<std::thread::id> ran_on;
  loop.WaitFd(pair[0], CURL_WAIT_POLLIN, std::chrono::steady_clock::now() + 10s, [&](int revents) {
    ran_on.set_value(std::this_thread::get_id());
    readable.set_value(revents);
  });
  ASSERT_EQ(write(pair[1], "x", 1), 1);
  EXPECT_TRUE(readable.get_future().get() & CURL_WAIT_POLLIN);
  EXPECT_NE(ran_on.get_future().get(), std::this_thread::get_id());

  std::promise<void> posted;
  loop.Post([&] { posted.set_value(); });
  EXPECT_EQ(posted.get_future().wait_for(5s), std::future_status::ready);
  EXPECT_EQ(loop.Stats().socket_waits, 0);
  close(pair[0]);
  close(pair[1]);
}

// Two waits on one fd for different events each end when their own event comes; a hang-up ends
// a wait whose event never comes, with its events (not as a timeout), so the caller's I/O sees it.
TEST(OutboundLoopTest, WaitsShareAnFdAndAHangUpEndsThem) {
  OutboundLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  std::promise<int> writable;
  std::promise<int> readable;
  auto until = std::chrono::steady_clock::now() + 30s;
  loop.Post([&] {
    loop.WaitFd(pair[0], CURL_WAIT_POLLIN, until,
                [&](int revents) { readable.set_value(revents); });
    loop.WaitFd(pair[0], CURL_WAIT_POLLOUT, until,
                [&](int revents) { writable.set_value(revents); });
  });
  EXPECT_EQ(writable.get_future().get(), CURL_WAIT_POLLOUT);
  auto readable_result = readable.get_future();
  EXPECT_EQ(readable_result.wait_for(100ms), std::future_status::timeout);
  ASSERT_EQ(write(pair[1], "x", 1), 1);
  EXPECT_EQ(readable_result.get(), CURL_WAIT_POLLIN);

  std::promise<int> urgent;
  auto started = std::chrono::steady_clock::now();
  loop.WaitFd(pair[0], CURL_WAIT_POLLPRI, until, [&](int revents) { urgent.set_value(revents); });
  close(pair[1]);
  EXPECT_EQ(urgent.get_future().get(), CURL_WAIT_POLLPRI);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  EXPECT_EQ(loop.Stats().socket_waits, 0);
  close(pair[0]);
}

TEST(OutboundLoopTest, StopEndsWaitsAndLaterWorkOnTheCallersThread) {
  OutboundLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  std::atomic<int> ended{1};
  loop.WaitFd(pair[0], CURL_WAIT_POLLIN, std::chrono::steady_clock::now() + 60s,
              [&](int revents) { ended = revents; });
  std::this_thread::sleep_for(20ms);
  loop.Stop();
  EXPECT_EQ(ended.load(), OutboundLoop::kWaitStopped);
  EXPECT_TRUE(loop.stopped());

  CURL* easy = curl_easy_init();
  CURLcode code = CURLE_OK;
  loop.AddTransfer(easy, [&](CURLcode c) { code = c; });
  EXPECT_EQ(code, OutboundLoop::kStopped);
  curl_easy_cleanup(easy);
  bool ran = false;
  loop.Post([&] { ran = true; });
  EXPECT_TRUE(ran);
  EXPECT_FALSE(loop.Start().ok());
  close(pair[0]);
  close(pair[1]);
}

TEST(OutboundLoopTest, TimersRunInOrderOfTheirTimeOnTheLoopThread) {
  OutboundLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  std::mutex mu;
  std::vector<int> order;
  std::promise<void> last;
  auto now = std::chrono::steady_clock::now();
  loop.RunAt(now + 150ms, [&] {
    std::lock_guard lock(mu);
    order.push_back(3);
    last.set_value();
  });
  loop.RunAt(now + 50ms, [&] {
    EXPECT_TRUE(loop.OnLoopThread());
    std::lock_guard lock(mu);
    order.push_back(2);
  });
  loop.RunAt(now - 1s, [&] {
    std::lock_guard lock(mu);
    order.push_back(1);
  });
  EXPECT_FALSE(loop.OnLoopThread());
  ASSERT_EQ(last.get_future().wait_for(30s), std::future_status::ready);
  EXPECT_GE(std::chrono::steady_clock::now() - now, 150ms);
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(OutboundLoopTest, StopRunsHooksOnTheLoopThreadThenEndsWorkAndDropsTimers) {
  OutboundLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  std::vector<std::string> events;  // written on the loop thread only, read after Stop
  std::atomic<bool> timer_ran{false};
  loop.RunAt(std::chrono::steady_clock::now() + 1h, [&] { timer_ran = true; });
  loop.WaitFd(pair[0], CURL_WAIT_POLLIN, std::chrono::steady_clock::now() + 1h, [&](int revents) {
    events.push_back(revents == OutboundLoop::kWaitStopped ? "wait stopped" : "wait ended");
  });
  loop.OnStop([&] {
    events.push_back(loop.OnLoopThread() ? "hook on loop" : "hook elsewhere");
    // Work a hook hands over still runs on the loop thread, after the hooks.
    loop.Post([&] { events.push_back(loop.OnLoopThread() ? "task on loop" : "task elsewhere"); });
  });
  std::promise<void> waiting;
  loop.Post([&] { waiting.set_value(); });
  ASSERT_EQ(waiting.get_future().wait_for(30s), std::future_status::ready);
  loop.Stop();
  EXPECT_EQ(events, (std::vector<std::string>{"hook on loop", "wait stopped", "task on loop"}));
  EXPECT_FALSE(timer_ran);
  // A hook added after the stop runs at once.
  bool late = false;
  loop.OnStop([&] { late = true; });
  EXPECT_TRUE(late);
  close(pair[0]);
  close(pair[1]);
}

TEST(OutboundLoopTest, StopFromTheLoopThreadDoesNotWaitOnItself) {
  auto loop = std::make_unique<OutboundLoop>();
  ASSERT_TRUE(loop->Start().ok());
  std::promise<void> returned;
  loop->Post([&] {
    loop->Stop();  // must return: the loop ends after this turn
    returned.set_value();
  });
  ASSERT_EQ(returned.get_future().wait_for(30s), std::future_status::ready);
  // The owner's Stop (here the destructor's) joins it, within a bounded wait.
  auto destroyed = std::async(std::launch::async, [&] { loop.reset(); });
  EXPECT_EQ(destroyed.wait_for(30s), std::future_status::ready);
}

// A keep-alive HTTP/1.1 server on loopback, one thread per connection, that answers each request
// after `delay`; it counts the connections it accepted and those the client closed.
class CountingHttpServer {
 public:
  explicit CountingHttpServer(std::chrono::milliseconds delay)
      : delay_(delay), server_([this](int fd) { Serve(fd); }) {}
  std::string origin() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  int accepted() const { return server_.connections(); }
  int closed() const { return closed_; }

 private:
  void Serve(int fd) {
    std::string buffer;
    char chunk[4096];
    for (;;) {
      ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) != std::string::npos) {
        buffer.erase(0, end + 4);
        std::this_thread::sleep_for(delay_);
        const std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      }
    }
    ++closed_;
    close(fd);
  }

  const std::chrono::milliseconds delay_;
  std::atomic<int> closed_{0};
  testing::ThreadPerConnectionServer server_;  // last: its threads use the members above
};

// Runs `count` GETs at once through `loop` and waits for all of them.
void GetAtOnce(OutboundLoop& loop, const std::string& origin, int count) {
  std::vector<CURL*> easies;
  std::vector<std::promise<CURLcode>> results(count);
  for (int i = 0; i < count; ++i) {
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, (origin + "/x").c_str());
    curl_easy_setopt(
        easy, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
    easies.push_back(easy);
    loop.AddTransfer(
        easy, [&results, i](CURLcode code) { results[i].set_value(code); }, origin);
  }
  for (auto& result : results) EXPECT_EQ(result.get_future().get(), CURLE_OK);
  for (CURL* easy : easies) curl_easy_cleanup(easy);
}

TEST(OutboundLoopTest, KeepsAtMostMaxIdleConnectionsPerOriginAndReusesThem) {
  CountingHttpServer server(200ms);
  OutboundLoopOptions options;
  options.max_idle_connections = 2;
  OutboundLoop loop(options);
  ASSERT_TRUE(loop.Start().ok());

  // Six at once need six connections; only two are kept once they are answered.
  GetAtOnce(loop, server.origin(), 6);
  EXPECT_EQ(server.accepted(), 6);
  auto until = std::chrono::steady_clock::now() + 10s;
  while (server.closed() < 4 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(10ms);
  }
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(server.closed(), 4);

  // The two kept connections serve the next two requests at once: no new connection.
  GetAtOnce(loop, server.origin(), 2);
  EXPECT_EQ(server.accepted(), 6);
  // A third request at once finds no idle connection and opens one.
  GetAtOnce(loop, server.origin(), 3);
  EXPECT_EQ(server.accepted(), 7);
  loop.Stop();
}

// Thousands of transfers handed over at once start a few per turn, so that a socket wait that is
// ready at once is served on the first of those turns, not after every connect.
TEST(OutboundLoopTest, StartsAFewTransfersPerTurnSoOtherSocketsAreServedMeanwhile) {
  // A listener that never accepts: every connect completes in the kernel's queue.
  int port = 0;
  int listener = testing::ListenOnLoopback(4096, &port);
  ASSERT_GE(listener, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/x";

  OutboundLoopOptions options;
  options.max_connections_per_host = 2000;
  OutboundLoop loop(options);
  ASSERT_TRUE(loop.Start().ok());
  // The loop waits in a task until everything below is handed over, then takes it in one turn.
  std::promise<void> handed_over;
  loop.Post([ready = handed_over.get_future().share()] { ready.wait(); });

  constexpr int kTransfers = 1000;
  static std::atomic<int> sockets_opened{0};
  sockets_opened = 0;
  std::vector<CURL*> easies;
  std::atomic<int> ended{0};
  for (int i = 0; i < kTransfers; ++i) {
    CURL* easy = curl_easy_init();
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(
        easy, CURLOPT_OPENSOCKETFUNCTION,
        +[](void*, curlsocktype, curl_sockaddr* a) -> curl_socket_t {
          ++sockets_opened;
          return socket(a->family, a->socktype, a->protocol);
        });
    easies.push_back(easy);
    loop.AddTransfer(easy, [&ended](CURLcode) { ++ended; });  // no origin: no socket tracking
  }
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  ASSERT_EQ(write(pair[1], "x", 1), 1);
  std::promise<int> opened_when_served;
  loop.WaitFd(pair[0], CURL_WAIT_POLLIN, std::chrono::steady_clock::now() + 30s,
              [&](int) { opened_when_served.set_value(sockets_opened.load()); });
  handed_over.set_value();

  auto served = opened_when_served.get_future();
  ASSERT_EQ(served.wait_for(30s), std::future_status::ready);
  // A few turns' starts at most: the turn before the one that took the wait (it took the task,
  // and the transfers handed over by then), that one, and a turn or two more when the wait's
  // event was not among the 64 that epoll returned first. Without the bound, all 1,000.
  EXPECT_LE(served.get(), 4 * OutboundLoop::kMaxStartsPerTurn);
  // The rest start on the following turns.
  EXPECT_TRUE(testing::WaitUntil([] { return sockets_opened.load() == kTransfers; }));
  // Stop ends them all, those still waiting to start too.
  loop.Stop();
  EXPECT_EQ(ended.load(), kTransfers);
  EXPECT_EQ(loop.Stats().transfers_in_flight, 0);
  for (CURL* easy : easies) curl_easy_cleanup(easy);
  close(pair[0]);
  close(pair[1]);
  close(listener);
}

}  // namespace
}  // namespace flowrun
