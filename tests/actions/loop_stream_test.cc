// LoopStream: a read right after a write waits for the socket first; an answer that is already
// there, or the peer's close, still ends that read at once.
#include "actions/loop_stream.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "actions/host_resolver.h"
#include "actions/outbound_loop.h"
#include "testing/thread_per_connection_server.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;

SocketAddress Loopback(int port) {
  SocketAddress address;
  auto* in = reinterpret_cast<sockaddr_in*>(&address.storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(static_cast<uint16_t>(port));
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.length = sizeof(sockaddr_in);
  return address;
}

// Reads one request's bytes, answers `answer` (none when empty), then closes when `close_after`
// or else once the client closes.
testing::ThreadPerConnectionServer Peer(std::string answer, bool close_after) {
  return testing::ThreadPerConnectionServer([answer, close_after](int fd) {
    char buffer[256];
    if (recv(fd, buffer, sizeof buffer, 0) > 0) {
      if (!answer.empty()) (void)send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
      while (!close_after && recv(fd, buffer, sizeof buffer, 0) > 0) {
      }
    }
    close(fd);
  });
}

class LoopStreamTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(loop_.Start().ok()); }

  // On the loop: connects to `port`, writes "ping", waits `pause` (so that the peer's answer or
  // close is already there), then reads; returns what the read gave.
  StatusOr<std::string> WriteThenRead(int port, std::chrono::milliseconds pause) {
    auto stream = std::make_shared<LoopStream>(loop_);
    const auto until = std::chrono::steady_clock::now() + 5s;
    std::promise<Status> written;
    loop_.Post([&] {
      stream->Connect({Loopback(port)}, until, [&, stream](Status connected) {
        if (!connected.ok()) return written.set_value(connected);
        stream->Write("ping", until, [&](Status status) { written.set_value(status); });
      });
    });
    Status status = written.get_future().get();
    if (!status.ok()) return status;
    std::this_thread::sleep_for(pause);
    std::promise<StatusOr<std::string>> read;
    const auto asked = std::chrono::steady_clock::now();
    loop_.Post([&, stream] {
      stream->Read(until, [&](StatusOr<std::string_view> bytes) {
        read.set_value(bytes.ok() ? StatusOr<std::string>(std::string(*bytes))
                                  : StatusOr<std::string>(bytes.status()));
      });
    });
    StatusOr<std::string> result = read.get_future().get();
    took_ = std::chrono::steady_clock::now() - asked;
    loop_.Post([released = std::move(stream)] {});  // the stream is let go on the loop
    return result;
  }

  OutboundLoop loop_;
  std::chrono::steady_clock::duration took_{};
};

TEST_F(LoopStreamTest, AnAnswerAlreadyThereEndsTheReadAtOnce) {
  testing::ThreadPerConnectionServer peer = Peer("pong", /*close_after=*/false);
  StatusOr<std::string> got = WriteThenRead(peer.port(), 100ms);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "pong");
  EXPECT_LT(took_, 1s);
}

TEST_F(LoopStreamTest, AnAnswerThatComesLaterEndsTheRead) {
  testing::ThreadPerConnectionServer peer = Peer("pong", /*close_after=*/false);
  StatusOr<std::string> got = WriteThenRead(peer.port(), 0ms);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, "pong");
}

TEST_F(LoopStreamTest, APeerThatClosedAfterTheWriteEndsTheReadAtOnce) {
  testing::ThreadPerConnectionServer peer = Peer("", /*close_after=*/true);
  StatusOr<std::string> got = WriteThenRead(peer.port(), 100ms);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status().ToString();
  EXPECT_LT(took_, 1s);
}

}  // namespace
}  // namespace flowrun
