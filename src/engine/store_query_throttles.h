// The throttles on two store queries that Engine::AdvanceReadyRuns makes on every call: when it
// may skip them.
//
//   ScheduledEventCheck  the query for due scheduled events (send_event with a `delay`): needed
//                        only while some may exist, that is from start-up (or Recover) and from
//                        the commit of a scheduled event until a query finds none due and none
//                        pending; otherwise once per `recheck` of the clock, for events that
//                        another node scheduled.
//   StoreClaimThrottle   ClaimRuns when the runs held in memory already filled the batch: at most
//                        once per `interval` of the clock or per `every_calls` such calls, so that
//                        runs only the store knows (due sleepers, woken waits, expired leases of
//                        other nodes) are still claimed while fresh runs keep arriving.
//
// Thread-safety: both are thread-safe.
#pragma once

#include <cstdint>
#include <optional>

#include "common/duration.h"
#include "common/thread_annotations.h"
#include "common/timestamp.h"

namespace flowrun {

class ScheduledEventCheck {
 public:
  explicit ScheduledEventCheck(Duration recheck) : recheck_(recheck) {}

  struct Query {
    bool due = false;      // ask for the scheduled events due now
    bool pending = false;  // then, if all due ones were released, ask whether any remain
    uint64_t epoch = 0;    // pass to FoundNone
  };
  // What to ask the store at `now`.
  Query Next(TimePoint now);
  // Scheduled events may exist: at start-up, and after this engine committed one.
  void MayExist();
  // The queries of `query` found none due and none pending.
  void FoundNone(const Query& query);
  // True while scheduled events may exist (for tests).
  bool may_exist() const;

 private:
  const Duration recheck_;
  mutable Mutex mu_;
  uint64_t epoch_ FLOWRUN_GUARDED_BY(mu_) = 1;    // bumped by MayExist
  uint64_t cleared_ FLOWRUN_GUARDED_BY(mu_) = 0;  // the epoch of the last FoundNone
  // The next pending query while events may exist; the next due query while not.
  TimePoint next_pending_ FLOWRUN_GUARDED_BY(mu_) = TimePoint::min();
  TimePoint next_recheck_ FLOWRUN_GUARDED_BY(mu_) = TimePoint::min();
};

class StoreClaimThrottle {
 public:
  StoreClaimThrottle(Duration interval, int every_calls)
      : interval_(interval), every_calls_(every_calls) {}

  // Whether to claim runs from the store at `now`; `memory_filled_batch` when the runs held in
  // memory filled the batch already. A batch not filled from memory always claims.
  bool ShouldClaim(bool memory_filled_batch, TimePoint now);

 private:
  const Duration interval_;
  const int every_calls_;
  Mutex mu_;
  std::optional<TimePoint> last_claim_ FLOWRUN_GUARDED_BY(mu_);
  int skipped_ FLOWRUN_GUARDED_BY(mu_) = 0;
};

}  // namespace flowrun
