// HttpAction: the `http` step. Sends one HTTP(S) request on the shared OutboundLoop
// (outbound_loop.h), and returns `{status, headers, body}`, where body is parsed when the response
// is JSON. Start returns at once; no thread waits on the network. http:// goes through the
// plain-http client (plain_http_client.h: a few hundred bytes per request in flight, where libcurl
// holds about 15 KB); https://, and every request when a proxy variable (http_proxy, all_proxy)
// is set, go through libcurl.
//
// Arguments: method (default GET), url (http or https only), headers, query (name -> scalar or
// list), at most one of json / body / form, timeout (a duration; default http.timeout of the
// config), expect (statuses or "2xx"-style classes; default 2xx).
//
// Behaviour a careful client has:
//   - TLS is verified against the system CA bundle (or HttpActionOptions::ca_file), host included.
//   - The attempt's time (the step's timeout, capped by its deadline) bounds the whole attempt:
//     DNS, connect (also bounded by http.connect_timeout), TLS and the exchange, every redirect
//     hop included. A peer that never answers or trickles bytes fails with kDeadlineExceeded.
//   - Redirects are followed by hand up to max_redirects; each hop is checked against allow/deny
//     hosts; an https -> http downgrade is refused; credentials (Authorization, Cookie) are
//     dropped when the origin changes.
//   - The body read stops at max_response_bytes with a clear, non-retried error, so an endless
//     body costs at most that much memory.
//   - Retried (kUnavailable, kDeadlineExceeded, kResourceExhausted): connection errors, timeouts,
//     5xx and 429, with Retry-After (seconds or an HTTP date) as retry_after_ms. Other statuses
//     outside `expect` fail for good (kFailedPrecondition).
//   - `Idempotency-Key: <run id>/<step key>` is sent unless the flow sets that header itself, and
//     `User-Agent: flowrun` unless the flow sets one.
//   - CR, LF or NUL in header names or values, and non-token header names, are refused before
//     anything is sent.
//   - Connections are kept and reused (HTTP/1.1 keep-alive; for https libcurl's connection cache,
//     with HTTP/2 multiplexing); the proxies named by the standard variables (http_proxy,
//     https_proxy, all_proxy, no_proxy) are used. Connections per host are bounded
//     (http.max_connections_per_host); requests beyond it wait in memory for a connection.
//   - Shutdown: an attempt still in flight when the loop stops fails with kUnavailable
//     ("shutting down"), so that it is retried after the restart.
//
// Thread-safety: Start may run concurrently from many threads.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actions/action.h"
#include "actions/http/plain_http_client.h"
#include "actions/outbound_loop.h"
#include "common/clock.h"
#include "common/thread_annotations.h"
#include "config/config.h"
#include "config/secrets.h"

namespace flowrun {

struct HttpActionOptions {
  HttpConfig limits;       // timeouts, response size, allowed and denied hosts
  std::string ca_file;     // extra trust anchors replacing the system bundle; for tests
  bool keep_alive = true;  // Default: reuse connections
  int max_redirects = 5;   // Default: 5 hops
  // The loop that performs the transfers; must outlive the action. Null: the action makes and
  // runs a loop of its own (tests, tools), with limits.max_connections_per_host.
  OutboundLoop* loop = nullptr;
  const Clock* clock = nullptr;              // for deadlines and Retry-After; Default: system clock
  const SecretRedactor* redactor = nullptr;  // applied to error messages; may be null
};

class HttpAction final : public Action {
 public:
  explicit HttpAction(HttpActionOptions options);
  ~HttpAction() override;

  std::string_view name() const override { return "http"; }
  // Requests of the plain-http client in flight (waiting for a connection included); libcurl's
  // transfers are counted by the loop (OutboundLoop::Stats).
  long long PlainRequestsInFlight() const { return plain_ ? plain_->in_flight() : 0; }
  Status CheckArguments(const Json& raw_arguments) const override;
  void Start(ActionRequest request, ActionCallback done) override;

 private:
  struct Attempt;
  void StartHop(std::unique_ptr<Attempt> attempt);
  void FinishHop(std::unique_ptr<Attempt> attempt, CURLcode code);
  void Finish(std::unique_ptr<Attempt> attempt, StatusOr<Json> result);
  // Decides what a finished hop means: a result, or nullopt when the next hop has been set up.
  std::optional<StatusOr<Json>> Judge(Attempt& attempt, CURLcode code);
  // The same for a hop sent by the plain-http client.
  std::optional<StatusOr<Json>> JudgePlain(Attempt& attempt, PlainHttpResult result);
  // What a received response means: a result, or nullopt when it redirects to the next hop.
  std::optional<StatusOr<Json>> JudgeResponse(Attempt& attempt, long status);
  void StartPlainHop(std::unique_ptr<Attempt> attempt);
  CURL* TakeHandle();
  void KeepHandle(CURL* easy);

  const HttpActionOptions options_;
  SystemClock system_clock_;
  std::unique_ptr<OutboundLoop> own_loop_;  // when options_.loop is null
  OutboundLoop* loop_;
  std::unique_ptr<PlainHttpClient> plain_;  // http:// hops; null when a proxy variable is set
  Mutex handles_mu_;
  std::vector<CURL*> idle_handles_ FLOWRUN_GUARDED_BY(handles_mu_);  // reused, not reallocated
};

// True when `host` may be called under `limits` (deny first, then allow when non-empty).
// Patterns are exact names or "*.domain" for any subdomain; comparison ignores case.
bool HttpHostAllowed(const HttpConfig& limits, std::string_view host);

// Parses a Retry-After value (delta seconds or an IMF-fixdate) into milliseconds from `now`;
// nullopt when it is neither. Dates in the past give 0.
std::optional<long long> ParseRetryAfter(std::string_view value, TimePoint now);

}  // namespace flowrun
