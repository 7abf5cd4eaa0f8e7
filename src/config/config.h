// Config: the service configuration read from `flowrun.yaml`, checked once against
// schemas/config.schema.json and captured as immutable typed settings with every default filled
// in. Paths in the file (sqlite: targets, flows, secrets.file) are resolved relative to the file.
//
// Loading reports each problem as a Diagnostic located at `file:line:col`, so a broken config is
// reported the way a broken flow is.
//
// Thread-safety: a loaded Config is a value; share it read-only between threads.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/json.h"
#include "common/status.h"
#include "flow/diagnostic.h"
#include "flow/source.h"

namespace flowrun {

enum class StartTls { kAuto, kRequired, kOff };

// The SMTP server that email steps use. username and password may be `${{ secrets.NAME }}`
// references; Secrets::Resolve turns them into values when the email action is built.
struct SmtpConfig {
  std::string url;                      // smtp://host:port or smtps://host:port
  std::string from;                     // default sender, "Name <addr>"; may be empty
  StartTls starttls = StartTls::kAuto;  // Default: auto
  std::string username;
  std::string password;
  // SMTP sessions (connections) open to the server at once; messages beyond it wait in memory.
  int max_sessions = 16;  // Default: 16
};

// Limits for http steps.
struct HttpConfig {
  Duration timeout = std::chrono::seconds(30);          // Default: 30s per request
  Duration connect_timeout = std::chrono::seconds(10);  // Default: 10s
  long long max_response_bytes = 10LL << 20;            // Default: 10 MiB
  // Host patterns; "*.example.com" matches subdomains of example.com (not example.com itself).
  std::vector<std::string> allow_hosts;  // empty: every host not denied
  std::vector<std::string> deny_hosts;
  // Connections open to one host (and port) at once; requests beyond it wait in memory.
  int max_connections_per_host = 256;  // Default: 256
  // HTTP connections open at once, to all hosts; requests beyond it wait in memory for one. As
  // many as limits.max_inflight_actions by default, so that slow APIs do not cap the actions in
  // flight. Default: 10000
  int max_connections = 10000;
};

// The HTTP front's limits (`server:` in flowrun.yaml; docs/api.md, "Limits and timeouts").
struct ServerConfig {
  // A request's line and headers must arrive within this, counted from its first byte (from the
  // connection's start for a first request). Default: 10s
  Duration header_timeout = std::chrono::seconds(10);
  // How long a keep-alive connection may wait for its next request. Default: 60s
  Duration idle_timeout = std::chrono::seconds(60);
  // A body must arrive at least this fast, after a grace of header_timeout. Default: 1024 B/s
  long long min_body_bytes_per_second = 1024;
  int max_connections = 10000;         // open at once; more are closed at accept. Default: 10000
  int max_connections_per_ip = 1000;   // open at once from one client address. Default: 1000
  long long max_header_bytes = 16384;  // request line plus headers; more gets 431. Default: 16 KiB
  // Body limits by route group; a Content-Length over the limit gets 413 before the body is read.
  // 0: the default. events (POST /e/{event_key}, POST /v1/events) and webhooks
  // (POST /webhooks/{name}): 16 x max_event_bytes, from 1 MiB to 256 MiB; api (every other
  // route): 1 MiB.
  long long max_events_body_bytes = 0;
  long long max_webhooks_body_bytes = 0;
  long long max_api_body_bytes = 0;
  int io_threads = 0;       // threads serving connections. Default (0): one per CPU core
  int handler_threads = 0;  // threads running handlers that query or write the store. Default: 4
};

// Where `secrets.<NAME>` values come from. Both sources may be used; the file wins on a clash.
struct SecretsConfig {
  std::vector<std::string> env_names;  // environment variables exposed under their own names
  std::string env_prefix;              // FLOWRUN_SECRET_ exposes FLOWRUN_SECRET_X as X
  std::string file;                    // absolute path of a YAML/JSON file of name -> value
};

// An inbound webhook, served at POST /webhooks/{name}.
struct WebhookConfig {
  std::string scheme;  // stripe, github, standard-webhooks, hmac-sha256 or none
  std::string secret;  // may be a `${{ secrets.NAME }}` reference; empty for scheme none
  Duration tolerance = std::chrono::minutes(5);  // Default: 5m
  // The transform's expressions as written: name (required when a transform is given), data
  // (any JSON, possibly holding templates), id (may be empty).
  std::optional<std::string> transform_name;
  Json transform_data;  // null when absent
  std::string transform_id;
};

// Bounds on the work one node holds at once (`limits:`).
struct LimitsConfig {
  int max_inflight_actions = 10000;  // Default: 10,000 actions in flight on the node
  int max_actions_per_run = 100;     // Default: 100 actions in flight per run
  // A step whose output serializes to more bytes than this fails (not retried). Default: 1 MiB
  long long max_step_output_bytes = 1LL << 20;
};

// How long stored data is kept (`retention:`; docs/operations.md, "Retention"). Zero keeps it
// for ever. `retention: 7d` alone sets `runs`.
struct RetentionConfig {
  // Finished runs, with their journal, their waits and the db step results of their steps
  // (flowrun_step_results in the db targets). Default: 30d
  Duration runs = std::chrono::hours(24 * 30);
  // Events that no remaining run refers to, counted from when they were stored; never less than
  // the 24 h deduplication window. Default: 30d
  Duration events = std::chrono::hours(24 * 30);
  // Messages in the built-in email outbox (kept when no SMTP server is configured). Default: 30d
  Duration outbox = std::chrono::hours(24 * 30);
};

struct Config {
  std::string path;      // the file it was loaded from; empty for the defaults
  std::string base_dir;  // directory relative paths are resolved against

