// YamlLoader: reads a flow file's YAML into JSON and remembers where every value came from.
//
// Stricter than YAML itself, because flows are edited by hand and a silent surprise costs a
// production incident: duplicate keys and merge keys (<<) are errors; an unquoted `{{ … }}` that
// YAML reads as a mapping gets a hint to quote it; scalars resolve by the YAML 1.2 core schema
// (so `no` stays a string); non-string keys are errors. Hostile input is bounded: file size,
// nesting depth, node count and alias expansion all have limits (LoadLimits), and binary or
// non-UTF-8 input is refused before parsing.
//
// Thread-safety: the functions are pure; call them from any thread.
#pragma once

#include <string>
#include <vector>

#include "common/json.h"
#include "flow/diagnostic.h"
#include "flow/source.h"

namespace flowrun {

struct LoadLimits {
  size_t max_bytes = 4 << 20;  // Default: 4 MiB per file
  int max_depth = 64;          // Default: 64 levels of nesting
  size_t max_nodes = 200'000;  // Default: 200,000 values, counting alias expansions
};

// A loaded file. `document` is complete when `diagnostics` holds no errors; with errors it holds
// whatever could be read, for further checks that still make sense.
struct LoadedDocument {
  SourceText source;
  Json document;
  SourceMap positions;
  std::vector<Diagnostic> diagnostics;
};

// Parses YAML text. `path` is only used in diagnostics.
LoadedDocument LoadYaml(std::string path, std::string text, const LoadLimits& limits = {});

// Reads and parses a file. A file that cannot be read, or is larger than the limit, yields one
// diagnostic (rule `io` or `limits`) without reading further.
LoadedDocument LoadYamlFile(const std::string& path, const LoadLimits& limits = {});

}  // namespace flowrun
