#include "config/flow_config_check.h"

#include <set>

#include "flow/secret_references.h"

namespace flowrun {
namespace {

bool IsTemplate(const Json& value) {
  return value.is_string() && value.get<std::string>().find("${{") != std::string::npos;
}

std::string Where(const std::string& flow, const std::string& step) {
  return "flow " + flow + (step.empty() ? "" : ", step " + step);
}

// The secret a config value names when it is exactly `${{ secrets.NAME }}`; empty otherwise.
std::string SecretNamedBy(const std::string& value) {
  auto names = ReferencedSecretNames(Json(value));
  return names.size() == 1 ? *names.begin() : "";
}

// Visits every step of a flow document with its JSON pointer.
void ForEachStepDocument(const Json& steps, const std::string& pointer,
                         const std::function<void(const Json&, const std::string&)>& visit) {
  if (!steps.is_array()) return;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Json& step = steps[i];
    const std::string at = JsonPointerAppend(pointer, i);
    if (!step.is_object()) continue;
    visit(step, at);
    for (const auto& [key, value] : step.items()) {
      const std::string child = JsonPointerAppend(at, key);
      if (key == "steps" || key == "on_error") ForEachStepDocument(value, child, visit);
      if (!value.is_object()) continue;
      for (const char* nested : {"steps", "default"}) {
        if (value.contains(nested)) {
          ForEachStepDocument(value[nested], JsonPointerAppend(child, nested), visit);
        }
      }
      if (value.contains("cases") && value["cases"].is_array()) {
        for (size_t c = 0; c < value["cases"].size(); ++c) {
          const std::string case_at = JsonPointerAppend(JsonPointerAppend(child, "cases"), c);
          if (value["cases"][c].is_object() && value["cases"][c].contains("steps")) {
            ForEachStepDocument(value["cases"][c]["steps"], JsonPointerAppend(case_at, "steps"),
                                visit);
          }
        }
      }
      if (value.contains("branches") && value["branches"].is_object()) {
        for (const auto& [name, branch] : value["branches"].items()) {
          ForEachStepDocument(branch, JsonPointerAppend(JsonPointerAppend(child, "branches"), name),
                              visit);
        }
      }
    }
  }
}

}  // namespace

std::vector<Diagnostic> CheckFlowsAgainstConfig(
    const FlowSet& flows, const Config& config, const LoadedConfig& loaded_config,
    const std::function<bool(const std::string& name)>& secret_is_set) {
  std::vector<Diagnostic> out;
  for (const FlowFile& file : flows.files) {
    if (file.is_config || !file.program) continue;
    const Json& doc = file.document->document;
    const std::string& flow = file.program->flow_id;
    auto report = [&](const std::string& pointer, std::string message, std::string rule,
                      std::string hint) {
      SourcePos pos = file.document->positions.ValuePosition(pointer);
      out.push_back({file.path, pos.known() ? pos : SourcePos{1, 1}, Severity::kError,
                     std::move(message), std::move(rule), std::move(hint)});
    };
    std::set<std::pair<std::string, std::string>> reported;  // (step, secret)
    for (const SecretReference& ref : FindSecretReferences(doc)) {
      if (secret_is_set(ref.name)) continue;
      const std::string step = StepIdAt(doc, ref.pointer);
      if (!reported.insert({step, ref.name}).second) continue;
      report(ref.pointer, Where(flow, step) + ": secret \"" + ref.name + "\" is not configured",
             "config-secret",
             "set it in the config's secrets source (for example FLOWRUN_SECRET_" + ref.name + ")");
    }
    auto visit = [&](const Json& step, const std::string& pointer) {
      const std::string id = step.value("id", "");
      if (step.contains("db") && step["db"].is_object()) {
        const Json& database = step["db"].value("database", Json());
        if (database.is_string() && !IsTemplate(database) &&
            !config.databases.count(database.get<std::string>())) {
          std::string known;
          for (const auto& [name, url] : config.databases)
            known += (known.empty() ? "" : ", ") + name;
          report(pointer + "/db/database",
                 Where(flow, id) + ": database \"" + database.get<std::string>() +
                     "\" is not configured",
                 "config-database",
                 known.empty() ? "add it under databases: in the config"
                               : "the config's databases are " + known);
        }
      }
      if (step.contains("email") && step["email"].is_object() && config.smtp &&
          config.smtp->from.empty() && !step["email"].contains("from")) {
        report(pointer + "/email",
               Where(flow, id) + ": email has no from and the config's smtp.from is not set",
               "config-smtp", "set smtp.from in the config, or from: on the step");
      }
    };
    ForEachStepDocument(doc.value("steps", Json()), "/steps", visit);
    ForEachStepDocument(doc.value("on_failure", Json()), "/on_failure", visit);
  }

  // The config's own references to secrets, located where the config text names them.
  auto report_config = [&](const std::string& secret, std::string message) {
    const SourceText& source = loaded_config.source;
    size_t at = source.text().find("secrets." + secret);
    SourcePos pos = at == std::string::npos ? SourcePos{1, 1} : source.PositionOf(at);
    out.push_back({source.path().empty() ? config.path : source.path(), pos, Severity::kError,
                   std::move(message), "config-secret", "set it in the config's secrets source"});
  };
  if (config.smtp) {
    for (const std::string* value : {&config.smtp->username, &config.smtp->password}) {
      std::string name = SecretNamedBy(*value);
      if (!name.empty() && !secret_is_set(name)) {
        report_config(name, "smtp: secret \"" + name + "\" is not configured");
      }
    }
  }
  for (const auto& [name, webhook] : config.webhooks) {
    std::string secret = SecretNamedBy(webhook.secret);
    if (!secret.empty() && !secret_is_set(secret)) {
      report_config(secret, "webhook " + name + ": secret \"" + secret + "\" is not configured");
    }
  }
  return out;
}

}  // namespace flowrun
