// Flow routes: GET /v1/flows, GET /v1/flows/{id} and POST /v1/flows/{id}/invoke. Flow ids contain
// slashes, so {id} spans segments.
#include "server/api_handlers.h"
#include "server/api_json.h"
#include "server/event_payload.h"

namespace flowrun {
namespace {

void ListFlows(ApiContext& context, HttpResponse& response) {
  FlowRegistryStatus status = context.runtime.Flows();
  Json flows = Json::array();
  for (const FlowStatus& flow : status.flows) flows.push_back(FlowSummaryToJson(flow));
  // Files that failed to load and define no known flow still need to be seen.
  Json invalid_files = Json::array();
  for (const FlowFileStatus& file : status.files) {
    if (file.valid) continue;
    invalid_files.push_back({{"path", file.path},
                             {"flow_id", file.flow_id.empty() ? Json(nullptr) : Json(file.flow_id)},
                             {"messages", file.messages}});
  }
  SendJson(response, 200,
           Json{{"flows", std::move(flows)},
                {"invalid_files", std::move(invalid_files)},
                {"path_errors", status.path_errors},
                {"flows_dir", status.flows_dir},
                {"generation", status.generation},
                {"loaded_at", FormatTimestamp(status.loaded_at)}});
}

void GetFlow(ApiContext& context, const PathParams& params, HttpResponse& response) {
  const std::string& id = params.find("id")->second;
  FlowRegistryStatus status = context.runtime.Flows();
  for (const FlowStatus& flow : status.flows) {
    if (flow.flow_id != id) continue;
    StatusOr<std::vector<store::FlowRevisionRecord>> revisions = context.runtime.FlowRevisions(id);
    if (!revisions.ok()) {
      return SendStatus(response, revisions.status(), context.runtime.redactor());
    }
    return SendJson(response, 200, FlowDetailToJson(flow, *revisions, status.files));
  }
  SendError(response, HttpError::FromStatus(NotFoundError("no flow \"" + id + "\"")));
}

void InvokeFlow(ApiContext& context, const HttpRequest& request, const PathParams& params,
                HttpResponse& response) {
  const SecretRedactor& redactor = context.runtime.redactor();
  const std::string& id = params.find("id")->second;
  Json data = Json::object();
  if (!request.body.empty()) {
    if (auto error = JsonContentTypeError(request)) return SendError(response, *error);
    if (static_cast<long long>(request.body.size()) > context.config.max_event_bytes) {
      return SendStatus(response,
                        OutOfRangeError("the body is over the limit of " +
                                        std::to_string(context.config.max_event_bytes) + " bytes"),
                        redactor);
    }
    StatusOr<Json> body = ParseJsonBody(request.body);
    if (!body.ok()) return SendStatus(response, body.status(), redactor);
    if (!body->is_object()) {
      return SendError(response, HttpError::FromStatus(InvalidArgumentError(
                                     "the body must be an object: {\"data\": {…}}")));
    }
    auto given = body->find("data");
    if (given != body->end() && !given->is_null()) {
      if (!given->is_object()) {
        return SendError(response,
                         HttpError::FromStatus(InvalidArgumentError("`data` must be an object")));
      }
      data = *given;
    }
  }
  StatusOr<std::string> run = context.runtime.InvokeFlow(id, std::move(data));
  if (!run.ok()) return SendStatus(response, run.status(), redactor);
  SendJson(response, 201, Json{{"run_id", *run}, {"flow", id}});
}

}  // namespace

void AddFlowRoutes(ApiContext& context, ApiRoutes& routes) {
  ApiContext* ctx = &context;
  routes.Add("GET", "/v1/flows", RouteAccess::kApiToken,
             [ctx](const HttpRequest&, const PathParams&, HttpResponse& response) {
               ListFlows(*ctx, response);
             });
  routes.Add("POST", "/v1/flows/{id*}/invoke", RouteAccess::kApiToken,
             [ctx](const HttpRequest& request, const PathParams& params, HttpResponse& response) {
               InvokeFlow(*ctx, request, params, response);
             });
  routes.Add("GET", "/v1/flows/{id*}", RouteAccess::kApiToken,
             [ctx](const HttpRequest&, const PathParams& params, HttpResponse& response) {
               GetFlow(*ctx, params, response);
             });
}

}  // namespace flowrun
