#include "server/api_handlers.h"

#include <cctype>
#include <charconv>

#include "common/percent_encoding.h"

namespace flowrun {
namespace {

std::string LowerMediaType(std::string_view content_type) {
  std::string type(content_type.substr(0, content_type.find(';')));
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.erase(0, 1);
  return type;
}

}  // namespace

void SendJson(HttpResponse& response, int status, const Json& body) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace),
                       "application/json");
}

void SendError(HttpResponse& response, const HttpError& error) {
  response.status = error.status;
  response.set_content(error.Body(), "application/json");
}

void SendStatus(HttpResponse& response, const Status& status, const SecretRedactor& redactor) {
  SendError(response, HttpError::FromStatus(redactor.RedactStatus(status)));
}

std::optional<HttpError> JsonContentTypeError(const HttpRequest& request) {
  if (!request.has_header("Content-Type")) return std::nullopt;
  std::string type = LowerMediaType(request.get_header_value("Content-Type"));
  if (type.empty() || type == "application/json" || type == "text/plain" ||
      type == "application/x-www-form-urlencoded" || type.ends_with("+json")) {
    return std::nullopt;
  }
  return HttpError::UnsupportedMediaType("Content-Type \"" + type +
                                         "\" is not accepted; send application/json");
}

StatusOr<int> LimitParam(const HttpRequest& request, int fallback, int max) {
  if (!request.has_param("limit")) return fallback;
  std::string text = request.get_param_value("limit");
  int value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
    return InvalidArgumentError("`limit` must be an integer from 1 to " + std::to_string(max));
  }
  return value;
}

std::optional<std::string> PresentedToken(const HttpRequest& request) {
  if (request.has_header("Authorization")) return request.get_header_value("Authorization");
  size_t cookies = request.get_header_value_count("Cookie");
  for (size_t i = 0; i < cookies; ++i) {
    const std::string header = request.get_header_value("Cookie", i);
    std::string_view rest = header;
    while (!rest.empty()) {
      size_t end = rest.find(';');
      std::string_view pair = rest.substr(0, end);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != kTokenCookie) continue;
      std::optional<std::string> token = PercentDecode(pair.substr(eq + 1));
      if (token.has_value()) return "Bearer " + *token;
    }
  }
  return std::nullopt;
}

}  // namespace flowrun
