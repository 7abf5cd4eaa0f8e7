// `flowrun check-store [--config FILE | --store URL]`: runs `PRAGMA integrity_check` on the SQLite
// store and prints the result ("ok", or the first problems found). It may run while the service
// is running (it reads a consistent snapshot), and writes nothing.
//
// Exit codes: 0 the store is "ok"; 1 it is damaged (the first problems are listed); 2 usage or
// I/O errors: a bad flag or config, a store file that does not exist, is locked or unreadable.
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/store_location.h"
#include "store/integrity_check.h"

namespace flowrun::cli {
namespace {

// The most problems printed; integrity_check stops looking after this many.
constexpr int kMaxProblems = 20;

struct CheckStoreOptions {
  std::string config;
  std::string store;
};

int RunCheckStore(const CheckStoreOptions& options) {
  auto fail = [](const std::string& message) {
    std::cerr << "flowrun check-store: " << message << "\n";
    return kExitUsage;
  };
  auto path = ResolveStoreFile(options.config, options.store);
  if (!path.ok()) return fail(path.status().message());
  std::error_code error;
  if (!std::filesystem::is_regular_file(*path, error)) {
    return fail("the store " + *path + " does not exist (or is not a regular file)");
  }
  auto db = store::OpenStoreConnection(*path, /*create=*/false, /*busy_timeout_ms=*/5000);
  if (!db.ok() && db.status().code() != StatusCode::kDataLoss) {
    return fail(db.status().message());
  }
  std::vector<std::string> problems;
  if (db.ok()) {
    auto checked = store::CheckIntegrity(**db, store::IntegrityCheck::kFull, kMaxProblems);
    if (!checked.ok()) return fail(checked.status().message());
    problems = std::move(*checked);
  } else {
    problems.push_back(db.status().message());
  }
  if (problems.empty()) {
    std::cout << *path << ": ok\n";
    return kExitOk;
  }
  std::cout << *path << ": damaged (PRAGMA integrity_check";
  if (problems.size() >= static_cast<size_t>(kMaxProblems)) {
    std::cout << ", first " << kMaxProblems << " problems";
  }
  std::cout << "):\n";
  for (const std::string& problem : problems) std::cout << "  " << problem << "\n";
  std::cout << "Restore the last backup: see the restore procedure in docs/operations.md\n";
  return kExitFailure;
}

}  // namespace

void SetupCheckStoreCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<CheckStoreOptions>();
  CLI::App* command =
      app.add_subcommand("check-store", "Check the SQLite store file (PRAGMA integrity_check)");
  auto* config = command->add_option("--config", options->config,
                                     "flowrun.yaml naming the store (default: ./flowrun.yaml)");
  command->add_option("--store", options->store, "Store URL, sqlite:PATH (overrides the config)")
      ->excludes(config);
  command->callback([options, &exit_code] { exit_code = RunCheckStore(*options); });
}

}  // namespace flowrun::cli
