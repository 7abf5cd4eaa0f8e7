// Event routes: POST /e/{event_key} (Inngest's ingest path), POST /v1/events, GET /v1/events and
// GET /v1/events/{id}.
#include <charconv>

#include "server/api_handlers.h"
#include "server/api_json.h"
#include "server/event_intake.h"
#include "server/event_payload.h"
#include "server/handler_pool.h"

namespace flowrun {
namespace {

// Ingest bodies up to this size are parsed on the I/O thread that read them.
constexpr size_t kInlineParseBytes = 64 * 1024;

// Parses and checks a request's events and hands them to the EventIntake; answers
// {"ids": [...], "status": 200} after their commit. Runs on an I/O thread (ApiHandler::kAsync):
// the parse is bounded by the route's body limit, and the commit happens elsewhere.
void Ingest(ApiContext& context, const HttpRequest& request, ApiHandler::Reply reply) {
  HttpResponse response;
  if (auto error = JsonContentTypeError(request)) {
    SendError(response, *error);
    return reply(std::move(response));
  }
  StatusOr<std::vector<Json>> events =
      ParseEventPayload(request.body, context.config.max_event_bytes);
  if (!events.ok()) {
    SendStatus(response, events.status(), context.runtime.redactor());
    return reply(std::move(response));
  }
  context.intake->Submit(
      std::move(events).value(),
      [&context, reply = std::move(reply)](StatusOr<std::vector<IngestedEvent>> ingested) {
        HttpResponse response;
        if (!ingested.ok()) {
          SendStatus(response, ingested.status(), context.runtime.redactor());
          return reply(std::move(response));
        }
        Json ids = Json::array();
        for (const IngestedEvent& event : *ingested) ids.push_back(event.id);
        SendJson(response, 200, Json{{"ids", std::move(ids)}, {"status", 200}});
        reply(std::move(response));
      });
}

void ListEvents(ApiContext& context, const HttpRequest& request, HttpResponse& response) {
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

void GetEvent(ApiContext& context, const PathParams& params, HttpResponse& response) {
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
  // Small bodies are parsed on the I/O thread; a large one (up to the route's body limit, 16 MiB
  // by default) on the handler pool, so that parsing it cannot hold up other connections.
  auto ingest = ApiHandler::MakeAsync([ctx](std::shared_ptr<const HttpRequest> request, PathParams,
                                            ApiHandler::Reply reply) {
    if (request->body.size() <= kInlineParseBytes) return Ingest(*ctx, *request, reply);
    bool queued = ctx->pool->Post([ctx, request, reply] { Ingest(*ctx, *request, reply); });
    if (!queued) {
      HttpResponse response;
      response.set_header("Retry-After", "1");
      SendError(response,
                HttpError::FromStatus(UnavailableError("the server is busy; try again shortly")));
      reply(std::move(response));
    }
  });
  routes.Add("POST", "/e/{event_key}", RouteAccess::kEventKey, ingest);
  routes.Add("POST", "/v1/events", RouteAccess::kApiToken, ingest);
  routes.Add("GET", "/v1/events", RouteAccess::kApiToken,
             [ctx](const HttpRequest& request, const PathParams&, HttpResponse& response) {
               ListEvents(*ctx, request, response);
             });
  routes.Add("GET", "/v1/events/{id}", RouteAccess::kApiToken,
             [ctx](const HttpRequest&, const PathParams& params, HttpResponse& response) {
               GetEvent(*ctx, params, response);
             });
}

}  // namespace flowrun
