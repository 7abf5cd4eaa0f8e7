#include "flow/flow_set.h"

#include <algorithm>
#include <filesystem>

#include "flow/schema_validator.h"

namespace flowrun {
namespace {

namespace fs = std::filesystem;

// Expands `paths` into files, reporting paths that do not exist or hold no YAML.
std::vector<std::string> FindFiles(const std::vector<std::string>& paths,
                                   std::vector<std::string>& path_errors) {
  std::vector<std::string> files;
  for (const auto& path : paths) {
    std::error_code error;
    fs::file_status status = fs::status(path, error);
    if (error || !fs::exists(status)) {
      path_errors.push_back(path + ": no such file or directory");
      continue;
    }
    if (!fs::is_directory(status)) {
      files.push_back(path);
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, error);
    for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      const fs::path& entry = it->path();
      std::string name = entry.filename().string();
      if (it->is_directory(error) && (name.starts_with(".") || name == "node_modules")) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(error) && IsFlowFileName(entry.string())) {
        found.push_back(entry.string());
      }
    }
    if (error) path_errors.push_back(path + ": " + error.message());
    if (found.empty() && !error) {
      path_errors.push_back(path + ": no flow files (*.yaml, *.yml) in this directory");
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace

bool IsConfigFileName(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  return name == "flowrun.yaml" || name == "flowrun.yml";
}

bool IsTestFileName(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  return name.ends_with(".test.yaml") || name.ends_with(".test.yml");
}

bool IsFlowFileName(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  return (ext == ".yaml" || ext == ".yml") && !IsTestFileName(path);
}

std::map<std::string, std::shared_ptr<const Program>> FlowSet::ProgramsById() const {
  std::map<std::string, std::shared_ptr<const Program>> programs;
  for (const auto& file : files) {
    if (file.program) programs.emplace(file.program->flow_id, file.program);
  }
  return programs;
}

std::map<std::string, const SourceText*> FlowSet::Sources() const {
  std::map<std::string, const SourceText*> sources;
  for (const auto& file : files) sources[file.path] = &file.document->source;
  return sources;
}

FlowSet LoadFlowSet(const std::vector<std::string>& paths, const CompileOptions& compile_options,
                    FlowSetContents contents) {
  CompileOptions options = compile_options;
  options.diagnostics_only = contents == FlowSetContents::kDiagnosticsOnly;
  FlowSet set;
  std::map<std::string, std::pair<std::string, SourcePos>> first_definition;
  for (const auto& path : FindFiles(paths, set.path_errors)) {
    FlowFile file;
    file.path = path;
    file.is_config = IsConfigFileName(path);
    file.document = std::make_unique<LoadedDocument>(LoadYamlFile(path));
    const LoadedDocument& doc = *file.document;
    std::vector<Diagnostic> diagnostics = doc.diagnostics;
    if (file.is_config) {
      if (!HasErrors(diagnostics)) {
        for (const auto& v : SchemaValidator::ForConfig().Validate(doc.document)) {
          SourcePos pos = v.points_at_key ? doc.positions.KeyPosition(v.pointer)
                                          : doc.positions.ValuePosition(v.pointer);
          diagnostics.push_back({path, pos, Severity::kError, v.message, v.rule, v.hint});
        }
      }
    } else {
      CompiledFlow compiled = CompileFlow(doc, options);
      diagnostics = std::move(compiled.diagnostics);
      file.program = std::move(compiled.program);
      if (doc.document.is_object() && doc.document.contains("id") &&
          doc.document["id"].is_string()) {
        std::string id = doc.document["id"];
        SourcePos pos = doc.positions.ValuePosition("/id");
        auto [it, inserted] = first_definition.emplace(id, std::pair(path, pos));
        if (!inserted) {
          diagnostics.push_back({path, pos, Severity::kError,
                                 "flow id \"" + id + "\" is already defined in " +
                                     it->second.first + ":" +
                                     std::to_string(it->second.second.line),
                                 "duplicate-flow-id", "flow ids must be unique across files"});
          file.program = nullptr;
        }
      }
    }
    set.diagnostics.insert(set.diagnostics.end(), diagnostics.begin(), diagnostics.end());
    if (contents == FlowSetContents::kDiagnosticsOnly) {
      file.program = nullptr;
      file.document->document = Json();
      file.document->positions = SourceMap();
    }
    set.files.push_back(std::move(file));
  }
  return set;
}

}  // namespace flowrun
