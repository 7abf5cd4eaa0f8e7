// InflightRuns: the runs whose actions are in flight, held between walks. A run holds no thread
// while its action is out: its walker is parked here, the action's completion is queued on it
// from the action's own thread, and a worker takes the walker back, with every completion that
// arrived, to record the results and walk on.
//
// Life of one walker:
//   1. A worker that is about to start actions calls Dispatching(run, n) before the first Start, so
//      a completion that arrives at once (even inside Start) finds its entry.
//   2. It calls Park(walker) when it is done with the walker. From then on the walker is ready as
//      soon as it has a completion.
//   3. Complete(run, completion) queues a completion from any thread; when the walker is parked and
//      not yet ready, it becomes ready, and `on_ready` is called (to wake a worker) when it is the
//      only ready one: a worker that takes ready runs takes all of them.
//   4. TakeReady hands ready walkers to a worker with their completions, removing them from the
//      ready list; the worker walks and commits, and goes back to step 1 or 2, or to Forget when
//      the run no longer needs the walker.
// A walker is therefore never held by two workers, and a completion is never lost between a
// dispatch and the park.
//
// Thread-safety: every method may be called from many threads at once. `on_ready` is called
// without the lock held.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "common/timestamp.h"
#include "engine/run_walker.h"

namespace flowrun {

// One finished attempt, waiting for its run's walker.
struct ActionCompletion {
  PendingAction action;  // with its arguments given back by the action
  StatusOr<Json> result;
  TimePoint finished;
  Duration took{};
};

// A parked walker handed back to a worker, with what completed while it was parked.
struct ReadyRun {
  std::unique_ptr<RunWalker> walker;
  std::vector<ActionCompletion> completions;
  bool cancel_requested = false;  // a cancellation was asked for while it was parked
};

class InflightRuns {
 public:
  explicit InflightRuns(std::function<void()> on_ready = nullptr);
  InflightRuns(const InflightRuns&) = delete;
  InflightRuns& operator=(const InflightRuns&) = delete;

  // `count` more actions of `run_id` are about to start (see step 1 above).
  void Dispatching(const std::string& run_id, int count);
  // Hands the walker of a run with actions in flight back (step 2). With `ready`, it is ready at
  // once even without a completion: a worker walks it again on its next call.
  void Park(std::unique_ptr<RunWalker> walker, bool ready_now = false);
  // Queues the completion of one action of `run_id` (step 3). Ignored for a run that is not held.
  void Complete(const std::string& run_id, ActionCompletion completion);
  // Up to `max` ready walkers, oldest first.
  std::vector<ReadyRun> TakeReady(int max);
  // The caller holds `run_id`'s walker and will not park it again: drops its entry. Completions
  // still to come for it are ignored.
  void Forget(const std::string& run_id);
  // Records a cancellation request for runs held here; TakeReady reports it.
  void MarkCancelled(const std::set<std::string>& run_ids);
  // Drops every parked walker and returns their run ids (for releasing their leases at shutdown).
  std::vector<std::string> ForgetAll();

  // Actions started and not yet completed.
  int actions_in_flight() const;
  // Runs held here (parked, ready, or taken by a worker with actions still out).
  int runs() const;
  // True when a parked walker is ready for a worker.
  bool has_ready() const;

 private:
  struct Entry {
    std::unique_ptr<RunWalker> walker;  // null while a worker holds it
    int outstanding = 0;                // actions started and not completed
    std::vector<ActionCompletion> completions;
    bool queued_ready = false;  // in ready_
    bool walk_again = false;    // ready without a completion (Park with `ready`)
    bool cancel_requested = false;
  };
  // Queues the entry when it is parked, has completions and is not queued.
  bool MaybeReady(const std::string& run_id, Entry& entry) FLOWRUN_REQUIRES(mu_);

  const std::function<void()> on_ready_;
  mutable Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ FLOWRUN_GUARDED_BY(mu_);
  std::deque<std::string> ready_ FLOWRUN_GUARDED_BY(mu_);
  int in_flight_ FLOWRUN_GUARDED_BY(mu_) = 0;
};

}  // namespace flowrun
