#include "server/systemd_notifier.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <optional>
#include <string>

#include "testing/paths.h"

namespace flowrun {
namespace {

// A real AF_UNIX datagram socket, bound like systemd's notification socket: to a file path, or
// to an abstract name when `name` starts with '@'.
class NotifySocket {
 public:
  explicit NotifySocket(std::string name) : name_(std::move(name)) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, name_.data(), name_.size());
    socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    if (name_[0] == '@') {
      address.sun_path[0] = '\0';
    } else {
      length += 1;
    }
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&address), length) == 0;
  }
  ~NotifySocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool bound() const { return bound_; }
  const std::string& name() const { return name_; }

  // The next datagram, or nullopt when none arrives within 10 s.
  std::optional<std::string> Receive() {
    pollfd entry{fd_, POLLIN, 0};
    if (poll(&entry, 1, 10000) != 1) return std::nullopt;
    char buffer[4096];
    ssize_t n = recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

TEST(SystemdNotifierTest, SendsEachMessageAsOneDatagramToAPathSocket) {
  NotifySocket socket(testing::MakeTempDir() + "/notify");
  ASSERT_TRUE(socket.bound());
  SystemdNotifier notifier(socket.name(), "", "");
  ASSERT_TRUE(notifier.enabled());
  ASSERT_TRUE(notifier.Notify("READY=1\nSTATUS=serving").ok());
  ASSERT_TRUE(notifier.Notify("WATCHDOG=1").ok());
  EXPECT_EQ(socket.Receive(), "READY=1\nSTATUS=serving");
  EXPECT_EQ(socket.Receive(), "WATCHDOG=1");
}

TEST(SystemdNotifierTest, SendsToAnAbstractSocket) {
  NotifySocket socket("@flowrun-notify-test-" + std::to_string(getpid()));
  ASSERT_TRUE(socket.bound());
  SystemdNotifier notifier(socket.name(), "", "");
  ASSERT_TRUE(notifier.Notify("READY=1").ok());
  EXPECT_EQ(socket.Receive(), "READY=1");
}

TEST(SystemdNotifierTest, WithoutASocketEveryCallSucceedsAndDoesNothing) {
  SystemdNotifier notifier("", "30000000", "");
  EXPECT_FALSE(notifier.enabled());
  EXPECT_TRUE(notifier.Notify("READY=1").ok());
}

TEST(SystemdNotifierTest, WatchdogIntervalIsForThisProcessOnly) {
  const std::string self = std::to_string(getpid());
  EXPECT_EQ(SystemdNotifier("/run/x", "30000000", "").watchdog_interval(),
            std::chrono::microseconds(30000000));
  EXPECT_EQ(SystemdNotifier("/run/x", "5000000", self).watchdog_interval(),
            std::chrono::microseconds(5000000));
  EXPECT_EQ(SystemdNotifier("/run/x", "5000000", std::to_string(getpid() + 1)).watchdog_interval(),
            std::nullopt);
  EXPECT_EQ(SystemdNotifier("/run/x", "", "").watchdog_interval(), std::nullopt);
}

TEST(SystemdNotifierTest, MalformedWatchdogValuesMeanNoWatchdog) {
  for (const char* usec : {"0", "-5", "abc", "12abc", " 12", "99999999999999999999999999"}) {
    EXPECT_EQ(SystemdNotifier("/run/x", usec, "").watchdog_interval(), std::nullopt) << usec;
  }
  EXPECT_EQ(SystemdNotifier("/run/x", "1000", "not-a-pid").watchdog_interval(), std::nullopt);
}

TEST(SystemdNotifierTest, HostileSocketNamesAreRefused) {
  EXPECT_EQ(SystemdNotifier("relative/path", "", "").Notify("READY=1").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SystemdNotifier("/" + std::string(200, 'a'), "", "").Notify("READY=1").code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SystemdNotifier("@" + std::string(200, 'a'), "", "").Notify("READY=1").code(),
            StatusCode::kInvalidArgument);
}

TEST(SystemdNotifierTest, AMissingSocketIsUnavailableAndNamed) {
  const std::string path = testing::MakeTempDir() + "/nobody-listens";
  Status status = SystemdNotifier(path, "", "").Notify("READY=1");
  EXPECT_EQ(status.code(), StatusCode::kUnavailable);
  EXPECT_NE(status.message().find(path), std::string::npos) << status.message();
}

TEST(SystemdNotifierTest, FromEnvironmentReadsTheThreeVariables) {
  NotifySocket socket(testing::MakeTempDir() + "/notify");
  ASSERT_TRUE(socket.bound());
  setenv("NOTIFY_SOCKET", socket.name().c_str(), 1);
  setenv("WATCHDOG_USEC", "2000000", 1);
  setenv("WATCHDOG_PID", std::to_string(getpid()).c_str(), 1);
  SystemdNotifier notifier = SystemdNotifier::FromEnvironment();
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  EXPECT_EQ(notifier.watchdog_interval(), std::chrono::microseconds(2000000));
  ASSERT_TRUE(notifier.Notify("WATCHDOG=1").ok());
  EXPECT_EQ(socket.Receive(), "WATCHDOG=1");
  EXPECT_FALSE(SystemdNotifier::FromEnvironment().enabled());
}

}  // namespace
}  // namespace flowrun
