#include "actions/smtp_socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace flowrun {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Slack allowed between the armed timeout and the time left, so that a fast exchange does not
// set the socket options again for every call.
constexpr milliseconds kArmSlack{10};

std::string ErrnoText(int error) { return std::strerror(error); }

// A line for an error message: printable ASCII only, at most 200 characters.
std::string Printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (text.size() > 200) out += "...";
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

StatusOr<SmtpSocket> SmtpSocket::Connect(const std::string& host, const std::string& port,
                                         SteadyTime connect_deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
  if (rc != 0) {
    return UnavailableError("could not connect: cannot resolve " + host + ": " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last_error = ErrnoText(errno);
      continue;
    }
    int error = 0;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      error = errno;
      if (error == EINPROGRESS) {
        error = ETIMEDOUT;
        for (;;) {
          auto left =
              duration_cast<milliseconds>(connect_deadline - std::chrono::steady_clock::now());
          if (left.count() <= 0) break;
          pollfd p{fd, POLLOUT, 0};
          int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30)));
          if (n < 0 && errno == EINTR) continue;
          if (n > 0) {
            socklen_t length = sizeof error;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
          }
          break;
        }
      }
    }
    if (error != 0) {
      last_error = error == ETIMEDOUT ? "connection timed out" : ErrnoText(error);
      ::close(fd);
      continue;
    }
    freeaddrinfo(found);
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return SmtpSocket(fd);
  }
  freeaddrinfo(found);
  if (last_error == "connection timed out") {
    return DeadlineExceededError("could not connect: " + last_error);
  }
  return UnavailableError("could not connect: " + last_error);
}

SmtpSocket::SmtpSocket(SmtpSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      armed_(other.armed_),
      buffer_(std::move(other.buffer_)),
      start_(other.start_),
      bytes_received_(other.bytes_received_) {}

SmtpSocket& SmtpSocket::operator=(SmtpSocket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    armed_ = other.armed_;
    buffer_ = std::move(other.buffer_);
    start_ = other.start_;
    bytes_received_ = other.bytes_received_;
  }
  return *this;
}

SmtpSocket::~SmtpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

bool SmtpSocket::Arm(SteadyTime deadline) {
  auto left = duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return false;
  if (armed_.count() > 0 && armed_ <= left + kArmSlack) return true;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(left.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((left.count() % 1000) * 1000);
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  armed_ = left;
  return true;
}

Status SmtpSocket::Send(std::string_view data, SteadyTime deadline) {
  while (!data.empty()) {
    if (!Arm(deadline)) return DeadlineExceededError("timed out sending to the server");
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        armed_ = milliseconds(0);  // the armed time ran out; Arm decides whether time is left
        continue;
      }
      return UnavailableError("sending to the server failed: " + ErrnoText(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

void SmtpSocket::SendWithoutWaiting(std::string_view data) {
  if (fd_ >= 0) (void)::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
}

bool SmtpSocket::LooksIdle() const {
  if (fd_ < 0 || start_ < buffer_.size()) return false;
  char c;
  ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

Status SmtpSocket::Fill(SteadyTime deadline) {
  if (start_ > 0) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  char chunk[8192];
  for (;;) {
    if (!Arm(deadline)) return DeadlineExceededError("timed out waiting for the server's reply");
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      bytes_received_ += static_cast<size_t>(n);
      return OkStatus();
    }
    if (n == 0) return UnavailableError("the server closed the connection");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      armed_ = milliseconds(0);
      continue;
    }
    return UnavailableError("reading from the server failed: " + ErrnoText(errno));
  }
}

StatusOr<SmtpReply> SmtpSocket::ReadReply(SteadyTime deadline) {
  SmtpReply reply;
  for (;;) {
    size_t end = buffer_.find('\n', start_);
    if (end == std::string::npos) {
      if (buffer_.size() - start_ > kMaxLineBytes) {
        return UnavailableError("malformed reply: a line longer than " +
                                std::to_string(kMaxLineBytes) + " bytes");
      }
      RETURN_IF_ERROR(Fill(deadline));
      continue;
    }
    if (end - start_ > kMaxLineBytes) {
      return UnavailableError("malformed reply: a line longer than " +
                              std::to_string(kMaxLineBytes) + " bytes");
    }
    std::string_view line(buffer_.data() + start_, end - start_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start_ = end + 1;
    bool well_formed = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && IsDigit(line[1]) &&
                       IsDigit(line[2]) && (line.size() == 3 || line[3] == ' ' || line[3] == '-');
    int code = well_formed ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : 0;
    if (!well_formed || (reply.code != 0 && code != reply.code)) {
      return UnavailableError("malformed reply: \"" + Printable(line) + "\"");
    }
    reply.code = code;
    reply.lines.emplace_back(line);
    if (line.size() == 3 || line[3] == ' ') return reply;
    if (reply.lines.size() >= kMaxReplyLines) {
      return UnavailableError("malformed reply: more than " + std::to_string(kMaxReplyLines) +
                              " lines");
    }
  }
}

}  // namespace flowrun
