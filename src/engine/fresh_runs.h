// FreshRunQueue: runs this node created (or woke) already leased to itself, held in memory so
// that a worker advances them without claiming them from the store first (one transaction less
// per run). See EngineOptions::fresh_run_capacity.
//
// Around each commit of the engine:
//   1. Reserve(batches) leases to this node, in the batches themselves, the runs they create
//      that may be queued (queued now, no concurrency limit, no flow control) and the runs their
//      ResolveWaitOps wake, while the queue plus the reservations of commits in progress stay
//      within `capacity`. A run it leases is created `running`, as a claim marks a queued run; the
//      copy it keeps stays `queued`, as a claim returns it (Store::ClaimRuns).
//   2. Settle(reservation, results) queues those the commit created (and the woken runs that
//      came back leased) and frees the rest of the reservation. A failed commit frees it all.
// Take hands queued runs to a worker, oldest first, dropping those whose lease ran out: the
// store sees them due, and any node may claim them.
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <deque>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/duration.h"
#include "common/thread_annotations.h"
#include "common/timestamp.h"
#include "store/store.h"

namespace flowrun {

class FreshRunQueue {
 public:
  // `lease` is how long a lease taken here lasts. A `capacity` of 0 disables the queue.
  FreshRunQueue(std::string node_id, int capacity, Duration lease);
  FreshRunQueue(const FreshRunQueue&) = delete;
  FreshRunQueue& operator=(const FreshRunQueue&) = delete;

  // What Reserve leased in one set of batches, for Settle.
  struct Reservation {
    std::vector<std::pair<size_t, store::RunRecord>> created;  // (batch index, the leased run)
    int woken = 0;  // ResolveWaitOps asked to hand their woken run back leased
  };
  // Step 1 above, at `now`.
  Reservation Reserve(std::vector<store::WriteBatch>& batches, TimePoint now);
  // Step 2 above. `committed` is null when the commit failed. Moves the runs it queues out of
  // the results' leased_runs.
  void Settle(Reservation reservation, std::vector<store::BatchResult>* committed);

  // Up to `max` queued runs whose lease still holds at `now`, oldest first.
  std::vector<store::RunRecord> Take(int max, TimePoint now);
  // Records a cancellation request on queued runs (their copy was made before it).
  void MarkCancelled(const std::set<std::string>& run_ids);
  // Forgets every queued run (their leases are released in the store by the caller).
  void Clear();
  bool empty() const;

 private:
  // True when the run that `create` inserts may be leased here and queued.
  static bool Queueable(const store::CreateRunOp& create);
  // True when the store created `run_id` (as it was leased: a queueable run has no flow control
  // that could delay it), not skipped as a replay.
  static bool Created(const store::BatchResult& result, const std::string& run_id);

  const std::string node_id_;
  const int capacity_;
  const Duration lease_;
  mutable Mutex mu_;
  // Leased runs not yet walked, oldest first.
  std::deque<store::RunRecord> queue_ FLOWRUN_GUARDED_BY(mu_);
  // queue_.size() plus the runs reserved by commits in progress; at most capacity_.
  int reserved_ FLOWRUN_GUARDED_BY(mu_) = 0;
};

}  // namespace flowrun
