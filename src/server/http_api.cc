#include "server/http_api.h"

#include <charconv>
#include <exception>
#include <memory>
#include <optional>

#include "common/log.h"
#include "server/api_handlers.h"
#include "server/event_intake.h"
#include "server/event_payload.h"
#include "server/handler_pool.h"
#include "server/http_server.h"

namespace flowrun {

StatusOr<std::pair<std::string, int>> ParseListenAddress(std::string_view listen) {
  std::string host;
  std::string_view port_text;
  if (!listen.empty() && listen.front() == '[') {
    size_t close = listen.find(']');
    if (close == std::string_view::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return InvalidArgumentError("listen address \"" + std::string(listen) +
                                  "\": expected [host]:port");
    }
    host = std::string(listen.substr(1, close - 1));
    port_text = listen.substr(close + 2);
  } else {
    size_t colon = listen.rfind(':');
    if (colon == std::string_view::npos) {
      return InvalidArgumentError("listen address \"" + std::string(listen) +
                                  "\": expected host:port");
    }
    host = std::string(listen.substr(0, colon));
    port_text = listen.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return InvalidArgumentError("listen address \"" + std::string(listen) +
                                  "\": write IPv6 addresses as [host]:port");
    }
  }
  if (host.empty()) host = "0.0.0.0";
  int port = -1;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (error != std::errc() || end != port_text.data() + port_text.size() || port < 0 ||
      port > 65535) {
    return InvalidArgumentError("listen address \"" + std::string(listen) +
                                "\": the port must be a number from 0 to 65535");
  }
  return std::make_pair(host, port);
}

bool IsLoopbackHost(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return host.starts_with("127.") && host.find_first_not_of("0123456789.") == std::string::npos;
}

namespace {

// Route groups and their body limits (ServerConfig::max_*_body_bytes).
constexpr long long kDefaultApiBodyBytes = 1LL << 20;
constexpr int kDefaultHandlerThreads = 4;
// Tasks that may wait for a handler thread before the pool answers 503.
constexpr size_t kMaxQueuedHandlers = 4096;
// Intake threads, and how many events one of them stores in one commit at most.
constexpr int kIntakeThreads = 2;
constexpr size_t kMaxGroupEvents = 10000;

bool IsInngestPath(std::string_view path) { return path.starts_with("/e/"); }

// The methods to list in Allow for a path whose routes have `methods`.
std::string AllowHeader(const std::vector<std::string>& methods) {
  std::string allow;
  bool get = false;
  for (const std::string& method : methods) {
    allow += (allow.empty() ? "" : ", ") + method;
    get |= method == "GET";
  }
  if (get) allow += ", HEAD";
  return allow + (allow.empty() ? "" : ", ") + "OPTIONS";
}

}  // namespace

class HttpApi::Impl {
 public:
  Impl(Runtime& runtime, const Config& config, HttpApiOptions options)
      : config_(config),
        options_(std::move(options)),
        context_(runtime, config_, options_.clock ? *options_.clock : system_clock_,
                 options_.dashboard_files) {}

  ~Impl() { Stop(); }

