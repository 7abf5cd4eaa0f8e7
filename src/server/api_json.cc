#include "server/api_json.h"

#include <map>
#include <string>

#include "common/timestamp.h"
#include "flow/flow_graph.h"

namespace flowrun {
namespace {

Json Time(const std::optional<TimePoint>& t) {
  return t.has_value() ? Json(FormatTimestamp(*t)) : Json(nullptr);
}

Json OrNull(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

// Folds a step key's journal entries into one step record.
struct StepView {
  std::string key;
  Json record = Json::object();
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> ended_at;
  Json attempts = Json::array();
  std::string status = "running";
};

}  // namespace

Json RunToJson(const store::RunRecord& run, const SecretRedactor& redactor) {
  Json out = {
      {"id", run.id},
      {"flow", run.flow_id},
      {"revision", run.revision},
      {"status", std::string(store::RunStatusName(run.status))},
      {"event", redactor.RedactJson(run.event)},
      {"trigger_event_id", OrNull(run.trigger_event_id)},
      {"output", redactor.RedactJson(run.output)},
      {"error", redactor.RedactJson(run.error)},
      {"created_at", FormatTimestamp(run.created_at)},
      {"updated_at", FormatTimestamp(run.updated_at)},
      {"ended_at", Time(run.ended_at)},
      {"due_at", Time(run.due_at)},
      {"deadline", Time(run.deadline)},
      {"parent_run_id", OrNull(run.parent_run_id)},
      {"parent_step_key", OrNull(run.parent_step_key)},
      {"concurrency_key", OrNull(run.concurrency_key)},
      {"idempotency_key", OrNull(run.idempotency_key)},
      {"cancel_requested", run.cancel_requested},
      {"skip_reason", OrNull(run.skip_reason)},
  };
  // A batched run: its events (`event` is the first).
  if (!run.events.is_null()) out["events"] = redactor.RedactJson(run.events);
  return out;
}

Json RunDetailToJson(const store::RunRecord& run, const std::vector<store::JournalEntry>& journal,
                     const SecretRedactor& redactor) {
  Json out = RunToJson(run, redactor);
  std::vector<StepView> steps;
  std::map<std::string, size_t> index;
  Json entries = Json::array();
  for (const store::JournalEntry& entry : journal) {
    Json data = redactor.RedactJson(entry.data);
    entries.push_back({{"seq", entry.seq},
                       {"step", entry.step_key},
                       {"kind", std::string(store::JournalKindName(entry.kind))},
                       {"data", data},
                       {"at", FormatTimestamp(entry.at)}});
    auto [it, inserted] = index.emplace(entry.step_key, steps.size());
    if (inserted) steps.push_back(StepView{entry.step_key});
    StepView& step = steps[it->second];
    if (!step.started_at.has_value()) step.started_at = entry.at;
    // An action attempt's entry is written when it ends; `started_at` says when it was sent.
    if (entry.data.is_object() && entry.data.contains("started_at") &&
        entry.data["started_at"].is_number_integer()) {
      TimePoint sent = FromUnixMillis(entry.data["started_at"].get<long long>());
      if (sent < *step.started_at) step.started_at = sent;
    }
    switch (entry.kind) {
      case store::JournalKind::kCompleted:
        step.ended_at = entry.at;
        step.record = data.is_object() ? data : Json::object();
        step.status = data.is_object() && data.contains("status") && data["status"].is_string()
                          ? data["status"].get<std::string>()
                          : "completed";
        break;
      case store::JournalKind::kAttempt:
        step.attempts.push_back(data);
        if (step.status == "running") step.status = "retrying";
        break;
      case store::JournalKind::kStarted:
        if (data.is_object() && data.contains("wake_at")) step.status = "sleeping";
        if (data.is_object() && data.contains("wait_id")) step.status = "waiting";
        if (data.is_object() && data.contains("child")) step.status = "invoking";
        step.record["started"] = data;
        break;
      case store::JournalKind::kNondet:
        break;
    }
  }
  Json step_list = Json::array();
  for (StepView& step : steps) {
    Json item = {{"key", step.key},
                 {"status", step.status},
                 {"input", step.record.value("input", Json())},
                 {"output", step.record.value("output", Json())},
                 {"error", step.record.value("error", Json())},
                 {"attempts", step.attempts},
                 {"attempt_count", step.record.value("attempts", Json(step.attempts.size() + 1))},
                 {"started_at", Time(step.started_at)},
                 {"ended_at", Time(step.ended_at)},
                 {"duration_ms", step.started_at && step.ended_at
                                     ? Json((*step.ended_at - *step.started_at).count())
                                     : Json(nullptr)}};
    if (step.record.contains("started")) item["started"] = step.record["started"];
    step_list.push_back(std::move(item));
  }
  out["steps"] = std::move(step_list);
  out["journal"] = std::move(entries);
  return out;
}

Json EventToJson(const store::EventRecord& event) {
  return Json{{"id", event.id},
              {"name", event.name},
              {"data", event.data},
              {"ts", FormatTimestamp(event.ts)},
              {"client_id", OrNull(event.client_id)},
              {"seq", event.seq}};
}

Json FlowSummaryToJson(const FlowStatus& flow) {
  Json out = {{"id", flow.flow_id},
              {"valid", flow.valid},
              {"retired", flow.current == nullptr},
              {"ready", flow.ready()},
              {"missing_secrets", flow.missing_secrets},
              {"errors", flow.errors},
              {"source_path", flow.source_path},
              {"updated_at", FormatTimestamp(flow.updated_at)},
              {"description", nullptr},
              {"revision", nullptr},
              {"triggers", Json::array()}};
  if (flow.current != nullptr) {
    out["description"] = flow.current->description;
    out["revision"] = flow.current->revision;
    const Json& document = flow.current->document;
    if (document.is_object() && document.contains("on")) {
      out["triggers"] = document["on"].is_array() ? document["on"] : Json::array({document["on"]});
    }
  }
  return out;
}

Json FlowDetailToJson(const FlowStatus& flow,
                      const std::vector<store::FlowRevisionRecord>& revisions,
                      const std::vector<FlowFileStatus>& files) {
  Json out = FlowSummaryToJson(flow);
  Json list = Json::array();
  for (const store::FlowRevisionRecord& revision : revisions) {
    list.push_back(
        {{"revision", revision.revision},
         {"created_at", FormatTimestamp(revision.created_at)},
         {"current", flow.current != nullptr && flow.current->revision == revision.revision}});
  }
  out["revisions"] = std::move(list);
  out["graph"] = nullptr;
  out["document"] = nullptr;
  if (flow.current != nullptr) {
    out["graph"] = {{"mermaid", RenderMermaid(BuildFlowGraph(*flow.current))}};
    out["document"] = flow.current->document;
  }
  Json file_list = Json::array();
  for (const FlowFileStatus& file : files) {
    if (file.flow_id != flow.flow_id && file.path != flow.source_path) continue;
    Json diagnostics = Json::array();
    for (const Diagnostic& d : file.diagnostics) {
      diagnostics.push_back({{"line", d.pos.line},
                             {"column", d.pos.column},
                             {"severity", d.severity == Severity::kError ? "error" : "warning"},
                             {"message", d.message},
                             {"rule", d.rule},
                             {"hint", d.hint}});
    }
    file_list.push_back({{"path", file.path},
                         {"valid", file.valid},
                         {"revision", OrNull(file.revision)},
                         {"diagnostics", std::move(diagnostics)},
                         {"messages", file.messages}});
  }
  out["files"] = std::move(file_list);
  return out;
}

Json OutboxMessageToJson(const OutboxMessage& message, const SecretRedactor& redactor) {
  return redactor.RedactJson(Json{{"message_id", message.message_id},
                                  {"run_id", message.run_id},
                                  {"step_key", message.step_key},
                                  {"from", message.from},
                                  {"recipients", message.recipients},
                                  {"subject", message.subject},
                                  {"mime", message.mime},
                                  {"created_at", FormatTimestamp(message.created_at)}});
}

}  // namespace flowrun
