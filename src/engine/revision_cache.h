// RevisionCache: the program of any flow revision a run may be pinned to.
//
// - Find asks the catalog first. A revision the catalog no longer has is compiled from the
//   document the store keeps for it (Engine::PublishRevision) and kept for the cache's lifetime,
//   so a run pinned to a revision that is no longer loaded still finishes on it.
// - Find returns nullptr when neither has the revision, or when the stored document does not
//   compile to that revision; the reason goes to `log`.
// - Programs are immutable; the cache only grows.
//
// Thread-safety: Find may be called from many threads at once. Concurrent misses on the store
// are compiled one at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "common/thread_annotations.h"
#include "engine/program_catalog.h"
#include "flow/program.h"
#include "store/store.h"

namespace flowrun {

class RevisionCache {
 public:
  // Receives a message about a stored revision that could not be used.
  using Log = std::function<void(const std::string& message)>;

  // REQUIRES: `catalog` and `store` outlive the cache.
  RevisionCache(const ProgramCatalog& catalog, store::Store& store, Log log);
  RevisionCache(const RevisionCache&) = delete;
  RevisionCache& operator=(const RevisionCache&) = delete;

  std::shared_ptr<const Program> Find(std::string_view flow_id, std::string_view revision);

 private:
  // Compiles the stored document of a revision; nullptr (and a log line) when it cannot.
  std::shared_ptr<const Program> CompileStored(const std::string& flow_id,
                                               const std::string& revision) FLOWRUN_REQUIRES(mu_);

  const ProgramCatalog& catalog_;
  store::Store& store_;
  const Log log_;
  Mutex mu_;
  // Revisions compiled from the store, by (flow id, revision).
  std::map<std::pair<std::string, std::string>, std::shared_ptr<const Program>, std::less<>>
      recovered_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun
