#include "server/http_server.h"

#include <sys/resource.h>
#include <sys/socket.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <limits>
#include <optional>

#include "common/log.h"
#include "common/thread_annotations.h"

namespace flowrun {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

// How long a closing connection reads (and drops) what the client still sends, so that the
// client reads the answer before the connection is reset; and how much at most. A connection
// lingers only when the client may still be sending: after a refusal (the body may be unread),
// or when bytes beyond the answered request have arrived. Otherwise it closes at once (nothing
// unread, so the close sends a FIN after the answer, not a reset).
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 1 << 20;
// The smallest read while lingering; the connection's read buffer is reused, so draining
// allocates nothing.
constexpr size_t kMinDrainChunk = 1024;
// The first read of a request. Below 1 KiB, so that glibc serves the buffer from its per-thread
// cache: a larger block would make malloc consolidate its free lists on every connection.
constexpr size_t kFirstRead = 960;
// How long a connection must have waited without a byte before a newcomer may evict it, so that
// a client that has just connected is not evicted before its request arrives.
constexpr auto kMinIdleBeforeEviction = std::chrono::seconds(1);

// Appends a whole response to `out`: the status line, `headers` (less any Content-Length or
// Connection of the handler's: the server sets those), Content-Length and the body (none for
// 1xx, 204 and 304; the length without the body for HEAD), and Connection as `keep` and the
// HTTP version ask.
void AppendResponse(std::string& out, int status, unsigned version, const HttpHeaders& headers,
                    std::string_view body, bool keep, bool head) {
  beast::string_view reason = http::obsolete_reason(static_cast<http::status>(status));
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10 % 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
  out += ' ';
  out += std::to_string(status);
  out += ' ';
  out.append(reason.data(), reason.size());
  out += "\r\n";
  for (const auto& [name, value] : headers) {
    if (beast::iequals(name, "Content-Length") || beast::iequals(name, "Connection")) continue;
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
  }
  const bool has_body = status != 204 && status != 304 && !(status >= 100 && status < 200);
  if (has_body) {
    out += "Content-Length: ";
    out += std::to_string(body.size());
    out += "\r\n";
  }
  if (version >= 11 && !keep) out += "Connection: close\r\n";
  if (version < 11 && keep) out += "Connection: keep-alive\r\n";
  out += "\r\n";
  if (has_body && !head) out.append(body.data(), body.size());
}

}  // namespace

long long RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return limit.rlim_cur == RLIM_INFINITY ? -1 : static_cast<long long>(limit.rlim_cur);
}

