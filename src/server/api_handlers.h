// The pieces the HTTP API's route groups share: the handler signature, the state handlers read
// (ApiContext), response helpers, and one Add…Routes function per route group, each defined in
// its own file (event_routes.cc, run_routes.cc, flow_routes.cc, webhook_routes.cc,
// ops_routes.cc, dashboard_routes.cc). http_api.cc calls them in order.
//
// Handlers run on the server's request threads. They read ApiContext, which is immutable once the
// routes are built apart from the Runtime and the ReplayGuard, both thread-safe. Handlers never
// throw on bad input: every failure becomes an HttpError response.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "actions/cpp_httplib.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/percent_encoding.h"
#include "config/config.h"
#include "server/api_router.h"
#include "server/bearer_auth.h"
#include "server/dashboard_assets.h"
#include "server/http_error.h"
#include "server/replay_guard.h"
#include "server/runtime.h"
#include "server/webhook_endpoint.h"

namespace flowrun {

using ApiHandler = std::function<void(const httplib::Request& request, const PathParams& params,
                                      httplib::Response& response)>;
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
  const DashboardAssets dashboard;
};

// Writes `body` as the JSON response with `status`; invalid UTF-8 is replaced, never thrown.
void SendJson(httplib::Response& response, int status, const Json& body);
void SendError(httplib::Response& response, const HttpError& error);
// SendError(HttpError::FromStatus(status)), with the message passed through the redactor.
void SendStatus(httplib::Response& response, const Status& status, const SecretRedactor& redactor);

// nullopt when the request's Content-Type may carry JSON: absent, application/json, any +json
// type, text/plain, or application/x-www-form-urlencoded (what `curl -d` sends by default);
// otherwise the 415 to answer.
std::optional<HttpError> JsonContentTypeError(const httplib::Request& request);

// The `limit` query parameter: `fallback` when absent; kInvalidArgument unless 1..`max`.
[[nodiscard]] StatusOr<int> LimitParam(const httplib::Request& request, int fallback, int max);

// The token a request presents: the Bearer token of its Authorization header, else the
// kTokenCookie cookie; nullopt when neither is present.
std::optional<std::string> PresentedToken(const httplib::Request& request);

// The inverse of PercentEncode (common/percent_encoding.h), for cookie values; nullopt for a
// malformed escape.
std::optional<std::string> PercentDecode(std::string_view text);

// The HTML login form GET / answers (401) when tokens are configured and none was presented.
std::string_view DashboardLoginPage();
// Content-Security-Policy and related headers for every HTML page.
void SetSecurityHeaders(httplib::Response& response);

void AddEventRoutes(ApiContext& context, ApiRoutes& routes);
void AddRunRoutes(ApiContext& context, ApiRoutes& routes);
void AddFlowRoutes(ApiContext& context, ApiRoutes& routes);
void AddWebhookRoutes(ApiContext& context, ApiRoutes& routes);
void AddOpsRoutes(ApiContext& context, ApiRoutes& routes);
void AddDashboardRoutes(ApiContext& context, ApiRoutes& routes);

}  // namespace flowrun
