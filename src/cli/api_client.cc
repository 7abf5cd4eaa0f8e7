#include "cli/api_client.h"

#include <cstdlib>

#include "common/cpp_httplib.h"

namespace flowrun::cli {

std::string FlagOrEnv(const std::string& flag, const char* env, std::string_view fallback) {
  if (!flag.empty()) return flag;
  const char* value = std::getenv(env);
  if (value != nullptr && *value != '\0') return value;
  return std::string(fallback);
}

std::string ApiResponse::ErrorMessage() const {
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const Json& error = body["error"];
    std::string message = error.value("message", "");
    std::string code = error.value("code", "");
    if (!message.empty()) return message + (code.empty() ? "" : " (" + code + ")");
  }
  // Inngest's shape, which /e/{event_key} answers: {"error": "<message>", "status": 400}.
  if (body.is_object() && body.contains("error") && body["error"].is_string()) {
    return body["error"].get<std::string>() + " (HTTP " + std::to_string(status) + ")";
  }
  return "HTTP " + std::to_string(status);
}

class ApiClient::Impl {
 public:
  Impl(const std::string& url, const std::string& token) : client(url) {
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_tcp_nodelay(true);
    client.set_read_timeout(std::chrono::seconds(60));
    client.set_write_timeout(std::chrono::seconds(60));
    if (!token.empty()) client.set_bearer_token_auth(token);
  }
  httplib::Client client;
};

StatusOr<std::unique_ptr<ApiClient>> ApiClient::Create(const std::string& url,
                                                       const std::string& token) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) {
    return InvalidArgumentError("the server URL \"" + url +
                                "\" must start with http:// or https://");
  }
  std::string base = url;
  while (base.size() > 8 && base.back() == '/') base.pop_back();
  auto impl = std::make_unique<Impl>(base, token);
  if (!impl->client.is_valid()) {
    return InvalidArgumentError("the server URL \"" + url + "\" is not valid");
  }
  return std::unique_ptr<ApiClient>(new ApiClient(base, std::move(impl)));
}

ApiClient::ApiClient(std::string url, std::unique_ptr<Impl> impl)
    : url_(std::move(url)), impl_(std::move(impl)) {}

ApiClient::~ApiClient() = default;

namespace {

StatusOr<ApiResponse> Translate(const httplib::Result& result, const std::string& url) {
  if (!result) {
    return UnavailableError("cannot reach the flowrun server at " + url + ": " +
                            httplib::to_string(result.error()) +
                            " (is `flowrun serve` running? set --url or FLOWRUN_URL)");
  }
  ApiResponse response;
  response.status = result->status;
  try {
    response.body = Json::parse(result->body);
  } catch (const Json::exception&) {
    response.body = Json(result->body);
  }
  return response;
}

}  // namespace

StatusOr<ApiResponse> ApiClient::Get(const std::string& path) {
  return Translate(impl_->client.Get(path), url_);
}

StatusOr<ApiResponse> ApiClient::Post(const std::string& path, const Json& body) {
  return Translate(
      impl_->client.Post(path, body.dump(-1, ' ', false, Json::error_handler_t::replace),
                         "application/json"),
      url_);
}

}  // namespace flowrun::cli
