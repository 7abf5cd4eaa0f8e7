#include "server/webhooks/webhook_headers.h"

#include "common/ascii_case.h"

namespace flowrun {

WebhookHeaders::WebhookHeaders(std::initializer_list<std::pair<std::string, std::string>> headers)
    : headers_(headers) {}

void WebhookHeaders::Add(std::string name, std::string value) {
  headers_.emplace_back(std::move(name), std::move(value));
}

std::vector<std::string_view> WebhookHeaders::GetAll(std::string_view name) const {
  std::vector<std::string_view> values;
  for (const auto& [key, value] : headers_) {
    if (EqualsIgnoringAsciiCase(key, name)) values.push_back(value);
  }
  return values;
}

StatusOr<std::string_view> WebhookHeaders::GetOne(std::string_view scheme, std::string_view name,
                                                  size_t max_bytes) const {
  std::vector<std::string_view> values = GetAll(name);
  std::string prefix = std::string(scheme) + " signature: ";
  if (values.empty())
    return UnauthenticatedError(prefix + "missing " + std::string(name) + " header");
  if (values.size() > 1) {
    return UnauthenticatedError(prefix + "more than one " + std::string(name) + " header");
  }
  if (values[0].size() > max_bytes) {
    return UnauthenticatedError(prefix + std::string(name) + " header is longer than " +
                                std::to_string(max_bytes) + " bytes");
  }
  return values[0];
}

}  // namespace flowrun
