// Named SQL parameters for PostgreSQL: translates `:name` placeholders into libpq's positional
// `$1`, `$2`… while leaving alone everything that only looks like one: string literals ('…',
// E'…' with backslash escapes), quoted identifiers ("…"), dollar-quoted bodies ($tag$…$tag$),
// comments (-- and nested /* */), and `::type` casts. A name used twice maps to one position.
//
// SQLite binds `:name` natively and does not need this.
//
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace flowrun {

struct PositionalSql {
  std::string sql;                 // with $n placeholders
  std::vector<std::string> names;  // names[i] is bound to $(i + 1)
};

// kInvalidArgument for positional placeholders ($1, ?) written by hand, and for unterminated
// literals or comments.
[[nodiscard]] StatusOr<PositionalSql> TranslateNamedParameters(std::string_view sql);

}  // namespace flowrun
