// The pieces the HTTP API's route groups share: the handler signature, the state handlers read
// (ApiContext), response helpers, and one Add…Routes function per route group, each defined in
// its own file (event_routes.cc, run_routes.cc, flow_routes.cc, webhook_routes.cc,
// ops_routes.cc, dashboard_routes.cc). http_api.cc calls them in order.
//
// Handlers run where their ApiHandler::Mode says. They read ApiContext, which is immutable once the
// routes are built apart from the Runtime and the ReplayGuard, both thread-safe. Handlers never
// throw on bad input: every failure becomes an HttpError response.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include "common/clock.h"
#include "common/json.h"
#include "common/percent_encoding.h"
#include "config/config.h"
#include "server/api_router.h"
#include "server/bearer_auth.h"
#include "server/dashboard_assets.h"
#include "server/http_error.h"
#include "server/http_message.h"
#include "server/runtime.h"
#include "server/webhooks/replay_guard.h"
#include "server/webhooks/webhook_endpoint.h"

namespace flowrun {

class EventIntake;
class HandlerPool;

// A route's handler and where it runs. The server's I/O threads must never wait, so:
//   - kBlocking (the default, made from a plain function): runs on the HandlerPool; it may query
//     or write the store;
//   - kInline: runs on the I/O thread itself; only for handlers that never wait or do much work
//     (health checks);
//   - kAsync: runs on the I/O thread and must return at once, handing its work on (to the
//     EventIntake, the pool) and answering later through `reply`, exactly once, from any thread.
struct ApiHandler {
  using Sync = std::function<void(const HttpRequest& request, const PathParams& params,
                                  HttpResponse& response)>;
  using Reply = std::function<void(HttpResponse response)>;
  using Async = std::function<void(std::shared_ptr<const HttpRequest> request, PathParams params,
                                   Reply reply)>;
  enum class Mode { kBlocking, kInline, kAsync };

  template <typename F>
  requires std::is_invocable_v<F&, const HttpRequest&, const PathParams&, HttpResponse&> ApiHandler(
      F f)
      : mode(Mode::kBlocking), sync(std::move(f)) {}  // NOLINT: implicit on purpose

  static ApiHandler Inline(Sync f) {
    ApiHandler handler(std::move(f));
    handler.mode = Mode::kInline;
    return handler;
  }
  static ApiHandler MakeAsync(Async f) {
    ApiHandler handler([](const HttpRequest&, const PathParams&, HttpResponse&) {});
    handler.mode = Mode::kAsync;
    handler.sync = nullptr;
    handler.async = std::move(f);
    return handler;
  }

  Mode mode = Mode::kBlocking;
  Sync sync;    // kBlocking, kInline
  Async async;  // kAsync
};
using ApiRoutes = ApiRouter<ApiHandler>;

// The cookie the dashboard is authenticated with (POST /login sets it).
inline constexpr std::string_view kTokenCookie = "flowrun_token";

struct ApiContext {
  ApiContext(Runtime& runtime, const Config& config, const Clock& clock,
             DashboardAssets::FileSource dashboard_files)
      : runtime(runtime),
        config(config),
        clock(clock),
        api_auth(config.api_tokens),
        event_keys(config.event_keys),
        replay_guard(clock),
        dashboard(std::move(dashboard_files)) {}

  Runtime& runtime;
  const Config& config;
  const Clock& clock;
  const BearerAuth api_auth;
  const BearerAuth event_keys;
  ReplayGuard replay_guard;
  std::map<std::string, std::unique_ptr<WebhookEndpoint>, std::less<>> webhooks;
  // Webhooks whose signing secret is not set, with the error logged at start-up: they answer 503
  // (senders retry) instead of keeping the whole service from starting.
  std::map<std::string, std::string, std::less<>> webhooks_not_ready;
  const DashboardAssets dashboard;
  // Set by the server before it serves: where kAsync handlers hand their work.
  EventIntake* intake = nullptr;
  HandlerPool* pool = nullptr;
};

// Writes `body` as the JSON response with `status`; invalid UTF-8 is replaced, never thrown.
void SendJson(HttpResponse& response, int status, const Json& body);
void SendError(HttpResponse& response, const HttpError& error);
// SendError(HttpError::FromStatus(status)), with the message passed through the redactor.
void SendStatus(HttpResponse& response, const Status& status, const SecretRedactor& redactor);

// nullopt when the request's Content-Type may carry JSON: absent, application/json, any +json
// type, text/plain, or application/x-www-form-urlencoded (what `curl -d` sends by default);
// otherwise the 415 to answer.
std::optional<HttpError> JsonContentTypeError(const HttpRequest& request);

// The `limit` query parameter: `fallback` when absent; kInvalidArgument unless 1..`max`.
[[nodiscard]] StatusOr<int> LimitParam(const HttpRequest& request, int fallback, int max);

// The token a request presents: the Bearer token of its Authorization header, else the
// kTokenCookie cookie; nullopt when neither is present.
std::optional<std::string> PresentedToken(const HttpRequest& request);

// The HTML login form GET / answers (401) when tokens are configured and none was presented.
std::string_view DashboardLoginPage();
// Content-Security-Policy and related headers for every HTML page.
void SetSecurityHeaders(HttpResponse& response);

void AddEventRoutes(ApiContext& context, ApiRoutes& routes);
void AddRunRoutes(ApiContext& context, ApiRoutes& routes);
void AddFlowRoutes(ApiContext& context, ApiRoutes& routes);
void AddWebhookRoutes(ApiContext& context, ApiRoutes& routes);
void AddOpsRoutes(ApiContext& context, ApiRoutes& routes);
void AddDashboardRoutes(ApiContext& context, ApiRoutes& routes);

}  // namespace flowrun
