// Run routes: GET /v1/runs, GET /v1/runs/{id}, POST /v1/runs/{id}/cancel,
// POST /v1/runs/{id}/rerun, and the bulk POST /v1/runs/cancel and POST /v1/runs/rerun.
#include "server/api_handlers.h"
#include "server/api_json.h"
#include "server/bulk_runs.h"
#include "server/event_payload.h"

namespace flowrun {
namespace {

void ListRuns(ApiContext& context, const HttpRequest& request, HttpResponse& response) {
  const SecretRedactor& redactor = context.runtime.redactor();
  StatusOr<int> limit = LimitParam(request, 50, 1000);
  if (!limit.ok()) return SendStatus(response, limit.status(), redactor);
  store::RunFilter filter;
  filter.limit = *limit;
  filter.flow_id = request.get_param_value("flow");
  filter.before_id = request.get_param_value("cursor");
  if (request.has_param("status") && !request.get_param_value("status").empty()) {
    StatusOr<store::RunStatus> status = store::ParseRunStatus(request.get_param_value("status"));
    if (!status.ok()) {
      return SendError(response, HttpError::FromStatus(InvalidArgumentError(
                                     "`status` must be one of queued, running, sleeping, waiting, "
                                     "completed, failed, cancelled, skipped")));
    }
    filter.status = *status;
  }
  StatusOr<std::vector<store::RunRecord>> runs = context.runtime.ListRuns(filter);
  if (!runs.ok()) return SendStatus(response, runs.status(), redactor);
  Json list = Json::array();
  for (const store::RunRecord& run : *runs) list.push_back(RunToJson(run, redactor));
  Json next = nullptr;
  if (static_cast<int>(runs->size()) == filter.limit) next = runs->back().id;
  SendJson(response, 200, Json{{"runs", std::move(list)}, {"next_cursor", next}});
}

void GetRun(ApiContext& context, const PathParams& params, HttpResponse& response) {
  const SecretRedactor& redactor = context.runtime.redactor();
  const std::string& id = params.find("id")->second;
  StatusOr<std::optional<RunDetail>> detail = context.runtime.GetRun(id);
  if (!detail.ok()) return SendStatus(response, detail.status(), redactor);
  if (!detail->has_value()) {
    return SendError(response, HttpError::FromStatus(NotFoundError("no run \"" + id + "\"")));
  }
  SendJson(response, 200, RunDetailToJson((*detail)->run, (*detail)->journal, redactor));
}

void CancelRun(ApiContext& context, const PathParams& params, HttpResponse& response) {
  const std::string& id = params.find("id")->second;
  Status status = context.runtime.CancelRun(id);
  if (!status.ok()) return SendStatus(response, status, context.runtime.redactor());
  SendJson(response, 202, Json{{"run_id", id}, {"cancel_requested", true}});
}

void RerunRun(ApiContext& context, const HttpRequest& request, const PathParams& params,
              HttpResponse& response) {
  const SecretRedactor& redactor = context.runtime.redactor();
  const std::string& id = params.find("id")->second;
  std::optional<std::string> from_step;
  if (!request.body.empty()) {
    if (auto error = JsonContentTypeError(request)) return SendError(response, *error);
    StatusOr<Json> body = ParseJsonBody(request.body);
    if (!body.ok()) return SendStatus(response, body.status(), redactor);
    if (!body->is_object()) {
      return SendError(response,
                       HttpError::FromStatus(InvalidArgumentError(
                           "the body must be an object, such as {\"from_step\": \"x\"}")));
    }
    auto from = body->find("from_step");
    if (from != body->end() && !from->is_null()) {
      if (!from->is_string() || from->get_ref<const std::string&>().empty()) {
        return SendError(
            response,
            HttpError::FromStatus(InvalidArgumentError("`from_step` must be a non-empty string")));
      }
      from_step = from->get<std::string>();
    }
  }
  StatusOr<std::string> run = context.runtime.RerunRun(id, from_step);
  if (!run.ok()) return SendStatus(response, run.status(), redactor);
  SendJson(response, 201, Json{{"run_id", *run}, {"rerun_of", id}});
}

void BulkRuns(ApiContext& context, const HttpRequest& request, HttpResponse& response,
              BulkAction action) {
  const SecretRedactor& redactor = context.runtime.redactor();
  Json body = Json::object();
  if (!request.body.empty()) {
    if (auto error = JsonContentTypeError(request)) return SendError(response, *error);
    StatusOr<Json> parsed = ParseJsonBody(request.body);
    if (!parsed.ok()) return SendStatus(response, parsed.status(), redactor);
    body = std::move(*parsed);
  }
  StatusOr<BulkRunRequest> bulk = ParseBulkRunRequest(body, action);
  if (!bulk.ok()) return SendStatus(response, bulk.status(), redactor);
  StatusOr<BulkRunReport> report = ApplyBulkRunRequest(context.runtime, *bulk, action);
  if (!report.ok()) return SendStatus(response, report.status(), redactor);
  SendJson(response, 200, report->ToJson(action));
}

}  // namespace

void AddRunRoutes(ApiContext& context, ApiRoutes& routes) {
  ApiContext* ctx = &context;
  routes.Add("GET", "/v1/runs", RouteAccess::kApiToken,
             [ctx](const HttpRequest& request, const PathParams&, HttpResponse& response) {
               ListRuns(*ctx, request, response);
             });
  routes.Add("POST", "/v1/runs/cancel", RouteAccess::kApiToken,
             [ctx](const HttpRequest& request, const PathParams&, HttpResponse& response) {
               BulkRuns(*ctx, request, response, BulkAction::kCancel);
             });
  routes.Add("POST", "/v1/runs/rerun", RouteAccess::kApiToken,
             [ctx](const HttpRequest& request, const PathParams&, HttpResponse& response) {
               BulkRuns(*ctx, request, response, BulkAction::kRerun);
             });
  routes.Add("GET", "/v1/runs/{id}", RouteAccess::kApiToken,
             [ctx](const HttpRequest&, const PathParams& params, HttpResponse& response) {
               GetRun(*ctx, params, response);
             });
  routes.Add("POST", "/v1/runs/{id}/cancel", RouteAccess::kApiToken,
             [ctx](const HttpRequest&, const PathParams& params, HttpResponse& response) {
               CancelRun(*ctx, params, response);
             });
  routes.Add("POST", "/v1/runs/{id}/rerun", RouteAccess::kApiToken,
             [ctx](const HttpRequest& request, const PathParams& params, HttpResponse& response) {
               RerunRun(*ctx, request, params, response);
             });
}

}  // namespace flowrun
