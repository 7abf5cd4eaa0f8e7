// ServeReloader: what SIGHUP (`systemctl reload flowrun`) does to a running `flowrun serve`.
//
// Reload re-reads the config file serve started with (with the same command-line overrides) and
// the flows directory it names, and applies them all or nothing:
//   - a config with any error, or a flows directory that is missing or holds any invalid file, is
//     refused: one error line ("reload refused") names every problem, and the running config and
//     flows keep serving, unchanged;
//   - otherwise the directory's flows serve (Runtime::ReloadFlowsFrom): new revisions start the
//     new runs, runs already started finish on the revision they started on; `flows` may name
//     another directory;
//   - the file's other top-level keys that differ from the running config take effect at the
//     next restart: a warning line names them, and the running values are kept.
// Secret values (the environment, secrets.file) are read at start only.
//
// Thread-safety: call Reload from one thread (serve's signal loop).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "config/config.h"
#include "server/flow_registry.h"
#include "server/runtime.h"

namespace flowrun::cli {

// The top-level keys whose values differ between two config documents, sorted. A key present in
// one document only counts as changed.
std::vector<std::string> ChangedConfigKeys(const Json& before, const Json& after);

struct ServeReloadOutcome {
  bool applied = false;
  std::string error;                      // why it was refused, when not applied
  ReloadReport flows;                     // what the flows reload changed, when applied
  std::vector<std::string> restart_keys;  // keys left for the next restart, when applied
};

class ServeReloader {
 public:
  // `load_config` reads the config as serve did at start (file and flags); `running` is the
  // config serve started with. REQUIRES: `runtime` outlives the reloader.
  ServeReloader(Runtime& runtime, std::function<StatusOr<Config>()> load_config,
                const Config& running);

  // Reloads as described above, logging the outcome.
  ServeReloadOutcome Reload();

 private:
  Runtime& runtime_;
  std::function<StatusOr<Config>()> load_config_;
  Json running_document_;  // the running config file's top-level object ({} without a file)
};

}  // namespace flowrun::cli
