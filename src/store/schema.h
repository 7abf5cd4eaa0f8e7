// Schema versions of a store, shared by both stores' migrations: what opening does with pending
// steps, and the report `flowrun migrate` prints.
//
// Thread-safety: plain data.
#pragma once

#include <string>
#include <vector>

namespace flowrun::store {

// What opening a store does when its schema is older than this flowrun's. A new, empty store is
// always given the current schema.
enum class PendingMigrations {
  kApply,   // apply the pending steps (the library default; `migrate: auto` for serve)
  kRefuse,  // refuse with kFailedPrecondition naming `flowrun migrate`
};

struct SchemaReport {
  int current = 0;  // the store's schema version (0: empty)
  int latest = 0;   // the version this flowrun writes
  // The steps from current to latest, each as "N: <its first SQL line>".
  std::vector<std::string> pending;
};

// The error for a store with pending steps that may not apply them.
std::string PendingMigrationsMessage(int current, int latest);

// "N: <first non-empty line of sql>", for SchemaReport::pending.
std::string DescribeMigrationStep(int version, const char* sql);

}  // namespace flowrun::store
