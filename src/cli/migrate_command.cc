// `flowrun migrate [--config FILE | --store URL] [--dry-run]`: brings the store's schema up to the
// version this flowrun writes. With --dry-run it only prints the current version and the steps
// that would run. `serve` applies pending steps itself only with `migrate: auto` in the config,
// and refuses a store whose schema is newer than it understands.
//
// Exit codes: 0 the schema is (or, with --dry-run, would be) up to date; 1 a step failed (nothing
// of it was kept: each run of steps is one transaction); 2 usage errors, a store that cannot be
// opened, or a schema newer than this flowrun.
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/store_location.h"
#include "store/store_factory.h"

namespace flowrun::cli {
namespace {

struct MigrateOptions {
  std::string config;
  std::string store;
  bool dry_run = false;
};

void PrintPending(const store::SchemaReport& report) {
  for (const std::string& step : report.pending) std::cout << "  " << step << "\n";
}

int RunMigrate(const MigrateOptions& options) {
  auto fail = [](const std::string& message, int code) {
    std::cerr << "flowrun migrate: " << message << "\n";
    return code;
  };
  auto config = LoadCliConfig(options.config, options.store);
  if (!config.ok()) return fail(config.status().message(), kExitUsage);
  auto report = store::InspectStoreSchema(config->store);
  if (!report.ok()) return fail(report.status().message(), kExitUsage);
  std::cout << "store schema version " << report->current << ", this flowrun writes "
            << report->latest << "\n";
  if (report->current > report->latest) {
    return fail("the store is newer than this flowrun; upgrade flowrun", kExitUsage);
  }
  if (report->pending.empty()) {
    std::cout << "up to date\n";
    return kExitOk;
  }
  std::cout << (options.dry_run ? "would apply:\n" : "applying:\n");
  PrintPending(*report);
  if (options.dry_run) return kExitOk;
  auto applied = store::MigrateStoreSchema(config->store);
  if (!applied.ok()) return fail(applied.status().message(), kExitFailure);
  std::cout << "store schema version " << applied->current << "\n";
  return kExitOk;
}

}  // namespace

void SetupMigrateCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<MigrateOptions>();
  CLI::App* command =
      app.add_subcommand("migrate", "Bring the store's schema up to this flowrun's version");
  auto* config = command->add_option("--config", options->config,
                                     "flowrun.yaml naming the store (default: ./flowrun.yaml)");
  command
      ->add_option("--store", options->store,
                   "Store URL, sqlite:PATH or postgres://… (overrides the config)")
      ->excludes(config);
  command->add_flag("--dry-run", options->dry_run, "Only print the steps that would run");
  command->callback([options, &exit_code] { exit_code = RunMigrate(*options); });
}

}  // namespace flowrun::cli
