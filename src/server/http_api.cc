#include "server/http_api.h"

#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <exception>
#include <memory>

#include "actions/cpp_httplib.h"
#include "common/log.h"
#include "server/api_handlers.h"
#include "server/event_payload.h"

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

class HttpApi::Impl {
 public:
  Impl(Runtime& runtime, const Config& config, HttpApiOptions options)
      : config_(config),
        options_(std::move(options)),
        context_(runtime, config_, options_.clock ? *options_.clock : system_clock_,
                 options_.dashboard_files) {}

  Status Initialize() {
    for (const auto& [name, webhook] : config_.webhooks) {
      ASSIGN_OR_RETURN(std::unique_ptr<WebhookEndpoint> endpoint,
                       WebhookEndpoint::Create(name, webhook, context_.runtime.secrets(),
                                               context_.clock, context_.replay_guard));
      context_.webhooks.emplace(name, std::move(endpoint));
    }
    AddEventRoutes(context_, routes_);
    AddRunRoutes(context_, routes_);
    AddFlowRoutes(context_, routes_);
    AddWebhookRoutes(context_, routes_);
    AddOpsRoutes(context_, routes_);
    AddDashboardRoutes(context_, routes_);
    ConfigureServer();
    return OkStatus();
  }

  httplib::Server& server() { return server_; }

 private:
  void ConfigureServer() {
    int threads = options_.threads;
    if (threads <= 0) {
      threads = std::max(8, 4 * static_cast<int>(std::thread::hardware_concurrency()));
    }
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    long long max_body = options_.max_body_bytes > 0 ? options_.max_body_bytes
                                                     : MaxBodyBytes(config_.max_event_bytes);
    max_body_ = max_body;
    server_.set_payload_max_length(static_cast<size_t>(max_body));
    auto seconds = std::chrono::duration_cast<std::chrono::seconds>(options_.read_timeout);
    server_.set_read_timeout(std::max<time_t>(1, seconds.count()), 0);
    server_.set_keep_alive_max_count(1000);
    server_.set_tcp_nodelay(true);
    // httplib's default also sets SO_REUSEPORT, which would let a second service bind the same
    // port and silently share its traffic; SO_REUSEADDR alone allows a quick restart.
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });

    auto dispatch = [this](const httplib::Request& request, httplib::Response& response) {
      Dispatch(request, response);
    };
    server_.Get(".*", dispatch);
    server_.Post(".*", dispatch);
    server_.Put(".*", dispatch);
    server_.Patch(".*", dispatch);
    server_.Delete(".*", dispatch);
    server_.Options(".*", dispatch);

    server_.set_error_handler(httplib::Server::HandlerWithResponse(
        [this](const httplib::Request& request, httplib::Response& response) {
          if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
          FillEmptyError(request, response);
          return httplib::Server::HandlerResponse::Handled;
        }));
    server_.set_exception_handler([](const httplib::Request& request, httplib::Response& response,
                                     std::exception_ptr exception) {
      std::string what = "unknown exception";
      try {
        if (exception) std::rethrow_exception(exception);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      LogError("http handler failed",
               {{"method", request.method}, {"path", request.path}, {"error", what}});
      SendError(response, HttpError{500, "internal", "internal error"});
    });
    server_.set_logger([this](const httplib::Request& request, const httplib::Response& response) {
      Record(request, response);
    });
  }

  void Dispatch(const httplib::Request& request, httplib::Response& response) {
    ApiRoutes::Match match = routes_.Find(request.method, request.path);
    if (match.route == nullptr) {
      if (!match.allowed_methods.empty()) {
        std::string allow;
        for (const std::string& method : match.allowed_methods) {
          allow += (allow.empty() ? "" : ", ") + method;
        }
        response.set_header("Allow", allow);
        return SendError(response,
                         HttpError::MethodNotAllowed(request.method + " is not allowed on " +
                                                     request.path + "; use " + allow));
      }
      return SendError(response, HttpError::FromStatus(NotFoundError(
                                     "no route for " + request.method + " " + request.path)));
    }
    const auto& route = *match.route;
    if (route.access == RouteAccess::kApiToken) {
      Status allowed = context_.api_auth.Check(PresentedToken(request));
      if (!allowed.ok()) {
        if (route.pattern == "/" || route.pattern == "/index.html") {
          SetSecurityHeaders(response);
          response.status = 401;
          response.set_content(std::string(DashboardLoginPage()), "text/html; charset=utf-8");
          return;
        }
        response.set_header("WWW-Authenticate", "Bearer realm=\"flowrun\"");
        return SendError(response, HttpError::FromStatus(allowed));
      }
    } else if (route.access == RouteAccess::kEventKey && context_.event_keys.enabled()) {
      auto key = match.params.find("event_key");
      if (key == match.params.end() || !context_.event_keys.Matches(key->second)) {
        return SendError(response,
                         HttpError::FromStatus(UnauthenticatedError("unknown event key")));
      }
    }
    route.handler(request, match.params, response);
  }

  // Errors httplib answers by itself (a body over the limit, a malformed request) get the JSON
  // shape too.
  void FillEmptyError(const httplib::Request& request, httplib::Response& response) const {
    std::string message;
    switch (response.status) {
      case 413:
        message = "the request body is over the limit of " + std::to_string(max_body_) + " bytes";
        break;
      case 414:
        message = "the request URI is too long";
        break;
      case 404:
        message = "no route for " + request.method + " " + request.path;
        break;
      default:
        message = "the request could not be handled";
        break;
    }
    response.set_content(HttpError{response.status, HttpErrorCode(response.status), message}.Body(),
                         "application/json");
  }

  void Record(const httplib::Request& request, const httplib::Response& response) {
    ApiRoutes::Match match = routes_.Find(request.method, request.path);
    std::string route = match.route != nullptr ? match.route->method + " " + match.route->pattern
                                               : std::string("unmatched");
    const ServiceMetrics& metrics = context_.runtime.service_metrics();
    if (metrics.http_requests != nullptr) {
      metrics.http_requests->WithLabels({route, std::to_string(response.status)}).Increment();
    }
    if (response.status >= 500) {
      LogError("http request failed",
               {{"method", request.method}, {"route", route}, {"status", response.status}});
    }
  }

  const Config config_;
  const HttpApiOptions options_;
  SystemClock system_clock_;
  ApiContext context_;
  ApiRoutes routes_;
  long long max_body_ = 0;
  httplib::Server server_;
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
  if (thread_.joinable()) return FailedPreconditionError("the HTTP API is already listening");
  httplib::Server& server = impl_->server();
  int bound = -1;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
  } else if (server.bind_to_port(host, port)) {
    bound = port;
  }
  if (bound <= 0) {
    return UnavailableError("cannot listen on " + host + ":" + std::to_string(port) +
                            " (address in use, or not an address of this host)");
  }
  bound_port_ = bound;
  auto finished = std::make_shared<std::atomic<bool>>(false);
  thread_ = std::thread([&server, finished] {
    server.listen_after_bind();
    finished->store(true);
  });
  // Stop must not run before the accept loop has started, or it would not stop it.
  while (!server.is_running() && !finished->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  LogInfo("http api listening", {{"host", host}, {"port", bound}});
  return OkStatus();
}

void HttpApi::Stop() {
  if (!thread_.joinable()) return;
  impl_->server().stop();
  thread_.join();
}

}  // namespace flowrun
