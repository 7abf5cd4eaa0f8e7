#include "server/flow_registry.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <system_error>

#include "common/log.h"
#include "flow/flow_set.h"
#include "flow/secret_references.h"
#include "flow/yaml_loader.h"

namespace flowrun {
namespace {

namespace fs = std::filesystem;

std::string FormatDiagnostic(const Diagnostic& d) {
  std::string text = d.path;
  if (d.pos.known()) text += ":" + std::to_string(d.pos.line) + ":" + std::to_string(d.pos.column);
  text += d.severity == Severity::kError ? ": error: " : ": warning: ";
  text += d.message;
  if (!d.rule.empty()) text += " [" + d.rule + "]";
  return text;
}

// The flow id a document declares, even when it does not compile; empty when unreadable.
std::string DeclaredId(const LoadedDocument& document) {
  const Json& doc = document.document;
  if (doc.is_object() && doc.contains("id") && doc["id"].is_string()) {
    return doc["id"].get<std::string>();
  }
  return "";
}

}  // namespace

FlowRegistry::FlowRegistry(store::Store& store, FlowRegistryOptions options)
    : store_(store), options_(std::move(options)), flows_dir_(options_.flows_dir) {}

std::string FlowRegistry::Fingerprint(const std::string& flows_dir) const {
  std::vector<std::string> entries;
  std::error_code error;
  if (!fs::is_directory(flows_dir, error)) return "missing";
  fs::recursive_directory_iterator it(flows_dir, fs::directory_options::skip_permission_denied,
                                      error);
  for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    std::error_code entry_error;
    if (!it->is_regular_file(entry_error)) continue;
    if (!IsFlowFileName(it->path().string())) continue;
    auto size = it->file_size(entry_error);
    auto mtime = it->last_write_time(entry_error);
    entries.push_back(it->path().string() + "\t" + std::to_string(size) + "\t" +
                      std::to_string(mtime.time_since_epoch().count()));
  }
  std::sort(entries.begin(), entries.end());
  std::string fingerprint;
  for (const auto& entry : entries) fingerprint += entry + "\n";
  return fingerprint;
}

StatusOr<ReloadReport> FlowRegistry::Reload() {
  MutexLock reload_lock(reload_mu_);
  return ReloadLocked();
}

StatusOr<ReloadReport> FlowRegistry::PollForChanges() {
  MutexLock reload_lock(reload_mu_);
  if (Fingerprint(flows_dir_) == fingerprint_) return ReloadReport{};
  return ReloadLocked();
}

StatusOr<ReloadReport> FlowRegistry::ReloadAll(const std::string& flows_dir) {
  MutexLock reload_lock(reload_mu_);
  std::error_code error;
  if (!fs::is_directory(flows_dir, error)) {
    return NotFoundError("flows directory \"" + flows_dir + "\" does not exist");
  }
  // Fingerprint first: an edit landing during the load is seen by the next poll.
  std::string fingerprint = Fingerprint(flows_dir);
  FlowSet set = LoadFlowSet({flows_dir}, options_.compile);
  std::string problems;
  for (const Diagnostic& d : set.diagnostics) {
    if (d.severity != Severity::kError) continue;
    problems += (problems.empty() ? "" : "\n") + FormatDiagnostic(d);
  }
  for (const std::string& path_error : set.path_errors) {
    problems += (problems.empty() ? "" : "\n") + path_error;
  }
  for (const FlowFile& file : set.files) {
    if (file.is_config || file.program) continue;
    if (problems.find(file.path) == std::string::npos) {
      problems += (problems.empty() ? "" : "\n") + file.path + ": error: does not compile";
    }
  }
  if (!problems.empty()) return InvalidArgumentError(problems);
  {
    MutexLock lock(mu_);
    flows_dir_ = flows_dir;
  }
  fingerprint_ = std::move(fingerprint);
  return ApplyLocked(std::move(set));
}

