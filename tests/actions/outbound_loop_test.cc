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

}  // namespace
}  // namespace flowrun