  Status Initialize() {
    for (const auto& [name, webhook] : config_.webhooks) {
      StatusOr<std::unique_ptr<WebhookEndpoint>> endpoint = WebhookEndpoint::Create(
          name, webhook, context_.runtime.secrets(), context_.clock, context_.replay_guard);
      // Like a flow reading an unset secret, a webhook whose secret is not set is held back,
      // not fatal: the rest of the service runs. Any other config error is.
      if (endpoint.status().code() == StatusCode::kNotFound) {
        LogWarn(
            "webhook not ready: its secret is not set, so it answers 503 until the secret "
            "is set and the service restarted",
            {{"webhook", name}, {"error", endpoint.status().message()}});
        context_.webhooks_not_ready.emplace(name, endpoint.status().message());
        continue;
      }
      if (!endpoint.ok()) return endpoint.status();
      context_.webhooks.emplace(name, std::move(endpoint).value());
    }
    AddEventRoutes(context_, routes_);
    AddRunRoutes(context_, routes_);
    AddFlowRoutes(context_, routes_);
    AddWebhookRoutes(context_, routes_);
    AddOpsRoutes(context_, routes_);
    AddDashboardRoutes(context_, routes_);

    const ServerConfig& limits = config_.server;
    const long long events_default = MaxBodyBytes(config_.max_event_bytes);
    events_body_ = limits.max_events_body_bytes > 0 ? limits.max_events_body_bytes : events_default;
    webhooks_body_ =
        limits.max_webhooks_body_bytes > 0 ? limits.max_webhooks_body_bytes : events_default;
    api_body_ = limits.max_api_body_bytes > 0 ? limits.max_api_body_bytes : kDefaultApiBodyBytes;
    int handler_threads =
        limits.handler_threads > 0 ? limits.handler_threads : kDefaultHandlerThreads;
    pool_ = std::make_unique<HandlerPool>(handler_threads, kMaxQueuedHandlers);
    intake_ = std::make_unique<EventIntake>(context_.runtime, kIntakeThreads, kMaxGroupEvents);
    context_.pool = pool_.get();
    context_.intake = intake_.get();
    server_ = std::make_unique<HttpServer>(
        limits,
        [this](std::shared_ptr<HttpRequest> request, HttpServer::Respond respond) {
          Handle(std::move(request), std::move(respond));
        },
        [this](std::string_view method, std::string_view path) { return BodyLimit(path); },
        [this](const HttpRequest& request, int status, std::string message) {
          HttpResponse response;
          SendError(response, HttpError{status, HttpErrorCode(status), std::move(message)});
          Finish(request, "unmatched", response);
          return response;
        });
    return OkStatus();
  }

  HttpServer& server() { return *server_; }

  void Stop() {
    if (server_ == nullptr || stopped_) return;
    stopped_ = true;
    server_->Shutdown(options_.stop_grace);
    intake_->Stop();
    pool_->Stop();
    server_->Join();
  }

 private:
  long long BodyLimit(std::string_view path) const {
    if (IsInngestPath(path) || path == "/v1/events") return events_body_;
    if (path.starts_with("/webhooks/")) return webhooks_body_;
    return api_body_;
  }

  // Routes the request and runs its handler where its mode says; answers through `respond`.
  void Handle(std::shared_ptr<HttpRequest> request, HttpServer::Respond respond) {
    ApiRoutes::Match match = routes_.Find(request->method, request->path);
    auto answer = [this, request, respond](const std::string& label, HttpResponse response) {
      Finish(*request, label, response);
      respond(std::move(response));
    };
    if (match.route == nullptr) {
      HttpResponse response;
      if (request->method == "OPTIONS") {
        std::vector<std::string> methods = match.allowed_methods;
        if (request->path == "*") methods = {"GET", "POST"};
        if (!methods.empty()) {
          response.status = 204;
          response.set_header("Allow", AllowHeader(methods));
          return answer("OPTIONS", std::move(response));
        }
      }
      if (!match.allowed_methods.empty()) {
        std::string allow = AllowHeader(match.allowed_methods);
        response.set_header("Allow", allow);
        SendError(response, HttpError::MethodNotAllowed(request->method + " is not allowed on " +
                                                        request->path + "; use " + allow));
      } else {
        SendError(response, HttpError::FromStatus(NotFoundError("no route for " + request->method +
                                                                " " + request->path)));
      }
      return answer("unmatched", std::move(response));
    }
    const ApiRoutes::Route& route = *match.route;
    const std::string label = route.method + " " + route.pattern;
    if (std::optional<HttpResponse> refused = CheckAccess(*request, match)) {
      return answer(label, std::move(*refused));
    }
    switch (route.handler.mode) {
      case ApiHandler::Mode::kInline: {
        HttpResponse response;
        RunSync(route, *request, match.params, response);
        return answer(label, std::move(response));
      }
      case ApiHandler::Mode::kAsync:
        try {
          route.handler.async(
              request, std::move(match.params),
              [answer, label](HttpResponse response) { answer(label, std::move(response)); });
        } catch (const std::exception& e) {
          HttpResponse response;
          InternalError(*request, e.what(), response);
          answer(label, std::move(response));
        }
        return;
      case ApiHandler::Mode::kBlocking: {
        bool queued =
            pool_->Post([this, &route, request, params = std::move(match.params), answer, label] {
              HttpResponse response;
              RunSync(route, *request, params, response);
              answer(label, std::move(response));
            });
        if (!queued) {
          HttpResponse response;
          response.set_header("Retry-After", "1");
          SendError(response, HttpError::FromStatus(
                                  UnavailableError("the server is busy; try again shortly")));
          answer(label, std::move(response));
        }
        return;
      }
    }
  }

