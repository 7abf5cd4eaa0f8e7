#include "engine/program_catalog.h"

namespace flowrun {

void InMemoryProgramCatalog::Add(std::shared_ptr<const Program> program) {
  MutexLock lock(mu_);
  revisions_[{program->flow_id, program->revision}] = program;
  current_[program->flow_id] = std::move(program);
}

void InMemoryProgramCatalog::Retire(std::string_view flow_id) {
  MutexLock lock(mu_);
  auto it = current_.find(flow_id);
  if (it != current_.end()) current_.erase(it);
}

std::shared_ptr<const Program> InMemoryProgramCatalog::Find(std::string_view flow_id,
                                                            std::string_view revision) const {
  MutexLock lock(mu_);
  auto it = revisions_.find(std::make_pair(std::string(flow_id), std::string(revision)));
  return it == revisions_.end() ? nullptr : it->second;
}

std::shared_ptr<const Program> InMemoryProgramCatalog::Current(std::string_view flow_id) const {
  MutexLock lock(mu_);
  auto it = current_.find(flow_id);
  return it == current_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const Program>> InMemoryProgramCatalog::AllCurrent() const {
  MutexLock lock(mu_);
  std::vector<std::shared_ptr<const Program>> all;
  for (const auto& [id, program] : current_) all.push_back(program);
  return all;
}

}  // namespace flowrun
