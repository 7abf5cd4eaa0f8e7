// `flowrun backup DEST [--config FILE | --store URL] [--force]`: a consistent copy of the SQLite
// store, taken with SQLite's online backup API while the service keeps running (see
// store/sqlite_backup.h). DEST is written as DEST.partial and renamed when complete and checked,
// so it is never a half copy. An existing DEST is refused unless --force.
//
// Exit codes: 0 copied; 1 the copy failed (a damaged store, a store that stayed locked, a
// destination that cannot be written); 2 usage errors: a bad flag or config, a missing store, an
// existing DEST without --force.
#include <chrono>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/store_location.h"
#include "store/sqlite_backup.h"

namespace flowrun::cli {
namespace {

struct BackupCommandOptions {
  std::string dest;
  std::string config;
  std::string store;
  bool force = false;
};

int RunBackup(const BackupCommandOptions& options) {
  auto fail = [](const Status& status, int code) {
    std::cerr << "flowrun backup: " << status.message() << "\n";
    return code;
  };
  auto source = ResolveStoreFile(options.config, options.store);
  if (!source.ok()) return fail(source.status(), kExitUsage);
  const auto started = std::chrono::steady_clock::now();
  auto report = store::BackupSqliteStore(*source, options.dest,
                                         store::BackupOptions{.overwrite = options.force});
  if (!report.ok()) {
    const StatusCode code = report.status().code();
    const bool usage = code == StatusCode::kNotFound || code == StatusCode::kAlreadyExists ||
                       code == StatusCode::kInvalidArgument;
    return fail(report.status(), usage ? kExitUsage : kExitFailure);
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  std::cout << "backed up " << *source << " to " << options.dest << ": " << report->pages
            << " pages, " << report->bytes << " bytes, " << report->steps << " steps, "
            << report->restarts << " restarts, " << ms << " ms\n";
  return kExitOk;
}

}  // namespace

void SetupBackupCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<BackupCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "backup", "Copy the SQLite store consistently while the service runs (online backup)");
  command->add_option("dest", options->dest, "The backup file to write")->required();
  auto* config = command->add_option("--config", options->config,
                                     "flowrun.yaml naming the store (default: ./flowrun.yaml)");
  command->add_option("--store", options->store, "Store URL, sqlite:PATH (overrides the config)")
      ->excludes(config);
  command->add_flag("--force", options->force, "Replace DEST when it exists");
  command->callback([options, &exit_code] { exit_code = RunBackup(*options); });
}

}  // namespace flowrun::cli
