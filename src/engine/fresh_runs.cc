#include "engine/fresh_runs.h"

#include <algorithm>

namespace flowrun {

using store::BatchResult;
using store::RunRecord;

FreshRunQueue::FreshRunQueue(std::string node_id, int capacity, Duration lease)
    : node_id_(std::move(node_id)), capacity_(capacity), lease_(lease) {}

bool FreshRunQueue::Queueable(const store::CreateRunOp& create) {
  // A run walked on ingest is no longer queued. A run under flow control (throttle, rate limit,
  // singleton, debounce, batch, extra slots) or whose due time priority moved is left to
  // ClaimRuns: the store decides whether and when it starts.
  return create.run.lease_owner.empty() && create.run.concurrency_limit <= 0 &&
         create.run.status == store::RunStatus::kQueued && !create.HasFlowControl() &&
         !create.claim_in_due_order && create.run.due_at == create.run.created_at;
}

FreshRunQueue::Reservation FreshRunQueue::Reserve(std::vector<store::WriteBatch>& batches,
                                                  TimePoint now) {
  Reservation reservation;
  if (capacity_ <= 0) return reservation;
  const TimePoint lease_until = now + lease_;
  MutexLock lock(mu_);
  for (size_t i = 0; i < batches.size(); ++i) {
    for (store::WriteOp& op : batches[i].ops) {
      if (reserved_ >= capacity_) return reservation;
      if (auto* resolve = std::get_if<store::ResolveWaitOp>(&op)) {
        // The woken run comes back leased (BatchResult::leased_runs) unless another holds it.
        ++reserved_;
        ++reservation.woken;
        resolve->lease_owner = node_id_;
        resolve->lease_until = lease_until;
        continue;
      }
      auto* create = std::get_if<store::CreateRunOp>(&op);
      if (!create || !Queueable(*create)) continue;
      ++reserved_;
      RunRecord& run = create->run;
      run.lease_owner = node_id_;
      run.lease_token = store::kFirstLeaseToken;
      run.lease_until = lease_until;
      run.due_at = run.lease_until;
      reservation.created.emplace_back(i, run);
      // Stored as taken by this node, as a claim would mark it; the queued copy says it has no
      // journal yet.
      run.status = store::RunStatus::kRunning;
    }
  }
  return reservation;
}

bool FreshRunQueue::Created(const BatchResult& result, const std::string& run_id) {
  const auto& created = result.created_runs;
  return std::find(created.begin(), created.end(), run_id) != created.end();
}

void FreshRunQueue::Settle(Reservation reservation, std::vector<BatchResult>* committed) {
  MutexLock lock(mu_);
  for (auto& [index, run] : reservation.created) {
    if (committed && Created((*committed)[index], run.id)) {
      queue_.push_back(std::move(run));
    } else {
      --reserved_;
    }
  }
  if (committed) {
    for (BatchResult& result : *committed) {
      for (RunRecord& run : result.leased_runs) {
        queue_.push_back(std::move(run));
        --reservation.woken;
      }
    }
  }
  reserved_ -= reservation.woken;
}

std::vector<RunRecord> FreshRunQueue::Take(int max, TimePoint now) {
  std::vector<RunRecord> taken;
  MutexLock lock(mu_);
  while (!queue_.empty() && static_cast<int>(taken.size()) < max) {
    RunRecord run = std::move(queue_.front());
    queue_.pop_front();
    --reserved_;
    // A lease that ran out (the engine was not driven for that long) may be claimed by anyone:
    // leave the run to ClaimRuns, which sees it due.
    if (run.lease_until && *run.lease_until > now) taken.push_back(std::move(run));
  }
  return taken;
}

void FreshRunQueue::MarkCancelled(const std::set<std::string>& run_ids) {
  if (run_ids.empty()) return;
  MutexLock lock(mu_);
  for (RunRecord& run : queue_) {
    if (run_ids.count(run.id)) run.cancel_requested = true;
  }
}

void FreshRunQueue::Clear() {
  MutexLock lock(mu_);
  reserved_ -= static_cast<int>(queue_.size());
  queue_.clear();
}

bool FreshRunQueue::empty() const {
  MutexLock lock(mu_);
  return queue_.empty();
}

}  // namespace flowrun