  void RunSync(const ApiRoutes::Route& route, const HttpRequest& request, const PathParams& params,
               HttpResponse& response) {
    try {
      route.handler.sync(request, params, response);
    } catch (const std::exception& e) {
      InternalError(request, e.what(), response);
    }
  }

  static void InternalError(const HttpRequest& request, std::string_view what,
                            HttpResponse& response) {
    LogError("http handler failed",
             {{"method", request.method}, {"path", request.path}, {"error", std::string(what)}});
    response = HttpResponse();
    SendError(response, HttpError{500, "internal", "internal error"});
  }

  // The response that refuses the request, or nullopt when its token or key is accepted.
  std::optional<HttpResponse> CheckAccess(const HttpRequest& request,
                                          const ApiRoutes::Match& match) const {
    const ApiRoutes::Route& route = *match.route;
    HttpResponse response;
    if (route.access == RouteAccess::kApiToken) {
      Status allowed = context_.api_auth.Check(PresentedToken(request));
      if (allowed.ok()) return std::nullopt;
      if (route.pattern == "/" || route.pattern == "/index.html") {
        SetSecurityHeaders(response);
        response.status = 401;
        response.set_content(std::string(DashboardLoginPage()), "text/html; charset=utf-8");
        return response;
      }
      response.set_header("WWW-Authenticate", "Bearer realm=\"flowrun\"");
      SendError(response, HttpError::FromStatus(allowed));
      return response;
    }
    if (route.access == RouteAccess::kEventKey && context_.event_keys.enabled()) {
      auto key = match.params.find("event_key");
      if (key == match.params.end() || !context_.event_keys.Matches(key->second)) {
        SendError(response, HttpError::FromStatus(UnauthenticatedError("unknown event key")));
        return response;
      }
    }
    return std::nullopt;
  }

  // Gives errors under /e/ Inngest's shape and counts the response.
  void Finish(const HttpRequest& request, const std::string& label, HttpResponse& response) {
    if (response.status >= 400 && IsInngestPath(request.path)) {
      Json body = Json::parse(response.body, nullptr, false);
      std::string message = "request failed";
      if (body.is_object() && body.contains("error") && body["error"].is_object()) {
        message = body["error"].value("message", message);
      }
      SendJson(response, response.status, Json{{"error", message}, {"status", response.status}});
    }
    const ServiceMetrics& metrics = context_.runtime.service_metrics();
    if (metrics.http_requests != nullptr) {
      metrics.http_requests->WithLabels({label, std::to_string(response.status)}).Increment();
    }
    if (response.status >= 500) {
      LogError("http request failed",
               {{"method", request.method}, {"route", label}, {"status", response.status}});
    }
  }

  const Config config_;
  const HttpApiOptions options_;
  SystemClock system_clock_;
  ApiContext context_;
  ApiRoutes routes_;
  long long events_body_ = 0;
  long long webhooks_body_ = 0;
  long long api_body_ = 0;
  std::unique_ptr<HttpServer> server_;  // declared first among the three: destroyed last
  std::unique_ptr<HandlerPool> pool_;
  std::unique_ptr<EventIntake> intake_;
  bool stopped_ = false;
};

StatusOr<std::unique_ptr<HttpApi>> HttpApi::Create(Runtime& runtime, const Config& config,
                                                   HttpApiOptions options) {
  auto impl = std::make_unique<Impl>(runtime, config, std::move(options));
  RETURN_IF_ERROR(impl->Initialize());
  return std::unique_ptr<HttpApi>(new HttpApi(std::move(impl)));
}

HttpApi::HttpApi(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpApi::~HttpApi() { Stop(); }

Status HttpApi::Listen(const std::string& host, int port) {
  if (bound_port_ != 0) return FailedPreconditionError("the HTTP API is already listening");
  RETURN_IF_ERROR(impl_->server().Listen(host, port));
  bound_port_ = impl_->server().bound_port();
  LogInfo("http api listening", {{"host", host}, {"port", bound_port_}});
  return OkStatus();
}

void HttpApi::Stop() { impl_->Stop(); }

}  // namespace flowrun
