// Prints diagnostics for people and for machines.
//
//   text    path:line:col: error: message [rule], then the source line with a caret under the
//           column and the hint, as actionlint does;
//   json    one JSON array of {path, line, column, severity, message, rule, hint};
//   github  GitHub Actions workflow commands (::error file=…,line=…,col=…,title=rule::message),
//           which GitHub shows as annotations on the pull request.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "flow/diagnostic.h"
#include "flow/source.h"

namespace flowrun {

enum class DiagnosticFormat { kText, kJson, kGithub };

// `sources` maps a diagnostic's path to its text, for the excerpt in text format; a path without
// an entry is printed without one.
// Escapes text for a GitHub Actions workflow command: a property value (file, title) when
// `property`, else the message.
std::string GithubEscape(std::string_view text, bool property);

void PrintDiagnostics(std::ostream& out, const std::vector<Diagnostic>& diagnostics,
                      DiagnosticFormat format,
                      const std::map<std::string, const SourceText*>& sources, bool color);

}  // namespace flowrun
