#include "store/prune_in_batches.h"

#include <algorithm>

namespace flowrun::store {

StatusOr<int> PruneInBatches(Store& store, TimePoint ended_before, int limit, int batch_size,
                             TimePoint now) {
  batch_size = std::max(1, batch_size);
  int pruned = 0;
  while (pruned < limit) {
    const int batch_limit = std::min(batch_size, limit - pruned);
    WriteBatch batch;
    // Events younger than the deduplication window stay, so a resent client id is still
    // recognised.
    batch.Add(PruneFinishedRunsOp{.ended_before = ended_before,
                                  .keep_events_since = now - std::chrono::hours(24),
                                  .limit = batch_limit});
    ASSIGN_OR_RETURN(BatchResult result, store.Commit(std::move(batch)));
    RETURN_IF_ERROR(result.status);
    pruned += result.pruned_runs;
    if (result.pruned_runs < batch_limit) break;
  }
  return pruned;
}

}  // namespace flowrun::store
