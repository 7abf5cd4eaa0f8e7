// PruneInBatches: Store::PruneFinishedRuns for every store, as a loop of bounded transactions
// (PruneFinishedRunsOp), so that retention never holds other writers up for long.
//
// Thread-safety: as the store's Commit.
#pragma once

#include "common/status.h"
#include "common/timestamp.h"
#include "store/store.h"

namespace flowrun::store {

// Deletes up to `limit` finished runs that ended before `ended_before`, at most `batch_size` per
// transaction, keeping trigger events stored within the 24 h deduplication window before `now`.
// Returns how many runs were deleted.
[[nodiscard]] StatusOr<int> PruneInBatches(Store& store, TimePoint ended_before, int limit,
                                           int batch_size, TimePoint now);

}  // namespace flowrun::store
