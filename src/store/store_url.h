// Store URLs as Config::store spells them: "sqlite:PATH" (or a bare PATH), and
// "sqlite::memory:" for a private temporary store. PostgreSQL URLs are recognised only to be
// refused with a clear message: there is no PostgreSQL store.
//
// Thread-safety: pure function.
#pragma once

#include <string>

#include "common/status.h"

namespace flowrun::store {

// The SQLite file of `url`; ":memory:" for "sqlite::memory:". kInvalidArgument for a PostgreSQL
// URL or a URL without a path.
[[nodiscard]] StatusOr<std::string> SqlitePathOfStoreUrl(const std::string& url);

}  // namespace flowrun::store