// The number of I/O threads for `config`: io_threads, or one per core.
int IoThreads(const ServerConfig& config) {
  return config.io_threads > 0 ? config.io_threads
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

struct HttpServer::State {
  State(const ServerConfig& config, Handler handler, BodyLimit body_limit, ErrorResponse error)
      : config(config),
        handler(std::move(handler)),
        body_limit(std::move(body_limit)),
        error(std::move(error)),
        contexts(MakeContexts(IoThreads(config))),
        acceptor(contexts.front()->get_executor()),
        accept_retry(acceptor.get_executor()) {
    for (auto& context : contexts) guards.emplace_back(net::make_work_guard(*context));
  }

  // One io_context per I/O thread, each run by its thread alone: a connection lives on one of
  // them, so its handlers never run concurrently without a strand (nor a strand's locking).
  static std::vector<std::unique_ptr<net::io_context>> MakeContexts(int count) {
    std::vector<std::unique_ptr<net::io_context>> out;
    for (int i = 0; i < count; ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }

  // The context for the next connection, in turn.
  net::io_context& NextContext() { return *contexts[next_context++ % contexts.size()]; }

  // The bytes of a whole error response, for the connections refused at accept.
  std::string RefusalBytes(int status, std::string message) {
    HttpResponse response = error(HttpRequest{}, status, std::move(message));
    std::string out;
    AppendResponse(out, status, 11, response.headers, response.body, /*keep=*/false,
                   /*head=*/false);
    return out;
  }

  const ServerConfig config;
  const Handler handler;
  const BodyLimit body_limit;
  const ErrorResponse error;

  std::atomic<int> open{0};
  std::atomic<bool> stopping{false};
  Mutex mu;
  std::condition_variable drained;
  std::unordered_map<std::string, int> per_ip FLOWRUN_GUARDED_BY(mu);
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions FLOWRUN_GUARDED_BY(mu);
  // Connections that became idle, oldest first, with the time they did (entries go stale when a
  // connection gets a request; Accept skips those, and MarkEvictable compacts the queue).
  std::deque<std::pair<std::weak_ptr<Session>, std::chrono::steady_clock::rep>> idle_queue
      FLOWRUN_GUARDED_BY(mu);
  // On the first context's thread (the acceptor's):
  bool accept_error_logged = false;
  tcp::endpoint accept_peer;  // the address of the connection being accepted
  size_t next_context = 0;

  std::vector<std::unique_ptr<net::io_context>> contexts;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
};

// One connection. Every member is touched only on the connection's I/O thread.
class HttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<State> state, tcp::socket socket, std::string ip)
      : state_(std::move(state)), stream_(std::move(socket)), ip_(std::move(ip)) {}

  ~Session() {
    MutexLock lock(state_->mu);
    auto count = state_->per_ip.find(ip_);
    if (count != state_->per_ip.end() && --count->second <= 0) state_->per_ip.erase(count);
    state_->sessions.erase(this);
    state_->open.fetch_sub(1);
    state_->drained.notify_all();
  }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->WaitForRequest(std::chrono::steady_clock::now() + self->config().header_timeout);
    });
  }

  // Claims this connection for eviction when it has no request under way (it waits for a first
  // byte, or lingers); false when it has one, or was claimed already. Any thread.
  bool ClaimForEviction(std::chrono::steady_clock::time_point now) {
    if (now - std::chrono::steady_clock::time_point(
                  std::chrono::steady_clock::duration(evictable_since_.load())) <
        kMinIdleBeforeEviction) {
      return false;
    }
    bool expected = true;
    return evictable_.compare_exchange_strong(expected, false);
  }

  // Shutdown: closes the connection unless a request is being handled or answered (then it
  // closes after the answer). With `force`, closes it whatever it is doing.
  void Stop(bool force) {
    net::post(stream_.get_executor(), [self = shared_from_this(), force] {
      if (force || self->phase_ != Phase::kHandling) self->Close();
    });
  }

 private:
  enum class Phase { kIdle, kHeader, kBody, kHandling, kLinger, kClosed };

  const ServerConfig& config() const { return state_->config; }

  // Waits for a request's first byte until `deadline` (the header timeout from the start for a
  // first request, the idle timeout between requests), then reads its headers until
  // `header_deadline` (header_timeout from the first byte when unset). Meanwhile the connection
  // may be evicted to make room for a new one (Accept).
  using TimePoint = std::chrono::steady_clock::time_point;
  void WaitForRequest(TimePoint deadline, bool first = true) {
    if (state_->stopping.load()) return Close();
    // A first request has one deadline for its first byte and its headers together.
    std::optional<TimePoint> header_deadline;
    if (first && request_count_ == 0) header_deadline = deadline;
    if (buffer_.size() > 0) return ReadHeader(header_deadline);  // a pipelined request is here
    phase_ = Phase::kIdle;
    MarkEvictable();
    stream_.expires_at(deadline);
    stream_.async_read_some(
        buffer_.prepare(kFirstRead),
        [self = shared_from_this(), header_deadline](beast::error_code ec, size_t n) {
          // Once a byte is in, the connection may no longer be evicted; if it was claimed in the
          // meantime, its Close is on the way.
          bool claimed = !self->evictable_.exchange(false);
          self->buffer_.commit(n);
          if (ec || claimed) return self->Close();
          self->ReadHeader(header_deadline);
        });
  }

  void ReadHeader(std::optional<TimePoint> deadline) {
    phase_ = Phase::kHeader;
    ++request_count_;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(config().max_header_bytes));
    parser_->body_limit(std::numeric_limits<uint64_t>::max());  // decided once the path is known
    request_ = std::make_shared<HttpRequest>();
    beast::error_code ec = ParseBuffered();
    if (ec || parser_->is_header_done()) return OnHeader(ec);
    stream_.expires_at(
        deadline.value_or(std::chrono::steady_clock::now() + config().header_timeout));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return Refuse(431, "the request line and headers are over the limit of " +
                             std::to_string(config().max_header_bytes) + " bytes");
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::eof ||
        ec == net::error::connection_reset) {
      return Close();
    }
    if (ec) return Refuse(400, "malformed request: " + ec.message());
    const auto& header = parser_->get();
    HttpRequest& request = *request_;
    request.method = std::string(header.method_string());
    request.target = std::string(header.target());
    size_t query = request.target.find('?');
    request.path = DecodePath(std::string_view(request.target).substr(0, query));
    if (query != std::string::npos) request.params = ParseQuery(request.target.substr(query + 1));
    request.remote_ip = ip_;
    for (const auto& field : header) {
      request.headers.emplace(std::string(field.name_string()), std::string(field.value()));
    }
    for (const auto& [name, value] : request.headers) {
      if (name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
        return Refuse(400, "malformed request: a header holds a NUL byte");
      }
    }
    if (header.version() >= 11 && header.find(http::field::host) == header.end()) {
      return Refuse(400, "an HTTP/1.1 request must carry a Host header");
    }
    const long long limit = state_->body_limit(request.method, request.path);
    std::optional<uint64_t> length;
    if (auto content_length = parser_->content_length()) length = *content_length;
    if (length.has_value() && *length > static_cast<uint64_t>(limit)) {
      return Refuse(413, "the request body is over the limit of " + std::to_string(limit) +
                             " bytes for this route");
    }
    body_limit_ = limit;
    parser_->body_limit(static_cast<uint64_t>(limit));
    body_received_ = 0;
    if (beast::error_code body_ec = ParseBuffered()) return OnBodyError(body_ec);
    if (parser_->is_done()) return Dispatch();
    body_start_ = std::chrono::steady_clock::now();
    auto expect = header.find(http::field::expect);
    if (expect != header.end() && beast::iequals(expect->value(), "100-continue") &&
        header.version() >= 11) {
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(config().header_timeout);
      return net::async_write(stream_, net::buffer(kContinue),
                              [self = shared_from_this()](beast::error_code ec, size_t) {
                                if (ec) return self->Close();
                                self->ReadBody();
                              });
    }
    ReadBody();
  }

  void ReadBody() {
    phase_ = Phase::kBody;
    // The body must keep up min_body_bytes_per_second, after a grace of header_timeout.
    boost::optional<uint64_t> length = parser_->content_length();
    uint64_t expected = length.has_value() ? *length : body_received_ + 64 * 1024;
    auto allowed = std::chrono::milliseconds(
        expected * 1000 /
        static_cast<uint64_t>(std::max<long long>(1, config().min_body_bytes_per_second)));
    stream_.expires_at(body_start_ + config().header_timeout + allowed);
    http::async_read_some(stream_, buffer_, *parser_,
                          [self = shared_from_this()](beast::error_code ec, size_t n) {
                            self->body_received_ += n;
                            if (ec) return self->OnBodyError(ec);
                            if (self->parser_->is_done()) return self->Dispatch();
                            self->ReadBody();
                          });
  }

  void OnBodyError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Refuse(413, "the request body is over the limit of " + std::to_string(body_limit_) +
                             " bytes for this route");
    }
    if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return Close();
    }
    Refuse(400, "malformed request body: " + ec.message());
  }

  // Feeds the parser what the read buffer holds already, without reading: a request that came
  // whole (nearly every one) needs no further read, nor a timer. Stops once the header is done,
  // so that the body limit is set before a byte of the body is parsed. Running out of bytes is
  // not an error here; a parse error is returned.
  beast::error_code ParseBuffered() {
    beast::error_code ec;
    while (buffer_.size() > 0 && !parser_->is_done()) {
      const bool in_body = parser_->is_header_done();
      const size_t used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (in_body) body_received_ += used;
      if (ec == http::error::need_more) return {};
      if (ec || used == 0 || (!in_body && parser_->is_header_done())) return ec;
    }
    return ec;
  }

  void Dispatch() {
    auto& message = parser_->get();
    request_->body = std::move(message.body());
    keep_alive_ = message.keep_alive();
    version_ = message.version();
    head_ = request_->method == "HEAD";
    parser_.reset();
    phase_ = Phase::kHandling;  // no read or write runs (nor its timer) until the answer
    std::weak_ptr<Session> weak = weak_from_this();
    auto self = shared_from_this();
    Respond respond = [self](HttpResponse response) {
      net::dispatch(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
    };
    try {
      state_->handler(std::move(request_), std::move(respond));
    } catch (const std::exception& e) {
      LogError("http handler threw", {{"error", std::string(e.what())}});
      Write(state_->error(HttpRequest{}, 500, "internal error"));
    }
  }

  // Answers with an error built by State::error and closes the connection afterwards.
  void Refuse(int status, std::string message) {
    HttpRequest empty;
    const HttpRequest& request = request_ ? *request_ : empty;
    keep_alive_ = false;
    version_ = 11;
    head_ = request.method == "HEAD";
    parser_.reset();
    phase_ = Phase::kHandling;
    refused_ = true;
    Write(state_->error(request, status, std::move(message)));
  }

  // Sends the answer in one send when the socket takes it (it nearly always does), else the
  // rest asynchronously. A connection that closes afterwards with nothing more from the client
  // closes at once, and its FIN rides on the answer's last segment (MSG_MORE holds the segment
  // back until the close).
  void Write(HttpResponse response) {
    if (phase_ != Phase::kHandling) return;  // closed in the meantime (shutdown)
    const bool keep = keep_alive_ && !state_->stopping.load();
    out_.clear();
    AppendResponse(out_, response.status, version_, response.headers, response.body, keep, head_);
    const bool close_after = !keep && !MayStillSend();
    const int flags = MSG_NOSIGNAL | MSG_DONTWAIT | (close_after ? MSG_MORE : 0);
    const ssize_t sent = ::send(stream_.socket().native_handle(), out_.data(), out_.size(), flags);
    if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return Close();
    const size_t written = sent > 0 ? static_cast<size_t>(sent) : 0;
    if (written == out_.size()) return AfterWrite(keep, close_after);
    auto allowed = std::chrono::milliseconds(
        (out_.size() - written) * 1000 /
        static_cast<uint64_t>(std::max<long long>(1, config().min_body_bytes_per_second)));
    stream_.expires_after(config().header_timeout + allowed);
    net::async_write(stream_, net::buffer(out_.data() + written, out_.size() - written),
                     [self = shared_from_this(), keep](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->AfterWrite(keep, !keep && !self->MayStillSend());
                     });
  }

  // The answer is out: closes (at once when `close_now`, else after lingering), or waits for
  // the next request.
  void AfterWrite(bool keep, bool close_now) {
    if (!keep) return close_now ? Close() : Linger();
    WaitForRequest(std::chrono::steady_clock::now() + config().idle_timeout, /*first=*/false);
  }

  // Whether the client may still be sending when the connection is to close: the request was
  // refused (its body may be unread), or more bytes than the request have arrived.
  bool MayStillSend() {
    if (refused_ || buffer_.size() > 0) return true;
    beast::error_code ec;
    const size_t pending = stream_.socket().available(ec);
    return ec || pending > 0;
  }

  // Half-closes, then reads and drops what the client still sends for a moment, then closes.
  void Linger() {
    phase_ = Phase::kLinger;
    MarkEvictable();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    linger_deadline_ = std::chrono::steady_clock::now() + kLingerTime;
    buffer_.consume(buffer_.size());
    Drain();
  }

  void Drain() {
    stream_.expires_at(linger_deadline_);
    stream_.async_read_some(buffer_.prepare(std::max(buffer_.capacity(), kMinDrainChunk)),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerBytes) return self->Close();
                              self->Drain();
                            });
  }

  void MarkEvictable() {
    const auto since = std::chrono::steady_clock::now().time_since_epoch().count();
    evictable_since_.store(since);
    evictable_.store(true);
    std::vector<std::shared_ptr<Session>> released;  // freed after the lock: see ~Session
    MutexLock lock(state_->mu);
    auto& queue = state_->idle_queue;
    queue.emplace_back(weak_from_this(), since);
    if (queue.size() > 2 * state_->sessions.size() + 64) {
      std::erase_if(queue, [&released](const auto& entry) {
        std::shared_ptr<Session> session = entry.first.lock();
        bool stale = session == nullptr || !session->IdleSince(entry.second);
        if (session != nullptr) released.push_back(std::move(session));
        return stale;
      });
    }
  }

 public:
  // Whether the connection is still idle since `since` (its entry in the idle queue is current).
  bool IdleSince(std::chrono::steady_clock::rep since) const {
    return evictable_.load() && evictable_since_.load() == since;
  }

 private:
  void Close() {
    if (phase_ == Phase::kClosed) return;
    phase_ = Phase::kClosed;
    // close() alone sends the FIN (a shutdown first would cost a system call more).
    stream_.close();
    buffer_ = beast::flat_buffer();
  }

  std::shared_ptr<State> state_;
  beast::tcp_stream stream_;
  const std::string ip_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpRequest> request_;
  std::string out_;  // the answer being sent
  Phase phase_ = Phase::kIdle;
  // Waiting for a first byte, or lingering: Accept may claim it to close it.
  std::atomic<bool> evictable_{false};
  std::atomic<std::chrono::steady_clock::rep> evictable_since_{0};
  int request_count_ = 0;
  bool keep_alive_ = false;
  bool refused_ = false;  // the request being answered was refused by the server itself
  bool head_ = false;
  unsigned version_ = 11;
  std::chrono::steady_clock::time_point body_start_;
  uint64_t body_received_ = 0;
  long long body_limit_ = 0;
  std::chrono::steady_clock::time_point linger_deadline_;
  size_t drained_ = 0;
};

