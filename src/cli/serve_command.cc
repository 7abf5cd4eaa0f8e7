// `flowrun serve [--config FILE] [--listen ADDR] [--store URL] [--flows DIR] [--workers N]
// [--node-id ID]`: the long-running service. It reads FILE (or ./flowrun.yaml when present; with
// neither, every default relative to the current directory), lets the flags override it, opens the
// Runtime and serves the HTTP API until SIGTERM or SIGINT, then shuts down gracefully: the listener
// stops, intake stops, steps in flight get up to --grace to finish, and the store is closed.
//
// It refuses to listen on a non-loopback address unless both event keys and API tokens are
// configured. Before any thread starts it caps glibc's malloc arenas (common/malloc_arenas.h)
// unless MALLOC_ARENA_MAX or GLIBC_TUNABLES says otherwise.
//
// Exit codes: 0 after a clean shutdown; 2 for a bad config, flag or store, or an address that
// cannot be bound; 3 (kExitDamagedStore) for a store file that is damaged (not a database, or
// failing PRAGMA quick_check, which runs at start when the last shutdown was not clean).
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include "cli/command.h"
#include "cli/store_location.h"
#include "common/log.h"
#include "common/malloc_arenas.h"
#include "config/config.h"
#include "interpreter/diagnostic_printer.h"
#include "server/http_api.h"
#include "server/runtime.h"

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

int RunServe(const ServeOptions& options) {
  // Before any thread allocates: each would otherwise keep a malloc arena of its own.
  const std::optional<int> malloc_arenas = LimitMallocArenas();
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
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

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
           {"malloc_arenas", malloc_arenas ? Json(*malloc_arenas) : Json("environment")}});

  int received = 0;
  sigwait(&signals, &received);
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
