// libFuzzer target: translating `:name` placeholders to PostgreSQL's `$n` on any SQL text. Must
// return a translation or kInvalidArgument, never crash or hang; a translation names each
// parameter once, every name is a non-empty identifier, and SQL without placeholders comes back
// unchanged.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "actions/db/sql_parameters.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view sql(reinterpret_cast<const char*>(data), size);
  auto translated = flowrun::TranslateNamedParameters(sql);
  if (!translated.ok()) {
    if (translated.status().code() != flowrun::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  std::set<std::string> seen;
  for (const std::string& name : translated->names) {
    if (name.empty() || !seen.insert(name).second) __builtin_trap();
    for (char c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') __builtin_trap();
    }
  }
  if (translated->names.empty() && translated->sql != sql) __builtin_trap();
  return 0;
}
