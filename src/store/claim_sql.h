// SQL that both stores' claims (ClaimRuns) share.
//
// Thread-safety: constants.
#pragma once

namespace flowrun::store {

// The SET clause by which a claim marks a queued run `running`: a node has taken it. A run found
// in any other state (sleeping, waiting, running after a lost lease) keeps it; its next step
// says what it is.
inline constexpr char kStartQueuedRun[] =
    "status = CASE WHEN status = 'queued' THEN 'running' ELSE status END";

}  // namespace flowrun::store
