#include "engine/revision_cache.h"

#include "flow/compiler.h"
#include "flow/yaml_loader.h"

namespace flowrun {

RevisionCache::RevisionCache(const ProgramCatalog& catalog, store::Store& store, Log log)
    : catalog_(catalog), store_(store), log_(std::move(log)) {}

std::shared_ptr<const Program> RevisionCache::Find(std::string_view flow_id,
                                                   std::string_view revision) {
  if (auto program = catalog_.Find(flow_id, revision)) return program;
  MutexLock lock(mu_);
  auto key = std::make_pair(std::string(flow_id), std::string(revision));
  auto it = recovered_.find(key);
  if (it != recovered_.end()) return it->second;
  std::shared_ptr<const Program> program = CompileStored(key.first, key.second);
  if (program) recovered_.emplace(std::move(key), program);
  return program;
}

std::shared_ptr<const Program> RevisionCache::CompileStored(const std::string& flow_id,
                                                            const std::string& revision) {
  auto stored = store_.GetFlowRevision(flow_id, revision);
  if (!stored.ok() || !stored->has_value()) return nullptr;
  // JSON is YAML, so the stored document goes through the same loader and compiler as a file.
  const std::string origin = "store:" + flow_id + "@" + revision;
  CompiledFlow compiled = CompileFlow(LoadYaml(origin, (*stored)->document.dump()));
  auto report = [&](const std::string& message) {
    if (log_) log_("flow " + flow_id + " revision " + revision + ": " + message);
  };
  if (!compiled.program) {
    std::string errors;
    for (const Diagnostic& d : compiled.diagnostics)
      errors += (errors.empty() ? "" : "; ") + d.message;
    report("the stored revision does not compile: " + errors);
    return nullptr;
  }
  if (compiled.program->flow_id != flow_id || compiled.program->revision != revision) {
    report("the stored document compiles to revision " + compiled.program->revision);
    return nullptr;
  }
  return compiled.program;
}

}  // namespace flowrun