  std::string listen = "127.0.0.1:8288";
  std::string store;  // Default: sqlite:<base_dir>/flowrun.db
  // Names this node's leases in a store shared by several nodes. Default (empty): an id generated
  // once and kept beside the store (store/node_identity.h).
  std::string node_id;
  // `migrate: auto` lets serve apply pending store migrations at start; otherwise (`manual`, the
  // default) serve refuses a store with pending migrations and `flowrun migrate` applies them.
  bool migrate_auto = false;
  // How long a node of a shared store may go without a heartbeat before live nodes take over its
  // leases (server/node_membership.h). Default: 5s.
  Duration takeover_after = std::chrono::seconds(5);
  std::string flows;  // Default: <base_dir>/flows
  // Whether the runtime reloads flow files when they change (file by file, once a second).
  // false: only SIGHUP reloads them, all or nothing. Default: true
  bool watch_flows = true;
  // Named targets for db steps: sqlite:<absolute path> (or sqlite::memory:) or postgres://…
  std::map<std::string, std::string> databases;
  std::optional<SmtpConfig> smtp;  // absent: email goes to the outbox
  HttpConfig http;
  ServerConfig server;
  std::vector<std::string> event_keys;
  std::vector<std::string> api_tokens;
  std::map<std::string, WebhookConfig> webhooks;
  SecretsConfig secrets;
  RetentionConfig retention;
  long long max_event_bytes = 1LL << 20;  // Default: 1 MiB
  int workers = 0;  // Default: DefaultWorkers() (filled in on load; 0 also means it)
  LimitsConfig limits;

  // The configuration used when there is no file: every default, relative to `base_dir`.
  static Config Defaults(const std::string& base_dir);
  // Three workers per CPU core: actions run asynchronously, but a worker still waits on the
  // store's commits, so one per core leaves cores idle.
  static int DefaultWorkers();
};

// A config file's loading outcome: `config` is set when `diagnostics` holds no error.
struct LoadedConfig {
  std::optional<Config> config;
  SourceText source;
  std::vector<Diagnostic> diagnostics;
};

// Reads, schema-checks and converts `path`. Never throws.
LoadedConfig LoadConfigFile(const std::string& path);

// Parses config text as if it were the file `path` (for tests and `--config -`).
LoadedConfig LoadConfigText(const std::string& path, std::string text);

// LoadConfigFile for callers that only need a yes or no: the error is kInvalidArgument (kNotFound
// when the file cannot be read) and its message lists every diagnostic as
// `path:line:col: error: message [rule]`, one per line.
[[nodiscard]] StatusOr<Config> ReadConfigFile(const std::string& path);

}  // namespace flowrun
