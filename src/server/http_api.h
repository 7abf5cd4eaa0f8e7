// HttpApi: flowrun's HTTP service (docs/api.md) in front of a Runtime: the
// routes (api_handlers.h) on the event-driven HttpServer (http_server.h), with a HandlerPool for
// the handlers that wait on the store and an EventIntake that group-commits the events of
// concurrent ingest requests.
//
//   POST /e/{event_key}           Inngest-compatible ingest: one event or an array of up to 5,000
//   POST /v1/events               the same, with an API token
//   GET  /v1/events[/{id}]        list (?name=&cursor=&limit=) or fetch events
//   GET  /v1/runs                 list runs (?flow=&status=&cursor=&limit=)
//   GET  /v1/runs/{id}            one run with its steps and journal, secrets redacted
//   POST /v1/runs/{id}/cancel     cancel; POST /v1/runs/{id}/rerun, optionally {"from_step": …}
//   GET  /v1/flows[/{id}]         flows with validation state, revisions and graph
//   POST /v1/flows/{id}/invoke    start a flow by hand with {"data": …}
//   GET  /v1/outbox               mail kept when no SMTP server is configured
//   POST /webhooks/{name}         inbound webhooks: signature, replay guard, transform, ingest
//   GET  /healthz, /readyz, /metrics (Prometheus)
//   GET  /, /assets/*             the dashboard (dashboard_assets.h); POST /login, /logout
//   HEAD on every GET route; OPTIONS on every path (204 with Allow)
//
// Access: with API tokens configured, /v1/*, /metrics and the dashboard require
// `Authorization: Bearer <token>` or the `flowrun_token` cookie that POST /login sets (so the
// dashboard's own requests are authenticated; the cookie is HttpOnly and SameSite=Strict). With
// event keys configured, /e/{event_key} requires one of them. Tokens and keys are compared in
// constant time. /healthz, /readyz and /webhooks/* are public (webhooks carry signatures).
//
// Every error is JSON {"error": {"code", "message"}} with its status (http_error.h), including
// the ones the server produces itself (400, 413, 431, 503), except under /e/, where errors take
// Inngest's shape {"error": "<message>", "status": <status>}. Ingest answers only after the
// events are durable. Each response is counted in flowrun_http_requests_total{route,code}, with
// the route's pattern as its label. Limits and timeouts come from Config::server.
//
// Thread-safety: Listen, Stop and the destructor must not race each other; handlers run on the
// I/O threads, the pool and the intake threads and only touch the Runtime (thread-safe) and
// immutable state.
#pragma once

#include <memory>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "server/dashboard_assets.h"
#include "server/runtime.h"

namespace flowrun {

struct HttpApiOptions {
  // Where the dashboard's files come from. Default: the files embedded in the binary.
  DashboardAssets::FileSource dashboard_files;
  // The clock for webhook timestamps and replay windows. Default (null): the system clock.
  // REQUIRES: outlives the HttpApi.
  const Clock* clock = nullptr;
  // How long Stop lets requests in progress finish. Default: 10 s.
  Duration stop_grace = std::chrono::seconds(10);
};

// Splits Config::listen ("127.0.0.1:8288", "[::1]:8288", ":8288") into host and port.
// kInvalidArgument when malformed.
[[nodiscard]] StatusOr<std::pair<std::string, int>> ParseListenAddress(std::string_view listen);

// Whether `host` is a loopback address or "localhost" (the service refuses other addresses when
// no event keys or API tokens are configured).
bool IsLoopbackHost(std::string_view host);

class HttpApi {
 public:
  // Builds the routes and the webhook endpoints of `config` (their secrets are resolved through
  // runtime.secrets()). kInvalidArgument / kNotFound, naming the webhook, for a webhook whose
  // scheme, secret or transform is bad. REQUIRES: `runtime` outlives the HttpApi.
  [[nodiscard]] static StatusOr<std::unique_ptr<HttpApi>> Create(Runtime& runtime,
                                                                 const Config& config,
                                                                 HttpApiOptions options = {});
  HttpApi(const HttpApi&) = delete;
  HttpApi& operator=(const HttpApi&) = delete;
  // Stops serving.
  ~HttpApi();

  // Binds host:port (port 0 picks a free port; see bound_port) and serves on the I/O threads.
  // Raises the soft limit on open files to the hard limit. Returns once the socket is bound.
  // kUnavailable when the address cannot be bound; kFailedPrecondition when already listening.
  [[nodiscard]] Status Listen(const std::string& host, int port);
  // Stops accepting connections, lets the requests in progress finish (up to stop_grace), stores
  // the events already accepted, closes every connection and joins the threads. Idempotent.
  void Stop();
  // The bound port, or 0 before Listen.
  int bound_port() const { return bound_port_; }

 private:
  class Impl;
  explicit HttpApi(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
  int bound_port_ = 0;
};

}  // namespace flowrun
