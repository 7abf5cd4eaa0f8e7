// Event routes: POST /e/{event_key} (Inngest's ingest path), POST /v1/events, GET /v1/events and
// GET /v1/events/{id}.
#include <charconv>

#include "server/api_handlers.h"
#include "server/api_json.h"
#include "server/event_payload.h"

namespace flowrun {
namespace {

// Parses, checks and ingests a request's events; answers {"ids": [...], "status": 200} after the
// commit.
void Ingest(ApiContext& context, const httplib::Request& request, httplib::Response& response) {
  if (auto error = JsonContentTypeError(request)) return SendError(response, *error);
  StatusOr<std::vector<Json>> events =
      ParseEventPayload(request.body, context.config.max_event_bytes);
  if (!events.ok()) return SendStatus(response, events.status(), context.runtime.redactor());
  StatusOr<std::vector<IngestedEvent>> ingested = context.runtime.IngestEvents(*events);
  if (!ingested.ok()) return SendStatus(response, ingested.status(), context.runtime.redactor());
  Json ids = Json::array();
  for (const IngestedEvent& event : *ingested) ids.push_back(event.id);
  SendJson(response, 200, Json{{"ids", std::move(ids)}, {"status", 200}});
}

void ListEvents(ApiContext& context, const httplib::Request& request, httplib::Response& response) {
  StatusOr<int> limit = LimitParam(request, 100, 1000);
  if (!limit.ok()) return SendStatus(response, limit.status(), context.runtime.redactor());
  store::EventFilter filter;
  filter.limit = *limit;
  filter.name = request.get_param_value("name");
  if (request.has_param("cursor")) {
    std::string cursor = request.get_param_value("cursor");
    int64_t after = 0;
    auto [end, error] = std::from_chars(cursor.data(), cursor.data() + cursor.size(), after);
    if (error != std::errc() || end != cursor.data() + cursor.size() || after < 0) {
      return SendError(response, HttpError::FromStatus(InvalidArgumentError(
                                     "`cursor` must be the next_cursor of a previous page")));
    }
    filter.after_seq = after;
  }
  // `order=newest` gives the newest events first, to start a view at the end of the log; its
  // next_cursor is the newest seq, from which the log is followed forward (oldest first) with
  // `cursor`. Without it, pages go oldest first, as the dashboard's follow loop expects.
  const std::string order = request.get_param_value("order");
  if (order == "newest") {
    filter.newest_first = true;
  } else if (!order.empty() && order != "oldest") {
    return SendError(
        response, HttpError::FromStatus(InvalidArgumentError("`order` must be oldest or newest")));
  }
  StatusOr<std::vector<store::EventRecord>> events = context.runtime.ListEvents(filter);
  if (!events.ok()) return SendStatus(response, events.status(), context.runtime.redactor());
  Json list = Json::array();
  for (const store::EventRecord& event : *events) list.push_back(EventToJson(event));
  Json next = nullptr;
  if (filter.newest_first) {
    next = std::to_string(events->empty() ? filter.after_seq : events->front().seq);
  } else if (static_cast<int>(events->size()) == filter.limit) {
    next = std::to_string(events->back().seq);
  }
  SendJson(response, 200, Json{{"events", std::move(list)}, {"next_cursor", next}});
}

void GetEvent(ApiContext& context, const PathParams& params, httplib::Response& response) {
  const std::string& id = params.find("id")->second;
  StatusOr<std::optional<store::EventRecord>> event = context.runtime.GetEvent(id);
  if (!event.ok()) return SendStatus(response, event.status(), context.runtime.redactor());
  if (!event->has_value()) {
    return SendError(response, HttpError::FromStatus(NotFoundError("no event \"" + id + "\"")));
  }
  SendJson(response, 200, EventToJson(**event));
}

}  // namespace

void AddEventRoutes(ApiContext& context, ApiRoutes& routes) {
  ApiContext* ctx = &context;
  routes.Add("POST", "/e/{event_key}", RouteAccess::kEventKey,
             [ctx](const httplib::Request& request, const PathParams&,
                   httplib::Response& response) { Ingest(*ctx, request, response); });
  routes.Add("POST", "/v1/events", RouteAccess::kApiToken,
             [ctx](const httplib::Request& request, const PathParams&,
                   httplib::Response& response) { Ingest(*ctx, request, response); });
  routes.Add("GET", "/v1/events", RouteAccess::kApiToken,
             [ctx](const httplib::Request& request, const PathParams&,
                   httplib::Response& response) { ListEvents(*ctx, request, response); });
  routes.Add("GET", "/v1/events/{id}", RouteAccess::kApiToken,
             [ctx](const httplib::Request&, const PathParams& params, httplib::Response& response) {
               GetEvent(*ctx, params, response);
             });
}

}  // namespace flowrun
