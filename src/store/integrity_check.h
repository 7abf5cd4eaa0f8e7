// Integrity checks of a SQLite store file: `PRAGMA quick_check` (what `serve` runs at start after
// an unclean shutdown) and `PRAGMA integrity_check` (what `flowrun check-store` runs).
//
// Thread-safety: uses the caller's connection; see sqlite::Connection.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "store/store_connection.h"

namespace flowrun::store {

enum class IntegrityCheck {
  kQuick,  // PRAGMA quick_check: page structure and records, O(N), no index-content comparison
  kFull,   // PRAGMA integrity_check: quick_check plus every index matched against its table
};

// The problems the check reports, at most `max_problems` of them; empty when the file is "ok".
// A file SQLite cannot read at all (not a database, a damaged header) yields one problem naming
// the error rather than an error status. Errors: kUnavailable when the file is locked,
// kPermissionDenied when it cannot be read.
[[nodiscard]] StatusOr<std::vector<std::string>> CheckIntegrity(sqlite::Connection& db,
                                                                IntegrityCheck kind,
                                                                int max_problems = 10);

}  // namespace flowrun::store