HttpServer::HttpServer(const ServerConfig& limits, Handler handler, BodyLimit body_limit,
                       ErrorResponse error)
    : state_(std::make_shared<State>(limits, std::move(handler), std::move(body_limit),
                                     std::move(error))) {}

HttpServer::~HttpServer() {
  Shutdown(Duration(0));
  Join();
}

int HttpServer::open_connections() const { return state_->open.load(); }

Status HttpServer::Listen(const std::string& host, int port) {
  if (!threads_.empty()) return FailedPreconditionError("the HTTP server is already listening");
  RaiseOpenFileLimit();
  beast::error_code ec;
  std::string bind_host = host == "localhost" ? "127.0.0.1" : host;
  if (bind_host.size() > 2 && bind_host.front() == '[')
    bind_host = bind_host.substr(1, bind_host.size() - 2);
  net::ip::address address = net::ip::make_address(bind_host, ec);
  if (ec) {
    return UnavailableError("cannot listen on " + host + ":" + std::to_string(port) +
                            " (not an IP address of this host)");
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
  tcp::acceptor& acceptor = state_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.set_option(tcp::no_delay(true), ec);  // inherited by accepted sockets
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor.close(ignored);
    return UnavailableError("cannot listen on " + host + ":" + std::to_string(port) + " (" +
                            ec.message() + ")");
  }
  bound_port_ = acceptor.local_endpoint().port();
  Accept(state_);
  for (auto& context : state_->contexts) {
    threads_.emplace_back([state = state_, ioc = context.get()] {
      while (true) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          LogError("http server: an I/O handler threw", {{"error", std::string(e.what())}});
        }
      }
    });
  }
  return OkStatus();
}

