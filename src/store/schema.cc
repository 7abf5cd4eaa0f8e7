#include "store/schema.h"

#include <sstream>

namespace flowrun::store {

std::string PendingMigrationsMessage(int current, int latest) {
  return "the store has schema version " + std::to_string(current) + " and this flowrun needs " +
         std::to_string(latest) +
         ": run `flowrun migrate --config FILE` (see --dry-run), or set `migrate: auto` in the "
         "config to apply pending migrations at start";
}

std::string DescribeMigrationStep(int version, const char* sql) {
  std::istringstream lines(sql);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find_first_not_of(" \t") != std::string::npos) break;
  }
  return std::to_string(version) + ": " + line;
}

}  // namespace flowrun::store
