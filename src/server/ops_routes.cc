// Operational routes: GET /healthz, GET /readyz, GET /metrics and GET /v1/outbox.
#include "server/api_handlers.h"
#include "server/api_json.h"
#include "server/metrics.h"

namespace flowrun {

void AddOpsRoutes(ApiContext& context, ApiRoutes& routes) {
  ApiContext* ctx = &context;
  // The health checks answer on the I/O thread, so that they stay fast however busy the store is.
  routes.Add("GET", "/healthz", RouteAccess::kPublic,
             ApiHandler::Inline([](const HttpRequest&, const PathParams&, HttpResponse& response) {
               SendJson(response, 200, Json{{"status", "ok"}});
             }));
  routes.Add(
      "GET", "/readyz", RouteAccess::kPublic,
      ApiHandler::Inline([ctx](const HttpRequest&, const PathParams&, HttpResponse& response) {
        if (ctx->runtime.Ready()) return SendJson(response, 200, Json{{"status", "ready"}});
        SendError(response, HttpError{503, "unavailable",
                                      ctx->runtime.StoreDamaged()
                                          ? "not ready: the store file is damaged (DATA_LOSS)"
                                          : "not ready: starting up or shutting down"});
      }));
  routes.Add("GET", "/metrics", RouteAccess::kApiToken,
             [ctx](const HttpRequest&, const PathParams&, HttpResponse& response) {
               response.status = 200;
               response.set_content(ctx->runtime.metrics().Render(),
                                    std::string(kPrometheusContentType));
             });
  routes.Add("GET", "/v1/outbox", RouteAccess::kApiToken,
             [ctx](const HttpRequest& request, const PathParams&, HttpResponse& response) {
               const SecretRedactor& redactor = ctx->runtime.redactor();
               StatusOr<int> limit = LimitParam(request, 50, 1000);
               if (!limit.ok()) return SendStatus(response, limit.status(), redactor);
               StatusOr<std::vector<OutboxMessage>> messages =
                   ctx->runtime.Outbox(static_cast<size_t>(*limit));
               if (!messages.ok()) return SendStatus(response, messages.status(), redactor);
               Json list = Json::array();
               for (const OutboxMessage& message : *messages) {
                 list.push_back(OutboxMessageToJson(message, redactor));
               }
               SendJson(response, 200, Json{{"messages", std::move(list)}});
             });
}

}  // namespace flowrun
