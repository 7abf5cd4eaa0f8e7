// YamlSyntaxCheck: checks YAML text against the YAML grammar with libyaml, the reference parser,
// without building anything from it (YamlEventReader, whose events are ignored).
//
// The loader does not call this: its one read of a file is also the syntax check. This runs that
// check on its own, for its tests and its fuzzer.
//
// Thread-safety: pure; call from any thread.
#pragma once

#include <optional>
#include <string_view>

#include "flow/yaml_event_reader.h"

namespace flowrun {

// nullopt when `text` is well-formed YAML (any number of documents). Stops at the first mapping or
// sequence nested deeper than `max_depth`, so hostile input cannot grow the parser's stacks.
// REQUIRES: `text` has no NUL bytes (YamlLoader refuses them first).
[[nodiscard]] std::optional<YamlSyntaxError> CheckYamlSyntax(std::string_view text,
                                                             int max_depth = 64);

}  // namespace flowrun
