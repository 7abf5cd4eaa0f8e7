// w1_sinks: the loopback servers the W1 and slow-I/O benchmarks' flows call, in one process and on
// one event-loop thread (Asio), so that the load generator measures flowrun and not its sinks,
// and so that thousands of slow requests can be open at once:
//
//   - an HTTP/1.1 server that answers every POST and GET with 200 {"ok":true}, after a delay: the
//     default from --delay-ms, or N ms for a path that starts with /delay/N/. It records each
//     request's Idempotency-Key, and keeps connections alive;
//   - an SMTP sink that accepts every message (no TLS, no AUTH) and records each Message-ID; it
//     offers PIPELINING (RFC 2920) and answers pipelined commands in order. With --smtp-delay-ms
//     it answers the end of each message's data that much later, as a server that scans or
//     relays before it accepts; the connection's later commands wait behind it.
//
// It prints "http PORT" and "smtp PORT" on stdout once both listen, then serves until stdin
// closes or GET /stats/quit is called. GET /stats answers at once with the counts the benchmarks
// check:
//   {"http_requests", "idempotency_keys" (distinct), "smtp_messages", "message_ids" (distinct),
//    "smtp_connections", "http_connections", "most_in_flight" (requests open at once)}
//
// Usage: w1_sinks [--delay-ms N] [--smtp-delay-ms N]   (Defaults: 0, answer at once)
// clang-format off
#include <utility>  // before Asio: Boost 1.74 uses std::exchange without including it
#include <boost/asio.hpp>
// clang-format on
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <unordered_set>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// What the benchmarks check. Touched only on the loop's thread.
struct Tally {
  long long http_requests = 0;
  long long smtp_messages = 0;
  long long smtp_connections = 0;
  long long http_connections = 0;
  long long in_flight = 0;
  long long most_in_flight = 0;
  std::unordered_set<std::string> keys;
  std::unordered_set<std::string> message_ids;

  std::string Json() const {
    return "{\"http_requests\":" + std::to_string(http_requests) +
           ",\"idempotency_keys\":" + std::to_string(keys.size()) +
           ",\"smtp_messages\":" + std::to_string(smtp_messages) +
           ",\"message_ids\":" + std::to_string(message_ids.size()) +
           ",\"smtp_connections\":" + std::to_string(smtp_connections) +
           ",\"http_connections\":" + std::to_string(http_connections) +
           ",\"most_in_flight\":" + std::to_string(most_in_flight) + "}";
  }
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

// The value of header `name` in a request head, or "".
std::string HeaderValue(std::string_view head, std::string_view name) {
  size_t at = 0;
  while ((at = head.find("\r\n", at)) != std::string_view::npos) {
    at += 2;
    std::string_view line = head.substr(at, head.find("\r\n", at) - at);
    if (line.size() > name.size() && line[name.size()] == ':' && StartsWithIgnoreCase(line, name)) {
      std::string_view value = line.substr(name.size() + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      return std::string(value);
    }
  }
  return "";
}

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket socket, Tally& tally, int default_delay_ms, std::function<void()> quit)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        tally_(tally),
        default_delay_ms_(default_delay_ms),
        quit_(std::move(quit)) {}

  void Start() {
    socket_.set_option(tcp::no_delay(true));
    ++tally_.http_connections;
    ReadRequest();
  }

 private:
  void ReadRequest() {
    asio::async_read_until(socket_, asio::dynamic_buffer(buffer_), "\r\n\r\n",
                           [self = shared_from_this()](boost::system::error_code error, size_t n) {
                             if (!error) self->OnHead(n);
                           });
  }

  void OnHead(size_t head_size) {
    std::string head = buffer_.substr(0, head_size);
    size_t body_size = 0;
    if (std::string length = HeaderValue(head, "Content-Length"); !length.empty()) {
      body_size = std::strtoull(length.c_str(), nullptr, 10);
    }
    const size_t total = head_size + body_size;
    auto answer = [self = shared_from_this(), head = std::move(head), total]() {
      self->buffer_.erase(0, total);
      self->Answer(head);
    };
    if (buffer_.size() >= total) {
      answer();
      return;
    }
    asio::async_read(socket_, asio::dynamic_buffer(buffer_),
                     asio::transfer_exactly(total - buffer_.size()),
                     [answer](boost::system::error_code error, size_t) {
                       if (!error) answer();
                     });
  }

  void Answer(const std::string& head) {
    std::string_view target(head);
    target = target.substr(target.find(' ') + 1);
    target = target.substr(0, target.find(' '));
    if (target == "/stats" || target == "/stats/quit") {
      Reply(tally_.Json());
      if (target == "/stats/quit") quit_();
      return;
    }
    ++tally_.http_requests;
    if (std::string key = HeaderValue(head, "Idempotency-Key"); !key.empty()) {
      tally_.keys.insert(std::move(key));
    }
    int delay_ms = default_delay_ms_;
    if (target.substr(0, 7) == "/delay/")
      delay_ms = std::atoi(std::string(target.substr(7)).c_str());
    if (delay_ms <= 0) {
      Reply("{\"ok\":true}");
      return;
    }
    tally_.most_in_flight = std::max(tally_.most_in_flight, ++tally_.in_flight);
    timer_.expires_after(std::chrono::milliseconds(delay_ms));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code) {
      --self->tally_.in_flight;
      self->Reply("{\"ok\":true}");
    });
  }

  void Reply(const std::string& body) {
    reply_ = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body;
    asio::async_write(socket_, asio::buffer(reply_),
                      [self = shared_from_this()](boost::system::error_code error, size_t) {
                        if (!error) self->ReadRequest();
                      });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  Tally& tally_;
  const int default_delay_ms_;
  std::function<void()> quit_;
  std::string buffer_;
  std::string reply_;
};

