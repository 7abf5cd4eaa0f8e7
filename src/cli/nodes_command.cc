// `flowrun nodes [--config FILE | --store URL] [--json]`: the nodes sharing the store, from their
// heartbeats (server/node_membership.h): id, start, last heartbeat, the runs each holds a lease
// on, and whether it is live (a heartbeat within the config's takeover_after) or late (its runs
// are taken over at the next beat of a live node).
//
// Exit codes: 0 listed (also when no node has sent a heartbeat); 2 usage errors or a store that
// cannot be opened.
#include <iomanip>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/store_location.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/timestamp.h"
#include "store/store_factory.h"

namespace flowrun::cli {
namespace {

struct NodesOptions {
  std::string config;
  std::string store;
  bool json = false;
};

int RunNodes(const NodesOptions& options) {
  auto fail = [](const std::string& message) {
    std::cerr << "flowrun nodes: " << message << "\n";
    return kExitUsage;
  };
  auto config = LoadCliConfig(options.config, options.store);
  if (!config.ok()) return fail(config.status().message());
  auto opened = store::OpenStore(
      config->store,
      {.open_outbox = false, .pending_migrations = store::PendingMigrations::kRefuse});
  if (!opened.ok()) return fail(opened.status().message());
  auto nodes = opened->store->ListNodes();
  if (!nodes.ok()) return fail(nodes.status().message());
  const TimePoint now = SystemClock().Now();
  const TimePoint live_since = now - config->takeover_after;
  if (options.json) {
    Json list = Json::array();
    for (const store::NodeRecord& node : *nodes) {
      list.push_back({{"id", node.id},
                      {"started_at", FormatTimestamp(node.started_at)},
                      {"heartbeat_at", FormatTimestamp(node.heartbeat_at)},
                      {"leases", node.leases},
                      {"live", node.heartbeat_at >= live_since}});
    }
    std::cout << list.dump(2) << "\n";
    return kExitOk;
  }
  if (nodes->empty()) {
    std::cout << "no node has sent a heartbeat to this store\n";
    return kExitOk;
  }
  std::cout << std::left << std::setw(28) << "NODE" << std::setw(6) << "STATE" << std::setw(26)
            << "STARTED" << std::setw(26) << "LAST HEARTBEAT"
            << "LEASES\n";
  for (const store::NodeRecord& node : *nodes) {
    std::cout << std::left << std::setw(28) << node.id << std::setw(6)
              << (node.heartbeat_at >= live_since ? "live" : "late") << std::setw(26)
              << FormatTimestamp(node.started_at) << std::setw(26)
              << FormatTimestamp(node.heartbeat_at) << node.leases << "\n";
  }
  return kExitOk;
}

}  // namespace

void SetupNodesCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<NodesOptions>();
  CLI::App* command =
      app.add_subcommand("nodes", "List the nodes sharing the store and the runs each holds");
  auto* config = command->add_option("--config", options->config,
                                     "flowrun.yaml naming the store (default: ./flowrun.yaml)");
  command
      ->add_option("--store", options->store,
                   "Store URL, sqlite:PATH or postgres://… (overrides the config)")
      ->excludes(config);
  command->add_flag("--json", options->json, "Print JSON instead of a table");
  command->callback([options, &exit_code] { exit_code = RunNodes(*options); });
}

}  // namespace flowrun::cli
