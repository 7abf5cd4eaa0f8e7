// FlowSet: the flows found under a list of files and directories, each loaded and compiled, with
// checks that span files (two files defining the same flow id). `flowrun validate` prints its
// diagnostics; `flowrun serve` and `flowrun run` take their Programs from it.
//
// Files: a directory is searched recursively for *.yaml and *.yml, except test files
// (*.test.yaml, *.test.yml: `flowrun test` runs them). Files named flowrun.yaml or flowrun.yml
// are service configs, not flows: they are checked against the config schema.
//
// Thread-safety: LoadFlowSet is a pure function of the file system; the result is a value.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "flow/compiler.h"
#include "flow/yaml_loader.h"

namespace flowrun {

struct FlowFile {
  std::string path;
  bool is_config = false;
  std::unique_ptr<LoadedDocument> document;  // stable address: diagnostics point into it
  std::shared_ptr<const Program> program;    // null for configs and invalid flows
};

struct FlowSet {
  std::vector<FlowFile> files;
  std::vector<Diagnostic> diagnostics;  // all files', in file order
  // Problems with the paths themselves: a missing path, a directory without flow files.
  std::vector<std::string> path_errors;

  // The valid programs by flow id.
  std::map<std::string, std::shared_ptr<const Program>> ProgramsById() const;
  // The source texts by path, for printing excerpts.
  std::map<std::string, const SourceText*> Sources() const;
};

// True for flowrun.yaml and flowrun.yml.
bool IsConfigFileName(const std::string& path);
// True for *.test.yaml and *.test.yml, the files `flowrun test` runs.
bool IsTestFileName(const std::string& path);
// True for the files a directory search takes as flows or configs: *.yaml and *.yml that are not
// test files.
bool IsFlowFileName(const std::string& path);

// What LoadFlowSet keeps of each file once it is checked.
enum class FlowSetContents {
  kEverything,       // programs, documents and positions: for serve, run, test and graph
  kDiagnosticsOnly,  // the source text, for printing diagnostics; programs and documents are
                     // dropped as each file is done, so a thousand files take the memory of one
};

FlowSet LoadFlowSet(const std::vector<std::string>& paths, const CompileOptions& options = {},
                    FlowSetContents contents = FlowSetContents::kEverything);

}  // namespace flowrun
