// Webhook route: POST /webhooks/{name}. The endpoint (webhook_endpoint.h) verifies and
// transforms; the event is then ingested durably before the sender gets its 200.
#include <variant>

#include "common/log.h"
#include "server/api_handlers.h"
#include "server/event_payload.h"

namespace flowrun {
namespace {

void Receive(ApiContext& context, const HttpRequest& request, const PathParams& params,
             HttpResponse& response) {
  const SecretRedactor& redactor = context.runtime.redactor();
  const std::string& name = params.find("name")->second;
  auto endpoint = context.webhooks.find(name);
  // The route is public: the answer says why, the log (at start-up) says which secret.
  if (context.webhooks_not_ready.count(name) > 0) {
    response.set_header("Retry-After", "60");
    return SendError(response,
                     HttpError{503, "unavailable",
                               "webhook \"" + name + "\" is not ready: its secret is not set"});
  }
  if (endpoint == context.webhooks.end()) {
    return SendError(response, HttpError::FromStatus(NotFoundError("no webhook \"" + name + "\"")));
  }
  const long long max_body = MaxBodyBytes(context.config.max_event_bytes);
  if (static_cast<long long>(request.body.size()) > max_body) {
    return SendStatus(
        response,
        OutOfRangeError("the body is over the limit of " + std::to_string(max_body) + " bytes"),
        redactor);
  }
  std::vector<std::pair<std::string, std::string>> headers(request.headers.begin(),
                                                           request.headers.end());
  auto accepted =
      endpoint->second->Accept(headers, request.get_header_value("Content-Type"), request.body);
  if (auto* refusal = std::get_if<WebhookRefusal>(&accepted)) {
    Status status = redactor.RedactStatus(refusal->status);
    LogWarn("webhook refused", {{"webhook", name},
                                {"scheme", std::string(endpoint->second->scheme())},
                                {"error", status.message()}});
    if (refusal->unprocessable)
      return SendError(response, HttpError::Unprocessable(status.message()));
    if (status.code() == StatusCode::kResourceExhausted) {
      response.set_header("Retry-After", "60");
      return SendError(response, HttpError{503, "unavailable", status.message()});
    }
    return SendError(response, HttpError::FromStatus(status));
  }
  WebhookDelivery& delivery = std::get<WebhookDelivery>(accepted);
  Status check = CheckEvent(delivery.event, 0, context.config.max_event_bytes);
  if (!check.ok()) {
    endpoint->second->Release(delivery);
    return SendStatus(response, check, redactor);
  }
  StatusOr<std::vector<IngestedEvent>> ingested = context.runtime.IngestEvents({delivery.event});
  if (!ingested.ok()) {
    endpoint->second->Release(delivery);
    return SendStatus(response, ingested.status(), redactor);
  }
  Json ids = Json::array();
  for (const IngestedEvent& event : *ingested) ids.push_back(event.id);
  SendJson(response, 200, Json{{"ids", std::move(ids)}, {"status", 200}});
}

}  // namespace

void AddWebhookRoutes(ApiContext& context, ApiRoutes& routes) {
  ApiContext* ctx = &context;
  routes.Add("POST", "/webhooks/{name}", RouteAccess::kPublic,
             [ctx](const HttpRequest& request, const PathParams& params, HttpResponse& response) {
               Receive(*ctx, request, params, response);
             });
}

}  // namespace flowrun
