#include "config/config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "flow/schema_validator.h"
#include "flow/yaml_loader.h"

namespace flowrun {
namespace {

namespace fs = std::filesystem;

// Resolves a path written in the config against the config's directory.
std::string ResolvePath(const std::string& base_dir, const std::string& path) {
  fs::path p(path);
  if (p.is_absolute()) return p.lexically_normal().string();
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// "sqlite:PATH" with PATH resolved; postgres URLs unchanged.
std::string ResolveDatabaseUrl(const std::string& base_dir, const std::string& url) {
  static constexpr std::string_view kSqlite = "sqlite:";
  if (url.rfind(kSqlite, 0) != 0) return url;
  std::string path = url.substr(kSqlite.size());
  if (path == ":memory:") return url;
  return std::string(kSqlite) + ResolvePath(base_dir, path);
}

bool ValidListen(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  std::string port = listen.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  int value = std::stoi(port);
  if (value < 1 || value > 65535) return false;
  std::string host = listen.substr(0, colon);
  if (host.front() == '[') return host.back() == ']' && host.size() > 2;
  return host.find_first_of(" /[]") == std::string::npos;
}

bool ValidEnvName(const std::string& name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

// Turns the schema-valid document into a Config, adding located diagnostics for what the schema
// cannot express.
class ConfigReader {
 public:
  ConfigReader(const LoadedDocument& loaded, std::vector<Diagnostic>& diagnostics)
      : loaded_(loaded), diagnostics_(diagnostics) {}

  Config Read() {
    const Json& doc = loaded_.document;
    Config config = Config::Defaults(fs::path(loaded_.source.path()).parent_path().string());
    config.path = loaded_.source.path();
    if (doc.is_null()) return config;  // an empty file: all defaults
    const std::string& base = config.base_dir;

    if (doc.contains("listen")) {
      config.listen = doc["listen"].get<std::string>();
      if (!ValidListen(config.listen)) {
        Error("/listen", "invalid listen address \"" + config.listen + "\": expected host:port");
      }
    }
    if (doc.contains("store")) config.store = ResolveDatabaseUrl(base, doc["store"]);
    if (doc.contains("node_id")) config.node_id = doc["node_id"].get<std::string>();
    if (doc.contains("migrate")) config.migrate_auto = doc["migrate"].get<std::string>() == "auto";
    if (doc.contains("takeover_after")) {
      config.takeover_after = ReadDuration("/takeover_after", doc["takeover_after"]);
      if (config.takeover_after < std::chrono::milliseconds(250)) {
        Error("/takeover_after", "takeover_after must be at least 250ms");
        config.takeover_after = std::chrono::seconds(5);
      }
    }
    if (doc.contains("flows")) config.flows = ResolvePath(base, doc["flows"]);
    if (doc.contains("databases")) {
      for (const auto& [name, url] : doc["databases"].items()) {
        std::string text = url.get<std::string>();
        std::string pointer = JsonPointerAppend("/databases", name);
        if (text == "sqlite:") Error(pointer, "database \"" + name + "\" has an empty sqlite path");
        config.databases[name] = ResolveDatabaseUrl(base, text);
      }
    }
    if (doc.contains("smtp")) config.smtp = ReadSmtp(doc["smtp"]);
    if (doc.contains("http")) config.http = ReadHttp(doc["http"]);
    if (doc.contains("server")) config.server = ReadServer(doc["server"]);
    if (doc.contains("event_keys")) config.event_keys = doc["event_keys"];
    if (doc.contains("api_tokens")) config.api_tokens = doc["api_tokens"];
    if (doc.contains("webhooks")) {
      for (const auto& [name, value] : doc["webhooks"].items()) {
        config.webhooks[name] = ReadWebhook(JsonPointerAppend("/webhooks", name), value);
      }
    }
    if (doc.contains("secrets")) config.secrets = ReadSecrets(base, doc["secrets"]);
    if (doc.contains("retention")) config.retention = ReadRetention(doc["retention"]);
    if (doc.contains("max_event_bytes")) config.max_event_bytes = doc["max_event_bytes"];
    if (doc.contains("workers")) config.workers = doc["workers"];
    if (doc.contains("watch_flows")) config.watch_flows = doc["watch_flows"];
    if (doc.contains("limits")) {
      const Json& limits = doc["limits"];
      config.limits.max_inflight_actions =
          limits.value("max_inflight_actions", config.limits.max_inflight_actions);
      config.limits.max_actions_per_run =
          limits.value("max_actions_per_run", config.limits.max_actions_per_run);
      config.limits.max_step_output_bytes =
          limits.value("max_step_output_bytes", config.limits.max_step_output_bytes);
    }
    return config;
  }

 private:
  RetentionConfig ReadRetention(const Json& retention) {
    RetentionConfig out;
    if (retention.is_string()) {
      out.runs = ReadDuration("/retention", retention);
      return out;
    }
    if (retention.contains("runs")) out.runs = ReadDuration("/retention/runs", retention["runs"]);
    if (retention.contains("events")) {
      out.events = ReadDuration("/retention/events", retention["events"]);
    }
    if (retention.contains("outbox")) {
      out.outbox = ReadDuration("/retention/outbox", retention["outbox"]);
    }
    return out;
  }

  ServerConfig ReadServer(const Json& server) {
    ServerConfig out;
    if (server.contains("header_timeout")) {
      out.header_timeout = ReadDuration("/server/header_timeout", server["header_timeout"]);
    }
    if (server.contains("idle_timeout")) {
      out.idle_timeout = ReadDuration("/server/idle_timeout", server["idle_timeout"]);
    }
    auto read = [&server](const char* key, auto& field) {
      if (server.contains(key)) field = server[key];
    };
    read("min_body_bytes_per_second", out.min_body_bytes_per_second);
    read("max_connections", out.max_connections);
    read("max_connections_per_ip", out.max_connections_per_ip);
    read("max_header_bytes", out.max_header_bytes);
    read("io_threads", out.io_threads);
    read("handler_threads", out.handler_threads);
    if (server.contains("max_body_bytes")) {
      const Json& limits = server["max_body_bytes"];
      if (limits.contains("events")) out.max_events_body_bytes = limits["events"];
      if (limits.contains("webhooks")) out.max_webhooks_body_bytes = limits["webhooks"];
      if (limits.contains("api")) out.max_api_body_bytes = limits["api"];
    }
    return out;
  }

  void Error(const std::string& pointer, std::string message, std::string hint = "") {
    Diagnostic d;
    d.path = loaded_.source.path();
    d.pos = loaded_.positions.ValuePosition(pointer);
    d.message = std::move(message);
    d.rule = "config";
    d.hint = std::move(hint);
    diagnostics_.push_back(std::move(d));
  }

  Duration ReadDuration(const std::string& pointer, const Json& value) {
    StatusOr<Duration> d = ParseDuration(value.get<std::string>());
    if (!d.ok()) {
      Error(pointer, d.status().message());
      return Duration(0);
    }
    return *d;
  }

  SmtpConfig ReadSmtp(const Json& smtp) {
    SmtpConfig out;
    out.url = smtp["url"];
    size_t host_start = out.url.find("://") + 3;
    if (host_start >= out.url.size() || out.url[host_start] == '/' || out.url[host_start] == ':') {
      Error("/smtp/url", "smtp url \"" + out.url + "\" names no host");
    }
    if (smtp.contains("from")) {
      out.from = smtp["from"];
      if (out.from.find('@') == std::string::npos) {
        Error("/smtp/from", "smtp from \"" + out.from + "\" is not an email address");
      }
    }
    if (smtp.contains("starttls")) {
      std::string mode = smtp["starttls"];
      out.starttls = mode == "required" ? StartTls::kRequired
                     : mode == "off"    ? StartTls::kOff
                                        : StartTls::kAuto;
    }
    if (smtp.contains("username")) out.username = smtp["username"];
    if (smtp.contains("password")) out.password = smtp["password"];
    if (smtp.contains("max_sessions")) out.max_sessions = smtp["max_sessions"];
    if (out.password.empty() != out.username.empty()) {
      Error("/smtp", "smtp username and password must be given together");
    }
    return out;
  }

  HttpConfig ReadHttp(const Json& http) {
    HttpConfig out;
    if (http.contains("timeout")) out.timeout = ReadDuration("/http/timeout", http["timeout"]);
    if (http.contains("connect_timeout")) {
      out.connect_timeout = ReadDuration("/http/connect_timeout", http["connect_timeout"]);
    }
    if (http.contains("max_response_bytes")) out.max_response_bytes = http["max_response_bytes"];
    if (http.contains("allow_hosts")) out.allow_hosts = http["allow_hosts"];
    if (http.contains("deny_hosts")) out.deny_hosts = http["deny_hosts"];
    if (http.contains("max_connections_per_host")) {
      out.max_connections_per_host = http["max_connections_per_host"];
    }
    if (http.contains("max_connections")) out.max_connections = http["max_connections"];
    if (http.contains("timeout") && out.timeout.count() == 0) {
      Error("/http/timeout", "http timeout must be longer than 0s");
    }
    if (http.contains("connect_timeout") && out.connect_timeout.count() == 0) {
      Error("/http/connect_timeout", "http connect_timeout must be longer than 0s");
    }
    return out;
  }

  WebhookConfig ReadWebhook(const std::string& pointer, const Json& value) {
    WebhookConfig out;
    out.scheme = value["scheme"];
    if (value.contains("secret")) out.secret = value["secret"];
    if (value.contains("tolerance")) {
      out.tolerance = ReadDuration(pointer + "/tolerance", value["tolerance"]);
    }
    if (value.contains("transform")) {
      const Json& t = value["transform"];
      out.transform_name = t["name"].get<std::string>();
      if (t.contains("data")) out.transform_data = t["data"];
      if (t.contains("id")) out.transform_id = t["id"];
    }
    return out;
  }

  SecretsConfig ReadSecrets(const std::string& base, const Json& secrets) {
    SecretsConfig out;
    if (secrets.contains("env")) {
      const Json& env = secrets["env"];
      if (env.is_string()) {
        out.env_prefix = env;
        if (!ValidEnvName(out.env_prefix)) {
          Error("/secrets/env", "invalid environment variable prefix \"" + out.env_prefix + "\"");
        }
      } else {
        for (size_t i = 0; i < env.size(); ++i) {
          std::string name = env[i];
          if (!ValidEnvName(name)) {
            Error(JsonPointerAppend("/secrets/env", i),
                  "invalid environment variable name \"" + name + "\"");
          }
          out.env_names.push_back(std::move(name));
        }
      }
    }
    if (secrets.contains("file")) out.file = ResolvePath(base, secrets["file"]);
    return out;
  }

  const LoadedDocument& loaded_;
  std::vector<Diagnostic>& diagnostics_;
};

// True when YAML text holds nothing but blank lines and comments: an empty config means defaults.
bool IsBlankYaml(const std::string& text) {
  bool in_comment = false;
  for (char c : text) {
    if (c == '\n') {
      in_comment = false;
    } else if (c == '#') {
      in_comment = true;
    } else if (!in_comment && c != ' ' && c != '\t' && c != '\r') {
      return false;
    }
  }
  return true;
}

LoadedConfig FromLoaded(LoadedDocument loaded) {
  LoadedConfig result;
  result.diagnostics = std::move(loaded.diagnostics);
  if (!HasErrors(result.diagnostics) && !loaded.document.is_null()) {
    for (const SchemaViolation& v : SchemaValidator::ForConfig().Validate(loaded.document)) {
      Diagnostic d;
      d.path = loaded.source.path();
      d.pos = v.points_at_key ? loaded.positions.KeyPosition(v.pointer)
                              : loaded.positions.ValuePosition(v.pointer);
      d.message = v.message;
      d.rule = v.rule;
      d.hint = v.hint;
      result.diagnostics.push_back(std::move(d));
    }
  }
  if (!HasErrors(result.diagnostics)) {
    try {
      Config config = ConfigReader(loaded, result.diagnostics).Read();
      if (!HasErrors(result.diagnostics)) result.config = std::move(config);
    } catch (const Json::exception& e) {
      // The schema admits only what the reader expects; this is a defect, reported located.
      result.diagnostics.push_back(Diagnostic{loaded.source.path(),
                                              {1, 1},
                                              Severity::kError,
                                              std::string("config could not be read: ") + e.what(),
                                              "config",
                                              ""});
    }
  }
  result.source = std::move(loaded.source);
  return result;
}

}  // namespace

Config Config::Defaults(const std::string& base_dir) {
  Config config;
  config.base_dir = base_dir.empty() ? "." : base_dir;
  config.store = "sqlite:" + ResolvePath(config.base_dir, "flowrun.db");
  config.flows = ResolvePath(config.base_dir, "flows");
  config.workers = DefaultWorkers();
  return config;
}

int Config::DefaultWorkers() {
  unsigned cores = std::thread::hardware_concurrency();
  return 3 * static_cast<int>(std::max(1u, cores));
}

LoadedConfig LoadConfigFile(const std::string& path) {
  LoadedDocument loaded = LoadYamlFile(path);
  bool unreadable = false;
  for (const Diagnostic& d : loaded.diagnostics) unreadable |= d.rule == "io" || d.rule == "limits";
  if (!unreadable && IsBlankYaml(loaded.source.text())) {
    return LoadConfigText(path, loaded.source.text());
  }
  return FromLoaded(std::move(loaded));
}

LoadedConfig LoadConfigText(const std::string& path, std::string text) {
  if (IsBlankYaml(text)) {
    LoadedConfig result;
    result.config = Config::Defaults(fs::path(path).parent_path().string());
    result.config->path = path;
    result.source = SourceText(path, std::move(text));
    return result;
  }
  return FromLoaded(LoadYaml(path, std::move(text)));
}

StatusOr<Config> ReadConfigFile(const std::string& path) {
  LoadedConfig loaded = LoadConfigFile(path);
  if (loaded.config) return std::move(*loaded.config);
  std::ostringstream message;
  bool io_error = false;
  for (const Diagnostic& d : loaded.diagnostics) {
    if (d.severity != Severity::kError) continue;
    if (d.rule == "io") io_error = true;
    if (message.tellp() > 0) message << "\n";
    message << d.path << ":" << d.pos.line << ":" << d.pos.column << ": error: " << d.message
            << " [" << d.rule << "]";
    if (!d.hint.empty()) message << " (" << d.hint << ")";
  }
  return Status(io_error ? StatusCode::kNotFound : StatusCode::kInvalidArgument, message.str());
}

}  // namespace flowrun