class SmtpConnection : public std::enable_shared_from_this<SmtpConnection> {
 public:
  SmtpConnection(tcp::socket socket, Tally& tally, const int& delay_ms)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        tally_(tally),
        delay_ms_(delay_ms) {}

  void Start() {
    socket_.set_option(tcp::no_delay(true));
    ++tally_.smtp_connections;
    Send("220 w1-sink ESMTP\r\n");
    Read();
  }

 private:
  void Read() {
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](boost::system::error_code error, size_t n) {
                              if (error) return;
                              self->buffer_.append(self->chunk_, n);
                              if (self->Process() == kReading) self->Read();
                            });
  }

  enum State { kReading, kDelaying, kClosed };

  // Answers every complete line in the buffer, in order. With a delay, stops after the end of a
  // message's data and goes on (answering it first) when the delay has passed.
  State Process() {
    std::string replies;
    size_t start = 0;
    State state = kReading;
    for (size_t end; state == kReading && (end = buffer_.find('\n', start)) != std::string::npos;
         start = end + 1) {
      std::string_view line(buffer_.data() + start, end - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (in_data_) {
        if (line == ".") {
          in_data_ = false;
          ++tally_.smtp_messages;
          if (!message_id_.empty()) tally_.message_ids.insert(message_id_);
          if (delay_ms_ > 0) {
            state = kDelaying;
          } else {
            replies += "250 OK\r\n";
          }
        } else if (in_headers_) {
          if (line.empty()) in_headers_ = false;
          if (StartsWithIgnoreCase(line, "Message-ID:")) {
            std::string_view id = line.substr(11);
            while (!id.empty() && (id.front() == ' ' || id.front() == '\t')) id.remove_prefix(1);
            message_id_ = std::string(id);
          }
        }
      } else if (StartsWithIgnoreCase(line, "EHLO") || StartsWithIgnoreCase(line, "HELO")) {
        replies += "250-w1-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";
      } else if (StartsWithIgnoreCase(line, "DATA")) {
        in_data_ = in_headers_ = true;
        message_id_.clear();
        replies += "354 go ahead\r\n";
      } else if (StartsWithIgnoreCase(line, "QUIT")) {
        replies += "221 bye\r\n";
        state = kClosed;
      } else {
        replies += "250 OK\r\n";  // MAIL, RCPT, RSET, NOOP
      }
    }
    buffer_.erase(0, start);
    if (!replies.empty()) Send(std::move(replies));
    if (state == kDelaying) {
      timer_.expires_after(std::chrono::milliseconds(delay_ms_));
      timer_.async_wait([self = shared_from_this()](boost::system::error_code error) {
        if (error) return;
        self->Send("250 OK\r\n");
        if (self->Process() == kReading) self->Read();
      });
    }
    return state;
  }

  // Writes are queued so that replies keep their order.
  void Send(std::string text) {
    const bool idle = outbox_.empty();
    outbox_ += text;
    if (idle) Flush();
  }
  void Flush() {
    writing_ = std::move(outbox_);
    outbox_.clear();
    asio::async_write(socket_, asio::buffer(writing_),
                      [self = shared_from_this()](boost::system::error_code error, size_t) {
                        if (!error && !self->outbox_.empty()) self->Flush();
                      });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  Tally& tally_;
  const int delay_ms_;
  char chunk_[16384];
  std::string buffer_;
  std::string outbox_;
  std::string writing_;
  bool in_data_ = false;
  bool in_headers_ = false;
  std::string message_id_;
};

template <typename Connection, typename... Args>
void Accept(tcp::acceptor& acceptor, Args&... args) {
  acceptor.async_accept([&acceptor, &args...](boost::system::error_code error, tcp::socket socket) {
    if (!error) std::make_shared<Connection>(std::move(socket), args...)->Start();
    Accept<Connection>(acceptor, args...);
  });
}

}  // namespace

int main(int argc, char** argv) {
  int delay_ms = 0;
  int smtp_delay_ms = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc) {
      delay_ms = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--smtp-delay-ms") == 0 && i + 1 < argc) {
      smtp_delay_ms = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: w1_sinks [--delay-ms N] [--smtp-delay-ms N]\n");
      return 2;
    }
  }
  // Thousands of slow requests are open at once.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  asio::io_context io(1);
  Tally tally;
  const auto loopback = asio::ip::make_address("127.0.0.1");
  tcp::acceptor http(io, tcp::endpoint(loopback, 0));
  tcp::acceptor smtp(io, tcp::endpoint(loopback, 0));
  http.listen(4096);
  smtp.listen(4096);
  std::function<void()> quit = [&io] { io.stop(); };
  Accept<HttpConnection>(http, tally, delay_ms, quit);
  Accept<SmtpConnection>(smtp, tally, smtp_delay_ms);
  std::thread([&io] {
    std::string ignored;
    while (std::getline(std::cin, ignored)) {
    }
    io.stop();
  }).detach();
  std::printf("http %d\nsmtp %d\n", http.local_endpoint().port(), smtp.local_endpoint().port());
  std::fflush(stdout);
  io.run();
  std::_Exit(0);
}
