// Store URLs as Config::store spells them: "sqlite:PATH" (or a bare PATH), "sqlite::memory:" for
// a private temporary store, and "postgres://…" or "postgresql://…" (a libpq connection URI) for
// the PostgreSQL store that several nodes share.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace flowrun::store {

// Whether `url` names a PostgreSQL store.
bool IsPostgresUrl(const std::string& url);

// The SQLite file of `url`; ":memory:" for "sqlite::memory:". kInvalidArgument for a PostgreSQL
// URL (which has no file) or a URL without a path.
[[nodiscard]] StatusOr<std::string> SqlitePathOfStoreUrl(const std::string& url);

// `url` (a PostgreSQL connection URI) with the server setting `name` = `value` added to the
// session options that libpq sends at connect time (`options=-c name=value`), appended to the
// URI's own `options` when it has some; `name` and `value` are percent-encoded. REQUIRES:
// IsPostgresUrl(url).
std::string PostgresUrlWithSetting(const std::string& url, std::string_view name,
                                   std::string_view value);

}  // namespace flowrun::store
