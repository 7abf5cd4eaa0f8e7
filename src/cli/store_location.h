// Where a CLI command finds the configuration and the store: the same rules as `flowrun serve`.
// The config is FILE when given, else ./flowrun.yaml when present, else the defaults relative to
// the current directory; a --store flag (sqlite:PATH, a bare PATH or :memory:) overrides the
// config's store and is taken relative to the current directory.
//
// Thread-safety: reads files; call from one thread.
#pragma once

#include <string>

#include "common/status.h"
#include "config/config.h"

namespace flowrun::cli {

// The configuration `config_path` names (or the default one, see above), with `store_flag`
// (may be empty) applied.
[[nodiscard]] StatusOr<Config> LoadCliConfig(const std::string& config_path,
                                             const std::string& store_flag);

// The SQLite file of the store LoadCliConfig resolves to. kInvalidArgument for a PostgreSQL URL
// or for the private ":memory:" store, which no other process can open.
[[nodiscard]] StatusOr<std::string> ResolveStoreFile(const std::string& config_path,
                                                     const std::string& store_flag);

}  // namespace flowrun::cli
