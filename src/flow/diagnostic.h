// Diagnostic: one located problem found while loading or checking a flow, in the style of
// actionlint: `path:line:col: error: message [rule]`, with an optional hint.
#pragma once

#include <string>
#include <vector>

#include "flow/source.h"

namespace flowrun {

enum class Severity { kError, kWarning };

struct Diagnostic {
  std::string path;
  SourcePos pos;
  Severity severity = Severity::kError;
  std::string message;
  std::string rule;  // one of the names in docs/rules.md
  std::string hint;  // optional, e.g. `did you mean "if"?`
};

inline bool HasErrors(const std::vector<Diagnostic>& diagnostics) {
  for (const auto& d : diagnostics) {
    if (d.severity == Severity::kError) return true;
  }
  return false;
}

}  // namespace flowrun
