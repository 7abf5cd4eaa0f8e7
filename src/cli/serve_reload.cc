#include "cli/serve_reload.h"

#include <set>
#include <sstream>

#include "common/log.h"
#include "flow/yaml_loader.h"

namespace flowrun::cli {
namespace {

// The config file's document as an object; {} without a file or when it is not an object.
Json ConfigDocument(const Config& config) {
  if (config.path.empty()) return Json::object();
  LoadedDocument loaded = LoadYamlFile(config.path);
  return loaded.document.is_object() ? loaded.document : Json::object();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

std::vector<std::string> ChangedConfigKeys(const Json& before, const Json& after) {
  std::set<std::string> keys;
  for (const Json* document : {&before, &after}) {
    if (!document->is_object()) continue;
    for (const auto& [key, value] : document->items()) keys.insert(key);
  }
  std::vector<std::string> changed;
  for (const std::string& key : keys) {
    const bool in_before = before.is_object() && before.contains(key);
    const bool in_after = after.is_object() && after.contains(key);
    if (in_before != in_after || (in_before && before[key] != after[key])) changed.push_back(key);
  }
  return changed;
}

ServeReloader::ServeReloader(Runtime& runtime, std::function<StatusOr<Config>()> load_config,
                             const Config& running)
    : runtime_(runtime),
      load_config_(std::move(load_config)),
      running_document_(ConfigDocument(running)) {}

ServeReloadOutcome ServeReloader::Reload() {
  ServeReloadOutcome outcome;
  StatusOr<Config> config = load_config_();
  if (!config.ok()) {
    outcome.error = config.status().message();
    LogError("reload refused: the config has errors; the running config and flows keep serving",
             {{"errors", Lines(outcome.error)}});
    return outcome;
  }
  Json document = ConfigDocument(*config);
  StatusOr<ReloadReport> flows = runtime_.ReloadFlowsFrom(config->flows);
  if (!flows.ok()) {
    outcome.error = flows.status().message();
    LogError("reload refused: the flows have errors; the running config and flows keep serving",
             {{"flows", config->flows}, {"errors", Lines(outcome.error)}});
    return outcome;
  }
  outcome.applied = true;
  outcome.flows = *flows;
  for (const std::string& key : ChangedConfigKeys(running_document_, document)) {
    if (key != "flows") outcome.restart_keys.push_back(key);
  }
  if (document.contains("flows")) {
    running_document_["flows"] = document["flows"];
  } else {
    running_document_.erase("flows");
  }
  if (!outcome.restart_keys.empty()) {
    LogWarn("reload: these config keys changed and take effect at the next restart",
            {{"keys", outcome.restart_keys}});
  }
  LogInfo("reloaded", {{"flows", config->flows},
                       {"updated", outcome.flows.updated},
                       {"retired", outcome.flows.retired}});
  return outcome;
}

}  // namespace flowrun::cli
