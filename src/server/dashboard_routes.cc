// Dashboard routes: GET /, GET /index.html and GET /assets/* serve the embedded dashboard;
// POST /login and POST /logout set and clear the token cookie the dashboard is authenticated
// with. When API tokens are configured and the request is not authenticated, GET / answers 401
// with a login form (plain HTML, no script) instead of the dashboard.
#include "common/percent_encoding.h"
#include "server/api_handlers.h"

namespace flowrun {
namespace {

constexpr std::string_view kLoginPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flowrun: sign in</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body>
<h1>flowrun</h1>
<form method="post" action="/login">
<label for="token">API token</label><br>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
</body></html>
)html";

void ServeAsset(ApiContext& context, const HttpRequest& request, HttpResponse& response) {
  std::optional<DashboardAsset> asset = context.dashboard.Find(request.path);
  if (!asset.has_value()) {
    std::string message = request.path.starts_with("/assets/")
                              ? "no dashboard asset \"" + request.path + "\""
                              : "the dashboard is not part of this build";
    return SendError(response, HttpError::FromStatus(NotFoundError(message)));
  }
  SetSecurityHeaders(response);
  response.set_header("Cache-Control", "no-cache");
  response.status = 200;
  response.set_content(std::string(asset->content), asset->content_type);
}

// The `token` field of an application/x-www-form-urlencoded body.
std::optional<std::string> FormField(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    size_t end = body.find('&');
    std::string_view pair = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
    return PercentDecode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

void Login(ApiContext& context, const HttpRequest& request, HttpResponse& response) {
  std::optional<std::string> token = FormField(request.body, "token");
  if (!token.has_value() || !context.api_auth.Matches(*token)) {
    SetSecurityHeaders(response);
    response.status = 401;
    response.set_content(std::string(kLoginPage), "text/html; charset=utf-8");
    return;
  }
  response.set_header("Set-Cookie", std::string(kTokenCookie) + "=" + PercentEncode(*token) +
                                        "; Path=/; HttpOnly; SameSite=Strict");
  response.set_header("Location", "/");
  response.status = 303;
}

}  // namespace

void AddDashboardRoutes(ApiContext& context, ApiRoutes& routes) {
  ApiContext* ctx = &context;
  auto serve = [ctx](const HttpRequest& request, const PathParams&, HttpResponse& response) {
    ServeAsset(*ctx, request, response);
  };
  routes.Add("GET", "/", RouteAccess::kApiToken, serve);
  routes.Add("GET", "/index.html", RouteAccess::kApiToken, serve);
  routes.Add("GET", "/assets/{path*}", RouteAccess::kApiToken, serve);
  routes.Add("POST", "/login", RouteAccess::kPublic,
             [ctx](const HttpRequest& request, const PathParams&, HttpResponse& response) {
               Login(*ctx, request, response);
             });
  routes.Add("POST", "/logout", RouteAccess::kPublic,
             [](const HttpRequest&, const PathParams&, HttpResponse& response) {
               response.set_header("Set-Cookie", std::string(kTokenCookie) +
                                                     "=; Path=/; HttpOnly; SameSite=Strict; "
                                                     "Max-Age=0");
               response.set_header("Location", "/");
               response.status = 303;
             });
}

void SetSecurityHeaders(HttpResponse& response) {
  response.set_header("Content-Security-Policy", std::string(kDashboardCsp));
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Referrer-Policy", "no-referrer");
  response.set_header("X-Frame-Options", "DENY");
}

// The page GET / answers when the request is not authenticated.
std::string_view DashboardLoginPage() { return kLoginPage; }

}  // namespace flowrun
