// ProgramCatalog: where the engine finds compiled flows. Runs are pinned to (flow id, revision),
// so the catalog keeps every revision it has been given, and names the current revision of each
// flow (the one new events start).
//
// Thread-safety: all methods may be called from many threads at once; Programs are immutable.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/thread_annotations.h"
#include "flow/program.h"

namespace flowrun {

class ProgramCatalog {
 public:
  virtual ~ProgramCatalog() = default;
  // The program of one revision, or nullptr when unknown.
  virtual std::shared_ptr<const Program> Find(std::string_view flow_id,
                                              std::string_view revision) const = 0;
  // The current revision of a flow, or nullptr.
  virtual std::shared_ptr<const Program> Current(std::string_view flow_id) const = 0;
  // The current revision of every flow, sorted by flow id.
  virtual std::vector<std::shared_ptr<const Program>> AllCurrent() const = 0;
};

// A catalog held in memory: Add makes a program the current revision of its flow and keeps
// earlier revisions for the runs pinned to them.
class InMemoryProgramCatalog final : public ProgramCatalog {
 public:
  InMemoryProgramCatalog() = default;
  InMemoryProgramCatalog(const InMemoryProgramCatalog&) = delete;
  InMemoryProgramCatalog& operator=(const InMemoryProgramCatalog&) = delete;

  void Add(std::shared_ptr<const Program> program);
  // Stops starting new runs of a flow; its revisions stay available to existing runs.
  void Retire(std::string_view flow_id);

  std::shared_ptr<const Program> Find(std::string_view flow_id,
                                      std::string_view revision) const override;
  std::shared_ptr<const Program> Current(std::string_view flow_id) const override;
  std::vector<std::shared_ptr<const Program>> AllCurrent() const override;

 private:
  mutable Mutex mu_;
  // (flow id, revision) -> program, and flow id -> current program.
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Program>, std::less<>>
      revisions_ FLOWRUN_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<const Program>, std::less<>> current_
      FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun
