// `flowrun serve [--config FILE] [--listen ADDR] [--store URL] [--flows DIR] [--workers N]
// [--node-id ID]`: the long-running service. It reads FILE (or ./flowrun.yaml when present; with
// neither, every default relative to the current directory), lets the flags override it, opens the
// Runtime and serves the HTTP API until SIGTERM or SIGINT, then shuts down gracefully: the listener
// stops, intake stops, steps in flight get up to --grace to finish, and the store is closed.
//
// It refuses to listen on a non-loopback address unless both event keys and API tokens are
// configured. Before any thread starts it caps glibc's malloc arenas (common/malloc_arenas.h)
// unless MALLOC_ARENA_MAX or GLIBC_TUNABLES says otherwise, or malloc is jemalloc's (as it is in
// the binary the build links).
//
// SIGHUP reloads the config file and the flows, all or nothing (serve_reload.h). Under systemd
// (Type=notify) it reports through $NOTIFY_SOCKET (server/systemd_notifier.h): READY=1 once it
// listens, WATCHDOG=1 every half $WATCHDOG_USEC when its HTTP front answers a loopback probe
// (health_probe.h), RELOADING=1 and READY=1 around a reload, STOPPING=1 at shutdown. Logs go to
// stderr (the journal under systemd).
//
// Exit codes: 0 after a clean shutdown; 2 for a bad config, flag or store, or an address that
// cannot be bound; 3 (kExitDamagedStore) for a store file that is damaged (not a database, or
// failing PRAGMA quick_check, which runs at start when the last shutdown was not clean).
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/command.h"
#include "cli/health_probe.h"
#include "cli/serve_reload.h"
#include "cli/store_location.h"
#include "common/log.h"
#include "common/malloc_arenas.h"
#include "config/config.h"
#include "flow/diagnostic_printer.h"
#include "server/http_api.h"
#include "server/runtime.h"
#include "server/systemd_notifier.h"

namespace flowrun::cli {
namespace {

struct ServeOptions {
  std::string config;
  std::string listen;
  std::string store;
  std::string flows;
  int workers = 0;
  std::string grace = "30s";
  std::string node_id;
};

int Fail(const std::string& message) {
  std::cerr << "flowrun serve: " << message << "\n";
  return kExitUsage;
}

StatusOr<Config> LoadServeConfig(const ServeOptions& options) {
  ASSIGN_OR_RETURN(Config config, LoadCliConfig(options.config, options.store));
  // Flags are relative to the current directory, as a user typing them expects.
  if (!options.listen.empty()) config.listen = options.listen;
  if (!options.flows.empty()) config.flows = std::filesystem::absolute(options.flows).string();
  if (options.workers > 0) config.workers = options.workers;
  if (!options.node_id.empty()) config.node_id = options.node_id;
  return config;
}

// Sends `state` to systemd; a failure is logged, never fatal.
void NotifySystemd(const SystemdNotifier& notifier, const std::string& state) {
  if (Status sent = notifier.Notify(state); !sent.ok()) {
    LogWarn("could not notify systemd", {{"error", sent.ToString()}});
  }
}

// The next of `signals`; 0 when `timeout` (if any) passes first.
int WaitForSignal(const sigset_t& signals, std::optional<std::chrono::microseconds> timeout) {
  for (;;) {
    int received = 0;
    if (!timeout) {
      if (sigwait(&signals, &received) == 0) return received;
      continue;
    }
    timespec wait{static_cast<time_t>(timeout->count() / 1000000),
                  static_cast<long>(timeout->count() % 1000000) * 1000};
    received = sigtimedwait(&signals, nullptr, &wait);
    if (received > 0) return received;
    if (errno == EAGAIN) return 0;
  }
}

std::string MonotonicUsec() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return std::to_string(static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000);
}

int RunServe(const ServeOptions& options) {
  // Before any thread allocates: each would otherwise keep a malloc arena of its own.
  const std::optional<int> malloc_arenas = LimitMallocArenas();
  const bool jemalloc = MallocIsJemalloc();
  auto grace = ParseDuration(options.grace);
  if (!grace.ok()) return Fail("--grace: " + grace.status().message());
  auto config = LoadServeConfig(options);
  if (!config.ok()) return Fail(config.status().message());
  auto address = ParseListenAddress(config->listen);
  if (!address.ok()) return Fail(address.status().message());
  if (!IsLoopbackHost(address->first) &&
      (config->event_keys.empty() || config->api_tokens.empty())) {
    return Fail("refusing to listen on " + config->listen +
                ": a non-loopback address needs both event_keys and api_tokens in the config");
  }

  // Signals are taken by sigwait below; block them before any thread starts so that none of the
  // runtime's or the server's threads receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  const SystemdNotifier notifier = SystemdNotifier::FromEnvironment();

  RuntimeOptions runtime_options;
  runtime_options.config = *config;
  auto runtime = Runtime::Open(std::move(runtime_options));
  if (!runtime.ok()) {
    int code = Fail(runtime.status().ToString());
    return runtime.status().code() == StatusCode::kDataLoss ? kExitDamagedStore : code;
  }
  const SecretRedactor& redactor = (*runtime)->redactor();
  LogOptions log_options;
  log_options.redact = [&redactor](std::string text) { return redactor.RedactText(text); };
  DefaultLogger().Configure(std::move(log_options));

  auto api = HttpApi::Create(**runtime, (*runtime)->config());
  if (!api.ok()) return Fail(api.status().ToString());
  if (Status started = (*runtime)->Start(); !started.ok()) return Fail(started.ToString());
  if (Status listening = (*api)->Listen(address->first, address->second); !listening.ok()) {
    (*runtime)->Shutdown(*grace);
    return Fail(listening.ToString());
  }
  LogInfo("flowrun serving",
          {{"listen", address->first + ":" + std::to_string((*api)->bound_port())},
           {"store", config->store},
           {"flows", config->flows},
           {"malloc", jemalloc ? "jemalloc" : "glibc"},
           {"malloc_arenas", jemalloc        ? Json(nullptr)
                             : malloc_arenas ? Json(*malloc_arenas)
                                             : Json("environment")}});

  const std::string serving = "serving on " + address->first + ":" +
                              std::to_string((*api)->bound_port()) + " with flows in ";
  NotifySystemd(notifier, "READY=1\nSTATUS=" + serving + config->flows);

  ServeReloader reloader(
      **runtime, [&options] { return LoadServeConfig(options); }, *config);
  // Pings at half the watchdog interval, as sd_watchdog_enabled(3) advises, each after a probe
  // of the HTTP front that may take a quarter of it.
  std::optional<std::chrono::microseconds> ping_every;
  if (auto interval = notifier.watchdog_interval()) ping_every = *interval / 2;
  const HealthProbe probe(address->first, (*api)->bound_port());
  int received = 0;
  for (;;) {
    received = WaitForSignal(signals, ping_every);
    if (received == 0) {
      auto probe_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(*ping_every / 2);
      Status alive = probe.Probe(std::max(probe_timeout, std::chrono::milliseconds(100)));
      if (alive.ok()) {
        NotifySystemd(notifier, "WATCHDOG=1");
      } else {
        LogError("watchdog: the HTTP front did not answer; not pinging systemd",
                 {{"error", alive.ToString()}});
      }
    } else if (received == SIGHUP) {
      LogInfo("reloading", {{"signal", "SIGHUP"}});
      NotifySystemd(notifier, "RELOADING=1\nMONOTONIC_USEC=" + MonotonicUsec());
      ServeReloadOutcome outcome = reloader.Reload();
      NotifySystemd(notifier, "READY=1\nSTATUS=" + serving + (*runtime)->Flows().flows_dir +
                                  (outcome.applied ? "" : " (last reload refused: see the log)"));
    } else {
      break;
    }
  }
  NotifySystemd(notifier, "STOPPING=1\nSTATUS=shutting down");
  LogInfo("shutting down", {{"signal", received == SIGTERM ? "SIGTERM" : "SIGINT"},
                            {"grace", FormatDuration(*grace)}});
  (*api)->Stop();
  (*runtime)->Shutdown(*grace);
  return kExitOk;
}

}  // namespace

void SetupServeCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* command = app.add_subcommand("serve", "Run the service: API, webhooks, cron, runs");
  command->add_option("--config", options->config,
                      "flowrun.yaml to read (default: ./flowrun.yaml when present)");
  command->add_option("--listen", options->listen, "Address to listen on (default 127.0.0.1:8288)");
  command->add_option("--store", options->store,
                      "Store URL, sqlite:PATH (default sqlite:flowrun.db)");
  command->add_option("--flows", options->flows, "Flows directory (default flows/)");
  command
      ->add_option("--workers", options->workers, "Worker threads (default: sized for the machine)")
      ->check(CLI::Range(1, 1024));
  command->add_option(
      "--node-id", options->node_id,
      "This node's id in a store shared by several nodes (default: node_id from "
      "the config, else one generated and kept in .flowrun-node/ beside the store)");
  command->add_option("--grace", options->grace,
                      "How long shutdown waits for steps in flight (default 30s)");
  command->callback([options, &exit_code] { exit_code = RunServe(*options); });
}

}  // namespace flowrun::cli
