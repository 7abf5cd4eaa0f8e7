#include "testing/raw_http_peer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string_view>
#include <vector>

namespace flowrun::testing {
namespace {

using Clock = std::chrono::steady_clock;

enum class Mode { kReading, kWaiting, kWriting, kEndless, kTrickle, kSilent, kClose };

struct Connection {
  int fd = -1;
  Mode mode = Mode::kReading;
  std::string in;
  std::string out;          // bytes still to write
  Clock::time_point due{};  // kWaiting: when to answer; kTrickle: next byte
  int trickled = 0;
  bool close_after_write = false;
};

constexpr std::string_view kOkBody = R"({"ok":true})";

std::string Answer(std::string_view body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

}  // namespace

std::unique_ptr<RawHttpPeer> RawHttpPeer::Start() {
  std::unique_ptr<RawHttpPeer> peer(new RawHttpPeer());
  peer->listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(peer->listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(peer->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(peer->listen_fd_, 4096) != 0 || pipe2(peer->wake_fds_, O_NONBLOCK) != 0) {
    return nullptr;
  }
  socklen_t length = sizeof addr;
  getsockname(peer->listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length);
  peer->port_ = ntohs(addr.sin_port);
  peer->thread_ = std::thread([p = peer.get()] { p->Serve(); });
  return peer;
}

RawHttpPeer::~RawHttpPeer() {
  if (wake_fds_[1] >= 0) (void)!write(wake_fds_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
  for (int fd : {listen_fd_, wake_fds_[0], wake_fds_[1]}) {
    if (fd >= 0) close(fd);
  }
}

std::string RawHttpPeer::Url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void RawHttpPeer::Serve() {
  std::map<int, Connection> connections;
  std::vector<pollfd> fds;
  const std::string endless_chunk(64 * 1024, 'x');
  int pending = 0;
  for (;;) {
    fds.clear();
    fds.push_back({wake_fds_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    Clock::time_point now = Clock::now();
    int timeout = 1000;
    for (auto& [fd, c] : connections) {
      short events = POLLIN;
      if (!c.out.empty() || c.mode == Mode::kEndless) events |= POLLOUT;
      fds.push_back({fd, events, 0});
      if (c.mode == Mode::kWaiting || c.mode == Mode::kTrickle) {
        auto left = std::chrono::ceil<std::chrono::milliseconds>(c.due - now).count();
        timeout = static_cast<int>(std::clamp<long long>(left, 0, timeout));
      }
    }
    poll(fds.data(), fds.size(), timeout);
    if (fds[0].revents) return;
    if (fds[1].revents & POLLIN) {
      for (;;) {
        int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK);
        if (fd < 0) break;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        connections[fd].fd = fd;
        ++connections_;
      }
    }
    now = Clock::now();
    for (size_t i = 2; i < fds.size(); ++i) {
      Connection& c = connections[fds[i].fd];
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buffer[16384];
        ssize_t n = recv(c.fd, buffer, sizeof buffer, 0);
        if (n <= 0) {
          if (c.mode == Mode::kWaiting) --pending;
          c.mode = Mode::kClose;
          continue;
        }
        c.in.append(buffer, static_cast<size_t>(n));
      }
      // A request, once its head is complete (the tests send no bodies to this peer).
      size_t end = c.in.find("\r\n\r\n");
      if (c.mode == Mode::kReading && end != std::string::npos) {
        std::string_view line(c.in.data(), c.in.find("\r\n"));
        size_t path_start = line.find(' ') + 1;
        std::string path(line.substr(path_start, line.find(' ', path_start) - path_start));
        c.in.erase(0, end + 4);
        ++requests_;
        if (path == "/ok") {
          c.out += Answer(kOkBody);
        } else if (path.rfind("/delay/", 0) == 0) {
          c.mode = Mode::kWaiting;
          c.due = now + std::chrono::milliseconds(std::stoi(path.substr(7)));
          int now_pending = ++pending;
          if (now_pending > most_pending_) most_pending_ = now_pending;
        } else if (path == "/silent") {
          c.mode = Mode::kSilent;
        } else if (path == "/cut") {
          c.out = "HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n0123456789";
          c.close_after_write = true;
        } else if (path == "/endless") {
          c.out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";
          c.mode = Mode::kEndless;
        } else if (path == "/trickle") {
          c.out = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
          c.mode = Mode::kTrickle;
          c.due = now + std::chrono::seconds(1);
        } else {
          c.out += "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        }
      }
      if (c.mode == Mode::kWaiting && now >= c.due) {
        c.out += Answer(kOkBody);
        c.mode = Mode::kReading;
        --pending;
      }
      if (c.mode == Mode::kTrickle && now >= c.due && c.trickled < 100) {
        c.out += "y";
        ++c.trickled;
        c.due = now + std::chrono::seconds(1);
      }
      if (c.mode == Mode::kEndless && c.out.size() < endless_chunk.size()) c.out += endless_chunk;
      if (!c.out.empty() && (fds[i].revents & POLLOUT || c.mode != Mode::kEndless)) {
        ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) c.out.erase(0, static_cast<size_t>(n));
        if (n < 0 && errno != EAGAIN) c.mode = Mode::kClose;
      }
      if (c.out.empty() && c.close_after_write) c.mode = Mode::kClose;
    }
    for (auto it = connections.begin(); it != connections.end();) {
      if (it->second.mode == Mode::kClose) {
        close(it->first);
        it = connections.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace flowrun::testing
