// PlainHttpClient: HTTP/1.1 over plain TCP (http:// without a proxy) on the OutboundLoop, for
// the `http` action (http_action.h). It exists for memory: libcurl holds about 15 KB of resident
// memory per transfer in flight (bench/curl_memory_bench), and an orchestrator keeps thousands in
// flight against slow APIs. Here a request in flight holds its connection (LoopStream), its
// encoded request while it is written, and the response read so far. https, and every request
// when a proxy variable is set, stay with libcurl.
//
// Connections: per origin (host and port), at most max_connections_per_host are open or opening,
// and at most max_total_connections over all origins. A request takes an idle kept connection, or
// opens one while under both bounds (closing an idle connection of another origin when only the
// total bound is in the way), or waits in memory, in arrival order, for one to free up. A
// connection whose response was complete and reusable (HTTP/1.1 keep-alive, a body framed by length
// or chunks, nothing after it) is kept for the next request, for at most idle_timeout, at most
// max_idle_per_origin per origin; an idle connection the server spoke on or closed meanwhile is
// dropped, not used. A kept connection that ends before any byte of the response gets its request
// once more on a new connection, as browsers and libcurl do (the server closed it while the request
// was on its way).
//
// Responses are parsed with Boost.Beast's parser: chunked and length-framed bodies and bodies
// that end with the connection, interim 1xx responses skipped, HEAD without a body. Limits:
// headers at most 64 KB; the body at most max_body_bytes (PlainHttpResult::too_large, and the
// connection is closed).
//
// Time: DNS and connect are bounded by connect_until, everything (the wait for a connection
// included) by until. A request that outlives either ends with kDeadlineExceeded; `connected` in
// the result says whether it had a connection by then.
//
// Errors: kUnavailable for a refused or broken connection, a malformed response, a name that does
// not resolve, or the loop stopping ("the service is shutting down"); kDeadlineExceeded as above.
//
// Thread-safety: Send and in_flight from any thread; `done` runs on the loop thread (after the
// loop has stopped: on the caller's), exactly once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "actions/outbound_loop.h"
#include "common/duration.h"
#include "common/status.h"

namespace flowrun {

struct PlainHttpRequest {
  std::string host;  // a name, or an IP literal (IPv6 without brackets)
  int port = 80;
  std::string method;
  std::string target;                                        // path and query, encoded
  std::vector<std::pair<std::string, std::string>> headers;  // sent as given, after Host
  std::string body;  // sent with Content-Length when non-empty or when the method carries one
  SteadyTime connect_until;
  SteadyTime until;
  long long max_body_bytes = 0;
};

struct PlainHttpResult {
  Status error;                        // OK when a response came
  bool connected = false;              // the request had a connection when it ended
  bool too_large = false;              // the body went over max_body_bytes
  bool stopped = false;                // ended because the loop stopped or the client went away
  bool waited_for_connection = false;  // its time ran out while it waited for a free connection
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
};

struct PlainHttpClientOptions {
  size_t max_connections_per_host = 256;  // Default: 256 (http.max_connections_per_host)
  size_t max_total_connections = 10000;   // all origins; 0: no bound (http.max_connections)
  size_t max_idle_per_origin = 1024;      // Default: 1024
  Duration idle_timeout = std::chrono::seconds(60);  // an idle connection is closed after it
  bool keep_alive = true;                            // Default: reuse connections
};

class PlainHttpClient {
 public:
  using Done = std::function<void(PlainHttpResult result)>;

  // `loop` must outlive the client, and run (or have stopped) for requests to end.
  PlainHttpClient(OutboundLoop& loop, PlainHttpClientOptions options);
  // Ends its waiting and in-flight requests with kUnavailable ("the service is shutting down")
  // and closes idle connections, on the loop thread; does not wait.
  ~PlainHttpClient();
  PlainHttpClient(const PlainHttpClient&) = delete;
  PlainHttpClient& operator=(const PlainHttpClient&) = delete;

  void Send(PlainHttpRequest request, Done done);
  // Requests sent and not yet ended (waiting for a connection included).
  long long in_flight() const;
  // Origins with a connection (open, opening or idle) or a request: an origin's state goes once
  // it has neither.
  size_t origins_held() const;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace flowrun
