#include "server/bulk_runs.h"

#include <set>

#include "common/deterministic_id.h"
#include "common/timestamp.h"

namespace flowrun {
namespace {

constexpr size_t kMaxReportedErrors = 20;

// The member `name` of `body`, or null when absent (a const Json must not be indexed with a
// missing key).
const Json& Field(const Json& body, const char* name) {
  static const Json kNull;
  auto it = body.find(name);
  return it == body.end() ? kNull : *it;
}

StatusOr<std::string> StringField(const Json& body, const char* name) {
  const Json& value = Field(body, name);
  if (value.is_null()) return std::string();
  if (!value.is_string())
    return InvalidArgumentError(std::string("`") + name + "` must be a string");
  if (value.get_ref<const std::string&>().size() > 1024) {
    return InvalidArgumentError(std::string("`") + name + "` is longer than 1024 bytes");
  }
  return value.get<std::string>();
}

StatusOr<std::optional<TimePoint>> TimeField(const Json& body, const char* name) {
  ASSIGN_OR_RETURN(std::string text, StringField(body, name));
  if (text.empty()) return std::optional<TimePoint>();
  StatusOr<TimePoint> time = ParseTimestamp(text);
  if (!time.ok()) {
    return InvalidArgumentError(std::string("`") + name +
                                "` must be an RFC 3339 time such as 2026-01-31T09:00:00Z");
  }
  return std::optional<TimePoint>(*time);
}

}  // namespace

StatusOr<BulkRunRequest> ParseBulkRunRequest(const Json& body, BulkAction action) {
  if (!body.is_object()) {
    return InvalidArgumentError(
        "the body must be an object such as {\"flow\": \"x\", \"status\": "
        "\"failed\"}");
  }
  static const std::set<std::string> kCancelKeys = {"flow", "status", "since", "until",
                                                    "if",   "cursor", "limit"};
  for (const auto& [key, unused] : body.items()) {
    if (kCancelKeys.count(key) || (action == BulkAction::kRerun && key == "from_step")) continue;
    return InvalidArgumentError("unknown field `" + key + "`");
  }
  BulkRunRequest request;
  store::RunFilter& filter = request.filter;
  filter.limit = kDefaultBulkPage;
  ASSIGN_OR_RETURN(filter.flow_id, StringField(body, "flow"));
  ASSIGN_OR_RETURN(std::string status, StringField(body, "status"));
  if (status.empty() && action == BulkAction::kRerun) status = "failed";
  if (!status.empty()) {
    StatusOr<store::RunStatus> parsed = store::ParseRunStatus(status);
    if (!parsed.ok()) {
      return InvalidArgumentError(
          "`status` must be one of queued, running, sleeping, waiting, "
          "completed, failed, cancelled, skipped");
    }
    filter.status = *parsed;
  }
  ASSIGN_OR_RETURN(filter.created_since, TimeField(body, "since"));
  ASSIGN_OR_RETURN(filter.created_until, TimeField(body, "until"));
  ASSIGN_OR_RETURN(filter.before_id, StringField(body, "cursor"));
  if (const Json& limit = Field(body, "limit"); !limit.is_null()) {
    if (!limit.is_number_integer() || limit.get<int64_t>() < 1 ||
        limit.get<int64_t>() > kMaxBulkPage) {
      return InvalidArgumentError("`limit` must be an integer from 1 to " +
                                  std::to_string(kMaxBulkPage));
    }
    filter.limit = limit.get<int>();
  }
  ASSIGN_OR_RETURN(std::string condition, StringField(body, "if"));
  if (condition.size() > kMaxBulkConditionBytes) {
    return InvalidArgumentError("`if` is longer than " + std::to_string(kMaxBulkConditionBytes) +
                                " bytes");
  }
  if (!condition.empty()) {
    auto parsed = expr::Expression::Parse(condition);
    if (auto* error = std::get_if<expr::ParseError>(&parsed)) {
      return InvalidArgumentError("`if`: " + error->message);
    }
    request.condition = std::move(std::get<expr::Expression>(parsed));
  }
  if (action == BulkAction::kRerun) {
    ASSIGN_OR_RETURN(std::string from_step, StringField(body, "from_step"));
    if (!from_step.empty()) request.from_step = std::move(from_step);
  }
  if (action == BulkAction::kCancel && filter.flow_id.empty() && !filter.status &&
      !filter.created_since && !filter.created_until && !request.condition) {
    return InvalidArgumentError(
        "a bulk cancel needs a filter: at least one of flow, status, since, until or if");
  }
  return request;
}

StatusOr<BulkRunReport> ApplyBulkRunRequest(Runtime& runtime, const BulkRunRequest& request,
                                            BulkAction action) {
  ASSIGN_OR_RETURN(std::vector<store::RunRecord> runs, runtime.ListRuns(request.filter));
  BulkRunReport report;
  report.scanned = static_cast<int>(runs.size());
  if (static_cast<int>(runs.size()) == request.filter.limit && !runs.empty()) {
    report.next_cursor = runs.back().id;
  }
  auto note_error = [&](const std::string& id, const Status& status) {
    if (report.errors.size() < kMaxReportedErrors) report.errors.emplace_back(id, status.message());
  };
  for (const store::RunRecord& run : runs) {
    if (request.condition) {
      Json scope = Json{{"event", run.event}};
      expr::EvalContext context;
      context.scope = &scope;
      const TimePoint now = SystemClock().Now();
      context.now = [now] { return now; };
      context.uuid = [] { return RandomUuid(); };
      StatusOr<bool> matches = request.condition->EvaluateCondition(context);
      if (!matches.ok()) {
        note_error(run.id, matches.status());
        continue;
      }
      if (!*matches) continue;
    }
    ++report.matched;
    if (action == BulkAction::kCancel) {
      if (store::IsTerminal(run.status)) {
        ++report.skipped;
        continue;
      }
      Status cancelled = runtime.CancelRun(run.id);
      if (cancelled.ok()) {
        ++report.done;
      } else if (cancelled.code() == StatusCode::kFailedPrecondition) {
        ++report.skipped;  // it finished meanwhile
      } else {
        note_error(run.id, cancelled);
      }
      continue;
    }
    StatusOr<std::string> rerun = runtime.RerunRun(run.id, request.from_step);
    if (rerun.ok()) {
      ++report.done;
      report.new_runs.push_back(*rerun);
    } else {
      note_error(run.id, rerun.status());
    }
  }
  return report;
}

Json BulkRunReport::ToJson(BulkAction action) const {
  Json out = {{"scanned", scanned}, {"matched", matched}, {"skipped", skipped}};
  out[action == BulkAction::kCancel ? "cancelled" : "rerun"] = done;
  if (action == BulkAction::kRerun) out["runs"] = new_runs;
  Json list = Json::array();
  for (const auto& [id, message] : errors) list.push_back({{"run_id", id}, {"error", message}});
  out["errors"] = std::move(list);
  out["next_cursor"] = next_cursor ? Json(*next_cursor) : Json(nullptr);
  return out;
}

}  // namespace flowrun
