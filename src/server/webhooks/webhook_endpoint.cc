#include "server/webhooks/webhook_endpoint.h"

#include <cctype>
#include <map>

#include "common/ascii_case.h"
#include "server/event_payload.h"

namespace flowrun {
namespace {

// Whether the Content-Type declares JSON: application/json or any +json type. An absent type
// counts too, since many senders omit it.
bool DeclaresJson(std::string_view content_type) {
  std::string type = AsciiLower(content_type.substr(0, content_type.find(';')));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type.empty() || type == "application/json") return true;
  return type.size() > 5 && type.compare(type.size() - 5, 5, "+json") == 0;
}

// `text` as a JSON string, with bytes that are not UTF-8 replaced by U+FFFD, so that storing and
// serializing it later cannot fail.
Json ValidText(std::string_view text) {
  return Json::parse(Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace));
}

}  // namespace

StatusOr<std::unique_ptr<WebhookEndpoint>> WebhookEndpoint::Create(const std::string& name,
                                                                   const WebhookConfig& config,
                                                                   const Secrets& secrets,
                                                                   const Clock& clock,
                                                                   ReplayGuard& guard) {
  const std::string where = "webhook \"" + name + "\"";
  WebhookVerifierOptions options;
  options.scheme = config.scheme;
  options.tolerance = config.tolerance;
  if (!config.secret.empty()) {
    StatusOr<std::string> secret = secrets.Resolve(config.secret);
    if (!secret.ok()) return secret.status().WithContext(where);
    options.secret = std::move(secret).value();
  }
  StatusOr<std::unique_ptr<WebhookVerifier>> verifier = MakeWebhookVerifier(options, clock);
  if (!verifier.ok()) return verifier.status().WithContext(where);
  ASSIGN_OR_RETURN(WebhookTransform transform, WebhookTransform::Compile(name, config));
  return std::unique_ptr<WebhookEndpoint>(
      new WebhookEndpoint(name, std::move(verifier).value(), std::move(transform), guard));
}

WebhookEndpoint::WebhookEndpoint(std::string name, std::unique_ptr<WebhookVerifier> verifier,
                                 WebhookTransform transform, ReplayGuard& guard)
    : name_(std::move(name)),
      verifier_(std::move(verifier)),
      transform_(std::move(transform)),
      guard_(guard) {}

std::variant<WebhookDelivery, WebhookRefusal> WebhookEndpoint::Accept(
    const std::vector<std::pair<std::string, std::string>>& headers, std::string_view content_type,
    std::string_view body) const {
  WebhookHeaders signature_headers;
  std::map<std::string, std::string> lower_headers;
  for (const auto& [header, value] : headers) {
    signature_headers.Add(header, value);
    std::string& joined = lower_headers[AsciiLower(header)];
    if (!joined.empty()) joined += ", ";
    joined += value;
  }
  Json header_object = Json::object();
  for (auto& [header, value] : lower_headers)
    header_object[ValidText(header).get<std::string>()] = ValidText(value);

  StatusOr<VerifiedDelivery> verified = verifier_->Verify(signature_headers, body);
  if (!verified.ok()) return WebhookRefusal{verified.status()};

  WebhookDelivery delivery;
  delivery.delivery_id = verified->delivery_id;
  if (!verified->replay_key.empty()) {
    delivery.replay_key = name_ + "\n" + verified->replay_key;
    Status admitted = guard_.Admit(delivery.replay_key, verified->remember_until);
    if (admitted.code() == StatusCode::kAlreadyExists) {
      return WebhookRefusal{UnauthenticatedError(std::string(verifier_->scheme()) +
                                                 " signature: this delivery was already received "
                                                 "(replay)")};
    }
    if (!admitted.ok()) return WebhookRefusal{admitted};
  }

  Json parsed_body;
  StatusOr<Json> parsed = ParseJsonBody(body);
  if (parsed.ok()) {
    parsed_body = std::move(parsed).value();
  } else if (DeclaresJson(content_type) && !body.empty()) {
    Release(delivery);
    return WebhookRefusal{parsed.status()};
  } else {
    parsed_body = ValidText(body);
  }

  StatusOr<Json> event = transform_.Apply(parsed_body, header_object);
  if (!event.ok()) {
    Release(delivery);
    return WebhookRefusal{event.status(), true};
  }
  delivery.event = std::move(event).value();
  return delivery;
}

void WebhookEndpoint::Release(const WebhookDelivery& delivery) const {
  if (!delivery.replay_key.empty()) guard_.Forget(delivery.replay_key);
}

}  // namespace flowrun
