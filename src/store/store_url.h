// Store URLs as Config::store spells them: "sqlite:PATH" (or a bare PATH), "sqlite::memory:" for
// a private temporary store, and "postgres://…" or "postgresql://…" (a libpq connection URI) for
// the PostgreSQL store that several nodes share.
//
// Thread-safety: pure functions.
#pragma once

#include <string>

#include "common/status.h"

namespace flowrun::store {

// Whether `url` names a PostgreSQL store.
bool IsPostgresUrl(const std::string& url);

// The SQLite file of `url`; ":memory:" for "sqlite::memory:". kInvalidArgument for a PostgreSQL
// URL (which has no file) or a URL without a path.
[[nodiscard]] StatusOr<std::string> SqlitePathOfStoreUrl(const std::string& url);

}  // namespace flowrun::store