StatusOr<ReloadReport> FlowRegistry::ReloadLocked() {
  // Fingerprint first: an edit landing during the load is seen by the next poll.
  fingerprint_ = Fingerprint(flows_dir_);
  return ApplyLocked(LoadFlowSet({flows_dir_}, options_.compile));
}

StatusOr<ReloadReport> FlowRegistry::ApplyLocked(FlowSet set) {
  const TimePoint now = options_.clock->Now();

  std::vector<FlowFileStatus> files;
  std::map<std::string, std::shared_ptr<const Program>> programs;
  std::set<std::string> declared_ids;   // ids some file declares, valid or not
  std::set<std::string> present_paths;  // files in this load
  for (const FlowFile& file : set.files) {
    if (file.is_config) continue;
    FlowFileStatus status;
    status.path = file.path;
    status.flow_id = DeclaredId(*file.document);
    status.valid = file.program != nullptr;
    if (file.program) {
      status.revision = file.program->revision;
      programs.emplace(file.program->flow_id, file.program);
    }
    for (const Diagnostic& d : set.diagnostics) {
      if (d.path != file.path) continue;
      status.diagnostics.push_back(d);
      status.messages.push_back(FormatDiagnostic(d));
    }
    if (!status.flow_id.empty()) declared_ids.insert(status.flow_id);
    present_paths.insert(file.path);
    files.push_back(std::move(status));
  }

  // Publish new revisions before they serve, so the store knows every revision a run uses.
  std::vector<std::shared_ptr<const Program>> fresh;
  {
    MutexLock lock(mu_);
    for (const auto& [id, program] : programs) {
      auto it = flows_.find(id);
      if (it == flows_.end() || !it->second.current ||
          it->second.current->revision != program->revision) {
        fresh.push_back(program);
      }
    }
  }
  for (const auto& program : fresh) {
    if (options_.publish) {
      Status published = options_.publish(*program);
      if (!published.ok()) {
        fingerprint_.clear();  // try again on the next poll
        return published.WithContext("publishing flow " + program->flow_id + " revision " +
                                     program->revision);
      }
    }
  }

  ReloadReport report;
  {
    MutexLock lock(mu_);
    for (const auto& program : fresh) {
      revisions_[{program->flow_id, program->revision}] = program;
      unavailable_.erase({program->flow_id, program->revision});
      FlowStatus& flow = flows_[program->flow_id];
      flow.flow_id = program->flow_id;
      flow.current = program;
      flow.updated_at = now;
      report.updated.push_back(program->flow_id + "@" + program->revision);
    }
    for (auto& [id, flow] : flows_) {
      flow.missing_secrets.clear();
      if (flow.current && options_.secret_is_set) {
        for (const std::string& name : ReferencedSecretNames(flow.current->document)) {
          if (!options_.secret_is_set(name)) flow.missing_secrets.push_back(name);
        }
        if (!flow.missing_secrets.empty()) report.not_ready.push_back(id);
      }
      auto valid = programs.find(id);
      if (valid != programs.end()) {
        flow.valid = true;
        flow.errors.clear();
        flow.source_path = valid->second->source_path;
        continue;
      }
      // No valid file defines the flow. If its file is still there (or another file names it),
      // the file is broken: keep the last good revision serving and report the errors.
      bool still_present = declared_ids.count(id) > 0 || present_paths.count(flow.source_path) > 0;
      if (still_present) {
        flow.valid = false;
        flow.errors.clear();
        for (const FlowFileStatus& file : files) {
          if (file.flow_id == id || file.path == flow.source_path) {
            flow.errors.insert(flow.errors.end(), file.messages.begin(), file.messages.end());
          }
        }
      } else if (flow.current) {
        flow.current = nullptr;
        flow.valid = true;
        flow.errors.clear();
        flow.updated_at = now;
        report.retired.push_back(id);
      }
    }
    for (const FlowFileStatus& file : files) {
      if (!file.valid) report.invalid.push_back(file.path);
    }
    files_ = files;
    path_errors_ = set.path_errors;
    loaded_at_ = now;
    if (report.changed()) ++generation_;
  }

  for (const std::string& updated : report.updated) {
    LogInfo("flow revision serving", {{"flow", updated}});
  }
  for (const std::string& retired : report.retired) {
    LogInfo("flow retired: its file is gone; pinned runs keep their revision", {{"flow", retired}});
  }
  for (const FlowFileStatus& file : files) {
    if (file.valid) continue;
    std::shared_ptr<const Program> serving = file.flow_id.empty() ? nullptr : Current(file.flow_id);
    LogWarn("flow file invalid", {{"path", file.path},
                                  {"flow", file.flow_id},
                                  {"serving", serving ? Json(serving->revision) : Json(nullptr)},
                                  {"errors", file.messages}});
  }
  for (const std::string& error : set.path_errors) {
    LogWarn("flows directory problem", {{"error", error}});
  }
  for (const std::string& id : report.not_ready) {
    std::vector<std::string> missing;
    {
      MutexLock lock(mu_);
      missing = flows_[id].missing_secrets;
    }
    LogWarn("flow not ready: it reads secrets that are not set, so it starts no runs",
            {{"flow", id}, {"missing_secrets", missing}});
  }
  return report;
}

