#include "config/secrets.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "flow/yaml_loader.h"

extern char** environ;

namespace flowrun {
namespace {

std::optional<std::string> GetEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::map<std::string, std::string> ListEnv() {
  std::map<std::string, std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Status ReadSecretsFile(const std::string& path,
                       std::map<std::string, std::string, std::less<>>& values) {
  if (!std::filesystem::exists(path)) {
    return NotFoundError("secrets file " + path + " does not exist");
  }
  LoadedDocument loaded = LoadYamlFile(path);
  for (const Diagnostic& d : loaded.diagnostics) {
    if (d.severity != Severity::kError) continue;
    // The loader's messages quote structure, not values, but keep only the location to be safe.
    return InvalidArgumentError("secrets file " + d.path + ":" + std::to_string(d.pos.line) + ":" +
                                std::to_string(d.pos.column) + ": " + d.rule + " error");
  }
  if (loaded.document.is_null()) return OkStatus();
  if (!loaded.document.is_object()) {
    return InvalidArgumentError("secrets file " + path + " must be a map of names to values");
  }
  for (const auto& [name, value] : loaded.document.items()) {
    SourcePos pos = loaded.positions.ValuePosition(JsonPointerAppend("", name));
    std::string where = path + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
    if (value.is_string()) {
      values[name] = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
      values[name] = value.dump();
    } else {
      return InvalidArgumentError(where + ": secret \"" + name +
                                  "\" must be a string, number or boolean");
    }
  }
  return OkStatus();
}

}  // namespace

StatusOr<Secrets> Secrets::Load(const SecretsConfig& config, EnvLookup lookup, EnvList list) {
  if (!lookup) lookup = GetEnv;
  if (!list) list = ListEnv;
  Secrets secrets;
  for (const std::string& name : config.env_names) {
    std::optional<std::string> value = lookup(name);
    if (!value) {
      return NotFoundError("secret " + name + ": environment variable " + name +
                           " is listed in secrets.env but not set");
    }
    secrets.values_[name] = std::move(*value);
  }
  if (!config.env_prefix.empty()) {
    for (auto& [name, value] : list()) {
      if (name.size() > config.env_prefix.size() && name.rfind(config.env_prefix, 0) == 0) {
        secrets.values_[name.substr(config.env_prefix.size())] = value;
      }
    }
  }
  if (!config.file.empty()) RETURN_IF_ERROR(ReadSecretsFile(config.file, secrets.values_));
  return secrets;
}

std::optional<std::string> Secrets::Get(std::string_view name) const {
  auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

StatusOr<std::string> Secrets::Require(std::string_view name) const {
  if (auto value = Get(name)) return *value;
  std::string known;
  for (const auto& [n, v] : values_) known += (known.empty() ? "" : ", ") + n;
  return NotFoundError("secret \"" + std::string(name) + "\" is not set" +
                       (known.empty() ? std::string(" (no secrets are configured)")
                                      : " (configured secrets: " + known + ")"));
}

StatusOr<std::string> Secrets::Resolve(std::string_view value) const {
  std::string_view text = Trim(value);
  if (text.size() < 6 || text.substr(0, 3) != "${{" || text.substr(text.size() - 2) != "}}") {
    return std::string(value);
  }
  std::string_view inner = Trim(text.substr(3, text.size() - 5));
  static constexpr std::string_view kPrefix = "secrets.";
  if (inner.substr(0, kPrefix.size()) != kPrefix) {
    return InvalidArgumentError("only ${{ secrets.NAME }} may be used here, not \"" +
                                std::string(text) + "\"");
  }
  return Require(inner.substr(kPrefix.size()));
}

std::vector<std::string> Secrets::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, value] : values_) names.push_back(name);
  return names;
}

Json Secrets::All() const {
  Json all = Json::object();
  for (const auto& [name, value] : values_) all[name] = value;
  return all;
}

}  // namespace flowrun
