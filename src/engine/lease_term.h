// How long a run's lease is taken or grown for.
//
// A lease must outlast the deadline of every action the run has in flight by at least `lease`
// (EngineOptions::lease), so that no other worker takes the run while an action may still
// answer. When a lease is taken or must grow, it is set half a lease further than that minimum.
// The actions of the run's next steps, started soon after, then still fit within it, and the
// updates of those steps leave the lease's end alone. A leased run's due time is its lease's end,
// an indexed column: left alone, PostgreSQL rewrites the row in place (a HOT update) without
// touching any index.
#pragma once

#include "common/duration.h"
#include "common/timestamp.h"

namespace flowrun {

// How far a lease taken or grown reaches beyond the deadline it covers: `lease` and a half.
inline Duration LeaseWithRoom(Duration lease) { return lease + lease / 2; }

// The lease taken for work whose latest deadline is `deadline`.
inline TimePoint LeaseEndFor(TimePoint deadline, Duration lease) {
  return deadline + LeaseWithRoom(lease);
}

// Whether a lease that ends at `lease_until` must grow to cover work due by `deadline`.
inline bool LeaseMustGrow(TimePoint lease_until, TimePoint deadline, Duration lease) {
  return deadline + lease > lease_until;
}

// How long a lease taken now lasts when the work it covers may take `attempt_timeout`.
inline Duration LeaseSpanFor(Duration attempt_timeout, Duration lease) {
  return attempt_timeout + LeaseWithRoom(lease);
}

}  // namespace flowrun
