#include "actions/outbound_loop.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

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

}  // namespace
}  // namespace flowrun
