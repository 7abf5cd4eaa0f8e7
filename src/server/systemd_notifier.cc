#include "server/systemd_notifier.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstdint>
#include <cstring>

namespace flowrun {
namespace {

std::string_view EnvOrEmpty(const char* name) {
  const char* value = std::getenv(name);
  return value ? std::string_view(value) : std::string_view();
}

// A decimal number made of digits only, or nullopt.
std::optional<unsigned long long> ParseDecimal(std::string_view text) {
  unsigned long long value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

SystemdNotifier SystemdNotifier::FromEnvironment() {
  return SystemdNotifier(std::string(EnvOrEmpty("NOTIFY_SOCKET")), EnvOrEmpty("WATCHDOG_USEC"),
                         EnvOrEmpty("WATCHDOG_PID"));
}

SystemdNotifier::SystemdNotifier(std::string socket_path, std::string_view watchdog_usec,
                                 std::string_view watchdog_pid)
    : socket_path_(std::move(socket_path)) {
  std::optional<unsigned long long> usec = ParseDecimal(watchdog_usec);
  if (!usec || *usec == 0 || *usec > static_cast<unsigned long long>(INT64_MAX)) return;
  if (!watchdog_pid.empty()) {
    std::optional<unsigned long long> pid = ParseDecimal(watchdog_pid);
    if (!pid || *pid != static_cast<unsigned long long>(getpid())) return;
  }
  watchdog_ = std::chrono::microseconds(*usec);
}

Status SystemdNotifier::Notify(std::string_view state) const {
  if (!enabled()) return OkStatus();
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const bool abstract = socket_path_[0] == '@';
  if (!abstract && socket_path_[0] != '/') {
    return InvalidArgumentError("NOTIFY_SOCKET \"" + socket_path_ +
                                "\" is neither an absolute path nor an abstract name (@…)");
  }
  if (socket_path_.size() >= sizeof(address.sun_path)) {
    return InvalidArgumentError("NOTIFY_SOCKET \"" + socket_path_ + "\" is too long");
  }
  std::memcpy(address.sun_path, socket_path_.data(), socket_path_.size());
  socklen_t length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_path_.size());
  if (abstract) {
    address.sun_path[0] = '\0';  // the abstract namespace: no terminating NUL counted
  } else {
    length += 1;
  }

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return UnavailableError(std::string("socket(AF_UNIX): ") + std::strerror(errno));
  ssize_t sent;
  do {
    sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL,
                  reinterpret_cast<const sockaddr*>(&address), length);
  } while (sent < 0 && errno == EINTR);
  const int error = errno;
  close(fd);
  if (sent < 0) {
    return UnavailableError("sd_notify to " + socket_path_ + ": " + std::strerror(error));
  }
  if (static_cast<size_t>(sent) != state.size()) {
    return UnavailableError("sd_notify to " + socket_path_ + ": short send");
  }
  return OkStatus();
}

}  // namespace flowrun
