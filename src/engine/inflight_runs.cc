#include "engine/inflight_runs.h"

namespace flowrun {

InflightRuns::InflightRuns(std::function<void()> on_ready) : on_ready_(std::move(on_ready)) {}

void InflightRuns::Dispatching(const std::string& run_id, int count) {
  MutexLock lock(mu_);
  entries_[run_id].outstanding += count;
  in_flight_ += count;
}

void InflightRuns::Park(std::unique_ptr<RunWalker> walker, bool ready_now) {
  bool ready = false;
  {
    MutexLock lock(mu_);
    const std::string run_id = walker->run().id;
    Entry& entry = entries_[run_id];
    entry.walker = std::move(walker);
    entry.walk_again = entry.walk_again || ready_now;
    ready = MaybeReady(run_id, entry);
  }
  if (ready && on_ready_) on_ready_();
}

void InflightRuns::Complete(const std::string& run_id, ActionCompletion completion) {
  bool ready = false;
  {
    MutexLock lock(mu_);
    auto it = entries_.find(run_id);
    if (it == entries_.end()) return;
    Entry& entry = it->second;
    --entry.outstanding;
    --in_flight_;
    entry.completions.push_back(std::move(completion));
    ready = MaybeReady(run_id, entry);
  }
  if (ready && on_ready_) on_ready_();
}

bool InflightRuns::MaybeReady(const std::string& run_id, Entry& entry) {
  if (!entry.walker || entry.queued_ready) return false;
  if (entry.completions.empty() && !entry.walk_again) return false;
  entry.queued_ready = true;
  ready_.push_back(run_id);
  // Only the first ready run wakes a worker: the worker takes every run ready by then, and goes
  // on taking them while they keep coming (AdvanceReadyRuns), so one wake-up serves a burst.
  return ready_.size() == 1;
}

std::vector<ReadyRun> InflightRuns::TakeReady(int max) {
  std::vector<ReadyRun> taken;
  MutexLock lock(mu_);
  while (!ready_.empty() && static_cast<int>(taken.size()) < max) {
    auto it = entries_.find(ready_.front());
    ready_.pop_front();
    if (it == entries_.end()) continue;
    Entry& entry = it->second;
    entry.queued_ready = false;
    entry.walk_again = false;
    ReadyRun run;
    run.walker = std::move(entry.walker);
    run.completions = std::move(entry.completions);
    entry.completions.clear();
    run.cancel_requested = entry.cancel_requested;
    // An entry with nothing left in flight is recreated by the next Dispatching.
    if (entry.outstanding == 0) entries_.erase(it);
    taken.push_back(std::move(run));
  }
  return taken;
}

void InflightRuns::Forget(const std::string& run_id) {
  MutexLock lock(mu_);
  auto it = entries_.find(run_id);
  if (it == entries_.end()) return;
  in_flight_ -= it->second.outstanding;
  entries_.erase(it);
}

void InflightRuns::MarkCancelled(const std::set<std::string>& run_ids) {
  MutexLock lock(mu_);
  for (const std::string& id : run_ids) {
    auto it = entries_.find(id);
    if (it != entries_.end()) it->second.cancel_requested = true;
  }
}

std::vector<std::string> InflightRuns::ForgetAll() {
  std::vector<std::string> ids;
  MutexLock lock(mu_);
  for (auto& [id, entry] : entries_) ids.push_back(id);
  entries_.clear();
  ready_.clear();
  in_flight_ = 0;
  return ids;
}

int InflightRuns::actions_in_flight() const {
  MutexLock lock(mu_);
  return in_flight_;
}

bool InflightRuns::has_ready() const {
  MutexLock lock(mu_);
  return !ready_.empty();
}

int InflightRuns::runs() const {
  MutexLock lock(mu_);
  return static_cast<int>(entries_.size());
}

}  // namespace flowrun