FlowRegistryStatus FlowRegistry::Snapshot() const {
  MutexLock lock(mu_);
  FlowRegistryStatus status;
  status.flows_dir = flows_dir_;
  status.loaded_at = loaded_at_;
  status.generation = generation_;
  status.files = files_;
  status.path_errors = path_errors_;
  for (const auto& [id, flow] : flows_) status.flows.push_back(flow);
  return status;
}

StatusOr<std::vector<store::FlowRevisionRecord>> FlowRegistry::Revisions(
    std::string_view flow_id) const {
  return store_.ListFlowRevisions(flow_id);
}

std::shared_ptr<const Program> FlowRegistry::Find(std::string_view flow_id,
                                                  std::string_view revision) const {
  std::pair<std::string, std::string> key{std::string(flow_id), std::string(revision)};
  {
    MutexLock lock(mu_);
    auto it = revisions_.find(key);
    if (it != revisions_.end()) return it->second;
    if (unavailable_.count(key) > 0) return nullptr;
  }
  // A revision no file provides any more: compile it from the store. Stored revisions were valid
  // when published, so action checks against the current config are not applied again.
  auto record = store_.GetFlowRevision(flow_id, revision);
  if (!record.ok()) {
    // A transient store error: do not remember the miss.
    LogWarn("could not read a flow revision",
            {{"flow", key.first}, {"revision", key.second}, {"error", record.status().ToString()}});
    return nullptr;
  }
  std::shared_ptr<const Program> program;
  if (record->has_value()) {
    LoadedDocument document =
        LoadYaml("store:" + key.first + "@" + key.second, (*record)->document.dump());
    CompiledFlow compiled = CompileFlow(document);
    program = compiled.program;
    if (!program) {
      std::vector<std::string> messages;
      for (const auto& d : compiled.diagnostics) messages.push_back(FormatDiagnostic(d));
      LogError("a stored flow revision no longer compiles",
               {{"flow", key.first}, {"revision", key.second}, {"errors", messages}});
    }
  }
  MutexLock lock(mu_);
  if (!program) {
    unavailable_.insert(key);
    return nullptr;
  }
  auto [it, inserted] = revisions_.emplace(key, program);
  return it->second;
}

std::shared_ptr<const Program> FlowRegistry::Current(std::string_view flow_id) const {
  MutexLock lock(mu_);
  auto it = flows_.find(flow_id);
  return it == flows_.end() || !it->second.ready() ? nullptr : it->second.current;
}

std::vector<std::shared_ptr<const Program>> FlowRegistry::AllCurrent() const {
  MutexLock lock(mu_);
  std::vector<std::shared_ptr<const Program>> current;
  for (const auto& [id, flow] : flows_) {
    if (flow.ready()) current.push_back(flow.current);
  }
  return current;
}

}  // namespace flowrun
