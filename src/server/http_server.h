// HttpServer: the event-driven HTTP/1.1 server under the API (Boost.Beast on Asio). A fixed set
// of I/O threads (about one per core) serves any number of connections: a connection costs its
// buffers, never a thread. It knows nothing of routes; HttpApi (http_api.h) gives it a handler.
//
// What it enforces itself (ServerConfig, docs/api.md "Limits and timeouts"):
//   - a request's line and headers within header_timeout of its first byte (of the connection's
//     start for the first request), and the next request within idle_timeout on a kept-alive
//     connection; the body at min_body_bytes_per_second at least, after a grace of
//     header_timeout; a response the client does not read is dropped on the same terms;
//   - at most max_connections connections, and max_connections_per_ip from one address. When all
//     max_connections are open, a new connection takes the place of one that has no request
//     under way (idle, or waiting for its first byte, for a second at least), which is closed;
//     only when every
//     connection is busy is the new one answered 503 and closed (so the count may pass the
//     maximum by the few evicted connections still closing). Over the per-address limit, 503;
//   - 431 for a request line plus headers over max_header_bytes; 400 for a malformed request, an
//     HTTP/1.1 request without Host, or a NUL byte in a header; 413, decided from Content-Length
//     before any `100 Continue` is sent and before the body is read, over the body limit that
//     `body_limit` gives for the method and path (a chunked body is cut off at the limit);
//   - pipelined requests are read one at a time and answered in order; a HEAD response carries
//     the headers of the GET response (Content-Length included) without its body.
// A refused request gets the response `error` builds, and its connection is closed (the rest of
// an unread body is drained for a moment first, so that the client sees the answer).
//
// Requests reach `handler` on an I/O thread, which must not block: it answers through `respond`,
// at once or later from any thread, exactly once. Reading the next request waits for the answer.
//
// Thread-safety: Listen, Shutdown and Join are called from one thread, in that order; the
// callbacks run on the I/O threads.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "server/http_message.h"

namespace flowrun {

class HttpServer {
 public:
  // Answers one request; callable from any thread, once.
  using Respond = std::function<void(HttpResponse response)>;
  using Handler = std::function<void(std::shared_ptr<HttpRequest> request, Respond respond)>;
  // The largest body accepted for `method` and `path`.
  using BodyLimit = std::function<long long(std::string_view method, std::string_view path)>;
  // The response for a request the server refuses itself (400, 413, 431, 503); `request` has the
  // method, path and headers when they were read, else it is empty.
  using ErrorResponse =
      std::function<HttpResponse(const HttpRequest& request, int status, std::string message)>;

  // Resolved limits: `limits` as in ServerConfig, with io_threads filled in.
  // REQUIRES: every callback is set.
  HttpServer(const ServerConfig& limits, Handler handler, BodyLimit body_limit,
             ErrorResponse error);
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  // Shutdown(0) and Join, when not done yet.
  ~HttpServer();

  // Binds host:port (0 picks a free port) and starts the I/O threads. kUnavailable when the
  // address cannot be bound; kFailedPrecondition when called twice.
  [[nodiscard]] Status Listen(const std::string& host, int port);
  // Stops accepting, closes idle connections, lets requests in progress answer for up to `grace`,
  // then closes every connection. Answers given after that are dropped. Idempotent.
  void Shutdown(Duration grace);
  // Waits for the I/O threads to finish once nothing more can reach them (after Shutdown, and
  // after whatever holds a Respond has let go of it). Idempotent.
  void Join();

  int bound_port() const { return bound_port_; }
  // Connections open now.
  int open_connections() const;

 private:
  class Session;
  struct State;

  // Accepts connections until the acceptor closes.
  static void Accept(const std::shared_ptr<State>& state);

  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
  int bound_port_ = 0;
};

// Raises this process's soft limit on open files to its hard limit (a server with many
// connections needs one descriptor each); returns the soft limit now in force.
long long RaiseOpenFileLimit();

}  // namespace flowrun
