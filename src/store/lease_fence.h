// The fencing check of RequireLeaseOp, shared by every store: a write for a run commits only while
// its writer still holds the run's lease under the token it acquired (store.h, "Fencing").
//
// Thread-safety: pure function apart from the log line.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "store/store.h"

namespace flowrun::store {

// OK when the run's current lease (`owner`, `token`, as read inside the writing transaction) is
// the one `op` names. Otherwise kAborted, after logging the refused write with both leases: a
// writer that lost its lease (paused past it, partitioned) is told, and the operator can see it.
[[nodiscard]] Status CheckLease(const RequireLeaseOp& op, std::string_view owner, int64_t token);

// The same test without the log line or the error, for a writer that goes again through
// CheckLease when this says no. PostgreSQL's bulk path applies it in SQL as well, inside the
// run's UPDATE (UpdateRunsStatement's fences, pg_set_writes.h): keep the two alike.
bool LeaseHeld(const RequireLeaseOp& op, std::string_view owner, int64_t token);

}  // namespace flowrun::store
