// w1_sinks: the loopback servers the W1 benchmark's http -> db -> email flow calls, in one
// process, so that the load generator (Python) measures flowrun and not its own sinks.
//
//   - an HTTP server (cpp-httplib) that answers every POST with 200 {"ok":true} and records each
//     request's Idempotency-Key;
//   - an SMTP sink that accepts every message (no TLS, no AUTH) and records each Message-ID; it
//     offers PIPELINING (RFC 2920) and answers pipelined commands in order.
//
// It prints "http PORT" and "smtp PORT" on stdout once both listen, then serves until stdin
// closes or GET /stats/quit is called. GET /stats answers the counts the benchmark checks:
//   {"http_requests", "idempotency_keys" (distinct), "smtp_messages", "message_ids" (distinct),
//    "smtp_connections"}
//
// Usage: w1_sinks [--threads N]   (N: the HTTP server's worker threads; Default: 64)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>

#include "actions/cpp_httplib.h"

namespace {

// What the benchmark checks, shared by both servers.
class Tally {
 public:
  void AddRequest(const std::string& idempotency_key) {
    std::lock_guard lock(mu_);
    ++http_requests_;
    if (!idempotency_key.empty()) keys_.insert(idempotency_key);
  }
  void AddMessage(const std::string& message_id) {
    std::lock_guard lock(mu_);
    ++smtp_messages_;
    if (!message_id.empty()) message_ids_.insert(message_id);
  }
  void AddSmtpConnection() { ++smtp_connections_; }

  std::string Json() const {
    std::lock_guard lock(mu_);
    return "{\"http_requests\":" + std::to_string(http_requests_) +
           ",\"idempotency_keys\":" + std::to_string(keys_.size()) +
           ",\"smtp_messages\":" + std::to_string(smtp_messages_) +
           ",\"message_ids\":" + std::to_string(message_ids_.size()) +
           ",\"smtp_connections\":" + std::to_string(smtp_connections_.load()) + "}";
  }

 private:
  mutable std::mutex mu_;
  long long http_requests_ = 0;                  // GUARDED_BY(mu_)
  long long smtp_messages_ = 0;                  // GUARDED_BY(mu_)
  std::unordered_set<std::string> keys_;         // GUARDED_BY(mu_)
  std::unordered_set<std::string> message_ids_;  // GUARDED_BY(mu_)
  std::atomic<long long> smtp_connections_{0};
};

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads CRLF-terminated lines from a socket through a buffer.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // The next line without its line end; false at end of stream.
  bool Next(std::string& line) {
    for (;;) {
      size_t end = buffer_.find('\n', start_);
      if (end != std::string::npos) {
        line.assign(buffer_, start_, end - start_);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        start_ = end + 1;
        return true;
      }
      buffer_.erase(0, start_);
      start_ = 0;
      char chunk[16384];
      ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
  std::string buffer_;
  size_t start_ = 0;
};

bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

void ServeSmtpConnection(int fd, Tally& tally) {
  tally.AddSmtpConnection();
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  LineReader reader(fd);
  std::string line;
  bool ok = SendAll(fd, "220 w1-sink ESMTP\r\n");
  while (ok && reader.Next(line)) {
    if (StartsWithIgnoreCase(line, "EHLO") || StartsWithIgnoreCase(line, "HELO")) {
      ok = SendAll(fd, "250-w1-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n");
    } else if (StartsWithIgnoreCase(line, "DATA")) {
      if (!SendAll(fd, "354 go ahead\r\n")) break;
      std::string message_id;
      bool in_headers = true;
      bool ended = false;
      while (reader.Next(line)) {
        if (line == ".") {
          ended = true;
          break;
        }
        if (line.empty()) in_headers = false;
        if (in_headers && StartsWithIgnoreCase(line, "Message-ID:")) {
          message_id = line.substr(11);
          message_id.erase(0, message_id.find_first_not_of(" \t"));
        }
      }
      if (!ended) break;
      tally.AddMessage(message_id);
      ok = SendAll(fd, "250 OK\r\n");
    } else if (StartsWithIgnoreCase(line, "QUIT")) {
      SendAll(fd, "221 bye\r\n");
      break;
    } else {
      ok = SendAll(fd, "250 OK\r\n");  // MAIL, RCPT, RSET, NOOP
    }
  }
  ::close(fd);
}

// Binds 127.0.0.1 on a free port; returns the listening socket and sets `port`.
int ListenLoopback(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 512) != 0) {
    std::perror("w1_sinks: smtp listen");
    std::exit(2);
  }
  socklen_t length = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 64;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: w1_sinks [--threads N]\n");
      return 2;
    }
  }
  Tally tally;

  int smtp_port = 0;
  int smtp_fd = ListenLoopback(smtp_port);
  std::thread([smtp_fd, &tally] {
    for (;;) {
      int fd = ::accept(smtp_fd, nullptr, nullptr);
      if (fd < 0) continue;
      std::thread(ServeSmtpConnection, fd, std::ref(tally)).detach();
    }
  }).detach();

  httplib::Server http;
  // Each keep-alive connection holds a worker for its lifetime: have more than flowrun opens.
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_tcp_nodelay(true);
  http.set_keep_alive_max_count(1000000);
  http.Post(".*", [&](const httplib::Request& request, httplib::Response& response) {
    tally.AddRequest(request.get_header_value("Idempotency-Key"));
    response.set_content("{\"ok\":true}", "application/json");
  });
  http.Get("/stats", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(tally.Json(), "application/json");
  });
  http.Get("/stats/quit", [&](const httplib::Request&, httplib::Response& response) {
    response.set_content(tally.Json(), "application/json");
    std::thread([&http] { http.stop(); }).detach();
  });
  int http_port = http.bind_to_any_port("127.0.0.1");
  if (http_port <= 0) {
    std::fprintf(stderr, "w1_sinks: cannot bind the HTTP port\n");
    return 2;
  }
  std::thread watch_stdin([&http] {
    std::string ignored;
    while (std::getline(std::cin, ignored)) {
    }
    http.stop();
  });
  watch_stdin.detach();
  std::printf("http %d\nsmtp %d\n", http_port, smtp_port);
  std::fflush(stdout);
  http.listen_after_bind();
  std::fflush(stdout);
  std::_Exit(0);  // detached connection threads may still block in recv
}
