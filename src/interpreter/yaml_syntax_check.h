// YamlSyntaxCheck: checks YAML text against the YAML grammar with libyaml, the reference parser,
// before yaml-cpp reads it.
//
// yaml-cpp 0.7 accepts some text the YAML spec rejects: an unterminated double-quoted scalar at
// the end of the file (the string swallows the rest of the flow) and a trailing bare scalar in a
// block mapping. A validator for CI must reject everything the spec rejects, so every file is
// first parsed event by event with libyaml, and the first syntax error is reported with its
// position and, for the usual mistakes, a hint.
//
// Thread-safety: pure; call from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "interpreter/source.h"

namespace flowrun {

struct YamlSyntaxError {
  SourcePos pos;        // where libyaml found the problem
  std::string message;  // e.g. "found unexpected end of stream while scanning a quoted scalar"
  std::string hint;     // what to do about it; may be empty
  std::string rule = "syntax";  // "syntax", or "limits" when nesting is deeper than allowed
};

// nullopt when `text` is well-formed YAML (any number of documents). Stops at the first mapping or
// sequence nested deeper than `max_depth`, so hostile input cannot grow the parser's stacks.
// REQUIRES: `text` is UTF-8 without NUL bytes (YamlLoader checks both first).
std::optional<YamlSyntaxError> CheckYamlSyntax(std::string_view text, int max_depth = 64);

}  // namespace flowrun
