// HttpAction: the `http` step. Sends one HTTP(S) request with cpp-httplib and returns
// `{status, headers, body}`, where body is parsed when the response is JSON.
//
// Arguments: method (default GET), url (http or https only), headers, query (name -> scalar or
// list), at most one of json / body / form, timeout (a duration; default http.timeout of the
// config), expect (statuses or "2xx"-style classes; default 2xx).
//
// Behaviour a careful client has:
//   - TLS is verified against the system CA bundle (or HttpActionOptions::ca_file), host included.
//   - Connect and read timeouts; the attempt's deadline caps both.
//   - Redirects are followed up to max_redirects; each hop is checked against allow/deny hosts;
//     an https -> http downgrade is refused; credentials are dropped when the origin changes.
//   - The body read stops at max_response_bytes with a clear, non-retried error.
//   - Retried (kUnavailable, kDeadlineExceeded, kResourceExhausted): connection errors, timeouts,
//     5xx and 429, with Retry-After (seconds or an HTTP date) as retry_after_ms. Other statuses
//     outside `expect` fail for good (kFailedPrecondition).
//   - `Idempotency-Key: <run id>/<step key>` is sent unless the flow sets that header itself.
//   - CR, LF or NUL in header names or values, and non-token header names, are refused before
//     anything is sent.
//   - Keep-alive connections are reused per origin (HttpConnectionPool).
//
// Thread-safety: Execute may run concurrently from many threads.
#pragma once

#include <memory>
#include <string>

#include "actions/action.h"
#include "actions/http_connection_pool.h"
#include "common/clock.h"
#include "config/config.h"
#include "config/secrets.h"

namespace flowrun {

struct HttpActionOptions {
  HttpConfig limits;       // timeouts, response size, allowed and denied hosts
  std::string ca_file;     // extra trust anchors replacing the system bundle; for tests
  bool keep_alive = true;  // Default: reuse connections
  int max_redirects = 5;   // Default: 5 hops
  size_t max_idle_per_origin = 8;
  const Clock* clock = nullptr;              // for Retry-After dates; Default: system clock
  const SecretRedactor* redactor = nullptr;  // applied to error messages; may be null
};

class HttpAction final : public Action {
 public:
  explicit HttpAction(HttpActionOptions options);

  std::string_view name() const override { return "http"; }
  Status CheckArguments(const Json& raw_arguments) const override;
  // Runs the attempt on the calling thread, then calls `done` (to be replaced by the I/O loop).
  void Start(ActionRequest request, ActionCallback done) override;

  const HttpConnectionPool& TEST_pool() const { return pool_; }

 private:
  StatusOr<Json> ExecuteBlocking(const ActionRequest& request);
  StatusOr<Json> ExecuteUnredacted(const ActionRequest& request);

  const HttpActionOptions options_;
  SystemClock system_clock_;
  HttpConnectionPool pool_;
};

// True when `host` may be called under `limits` (deny first, then allow when non-empty).
// Patterns are exact names or "*.domain" for any subdomain; comparison ignores case.
bool HttpHostAllowed(const HttpConfig& limits, std::string_view host);

// Parses a Retry-After value (delta seconds or an IMF-fixdate) into milliseconds from `now`;
// nullopt when it is neither. Dates in the past give 0.
std::optional<long long> ParseRetryAfter(std::string_view value, TimePoint now);

}  // namespace flowrun