void HttpServer::Shutdown(Duration grace) {
  if (threads_.empty() || state_->stopping.exchange(true)) return;
  net::post(state_->acceptor.get_executor(), [state = state_] {
    beast::error_code ignored;
    state->acceptor.close(ignored);
    state->accept_retry.cancel();
  });
  auto stop_all = [this](bool force) {
    std::vector<std::shared_ptr<Session>> sessions;
    {
      MutexLock lock(state_->mu);
      for (auto& [ptr, weak] : state_->sessions) {
        if (auto session = weak.lock()) sessions.push_back(std::move(session));
      }
    }
    for (auto& session : sessions) session->Stop(force);
  };
  stop_all(false);
  {
    MutexLock lock(state_->mu);
    lock.WaitFor(state_->drained, grace,
                 [this]() FLOWRUN_REQUIRES(state_->mu) { return state_->sessions.empty(); });
  }
  stop_all(true);
}

void HttpServer::Join() {
  if (threads_.empty()) return;
  state_->guards.clear();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

namespace {

bool IsResourceShortage(const boost::system::error_code& ec) {
  return ec == boost::system::errc::too_many_files_open ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == boost::system::errc::no_buffer_space || ec == boost::system::errc::not_enough_memory;
}

}  // namespace

void HttpServer::Accept(const std::shared_ptr<State>& state) {
  state->acceptor.async_accept(
      state->NextContext().get_executor(), state->accept_peer,
      [state](beast::error_code ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !state->acceptor.is_open()) return;
        if (ec) {
          if (!state->accept_error_logged) {
            LogWarn("http server: accept failed; retrying", {{"error", ec.message()}});
            state->accept_error_logged = true;
          }
          // Out of descriptors: wait for connections to close instead of spinning.
          state->accept_retry.expires_after(IsResourceShortage(ec) ? std::chrono::milliseconds(50)
                                                                   : std::chrono::milliseconds(1));
          state->accept_retry.async_wait([state](beast::error_code wait_ec) {
            if (!wait_ec) Accept(state);
          });
          return;
        }
        state->accept_error_logged = false;
        beast::error_code ignored;
        // The peer's address as accept gave it; TCP_NODELAY comes from the listening socket
        // (Linux copies it to accepted ones), which saves two system calls a connection.
        std::string ip = state->accept_peer.address().to_string();
        std::string refusal;
        std::shared_ptr<Session> evicted;
        // Sessions looked at under the lock are released after it: a session's destructor takes it.
        std::vector<std::shared_ptr<Session>> released;
        {
          MutexLock lock(state->mu);
          int& from_ip = state->per_ip[ip];
          const auto now = std::chrono::steady_clock::now();
          if (state->open.load() >= state->config.max_connections &&
              from_ip < state->config.max_connections_per_ip) {
            // Full: make room by closing a connection that has no request under way, so that
            // idle clients cannot lock out working ones. Refuse only when there is none.
            // The oldest idle connection first; stale entries are dropped on the way.
            auto& queue = state->idle_queue;
            while (!queue.empty()) {
              auto [weak, since] = queue.front();
              std::shared_ptr<Session> candidate = weak.lock();
              if (candidate != nullptr) released.push_back(candidate);  // freed after unlock
              if (candidate == nullptr || !candidate->IdleSince(since)) {
                queue.pop_front();  // closed, or busy since
                continue;
              }
              if (now - std::chrono::steady_clock::time_point(
                            std::chrono::steady_clock::duration(since)) <
                  kMinIdleBeforeEviction) {
                break;  // idle for less than a second, as is every entry after it
              }
              queue.pop_front();
              if (candidate->ClaimForEviction(now)) {
                evicted = std::move(candidate);
                break;
              }
            }
          }
          if (state->open.load() >= state->config.max_connections && evicted == nullptr) {
            refusal = "too many connections; try again later";
          } else if (from_ip >= state->config.max_connections_per_ip) {
            refusal = "too many connections from " + ip + "; try again later";
          } else {
            ++from_ip;
            state->open.fetch_add(1);
          }
          if (from_ip == 0) state->per_ip.erase(ip);
        }
        if (evicted != nullptr) evicted->Stop(/*force=*/true);
        if (!refusal.empty()) {
          // Best effort, without waiting: the socket's send buffer takes a short answer.
          std::string bytes = state->RefusalBytes(503, refusal);
          socket.non_blocking(true, ignored);
          socket.write_some(net::buffer(bytes), ignored);
          socket.shutdown(tcp::socket::shutdown_both, ignored);
          socket.close(ignored);
        } else {
          auto session = std::make_shared<Session>(state, std::move(socket), std::move(ip));
          {
            MutexLock lock(state->mu);
            state->sessions.emplace(session.get(), session);
          }
          session->Start();
        }
        Accept(state);
      });
}

}  // namespace flowrun
