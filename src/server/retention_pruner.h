// RetentionPruner: deletes stored data past `retention:` (docs/operations.md, "Retention") on a
// thread of its own, so that neither intake nor the timer waits for it:
//   - finished runs that ended more than retention.runs ago (Store::PruneFinishedRuns), with
//     their journal, waits and trigger events;
//   - events stored more than retention.events ago that no run refers to (Store::PruneEvents);
//     never within the 24 h deduplication window;
//   - built-in outbox messages older than retention.outbox (EmailOutbox::Prune).
// Each kind goes in transactions of at most kBatch rows, at most kMaxBatchesPerPass of them per
// pass, so a backlog is worked off over several passes while other writers take turns.
// A zero retention keeps that kind. Counts go to flowrun_pruned_total{kind}.
//
// The caller drives the schedule: Poke(now) starts a pass when one is due (the first at once) and
// returns when the next is due; the runtime's timer calls it, on the service's clock.
//
// Thread-safety: Poke and Pass may be called from any thread; Stop joins the thread.
#pragma once

#include <condition_variable>
#include <optional>
#include <thread>

#include "actions/email/email_outbox.h"
#include "common/clock.h"
#include "common/thread_annotations.h"
#include "config/config.h"
#include "server/metrics.h"
#include "store/store.h"

namespace flowrun {

class RetentionPruner {
 public:
  static constexpr int kBatch = 256;
  static constexpr int kMaxBatchesPerPass = 400;
  static constexpr Duration kInterval = std::chrono::minutes(5);
  static constexpr Duration kDedupeWindow = std::chrono::hours(24);

  struct Counts {
    int runs = 0;
    int events = 0;
    int outbox = 0;
  };

  // `outbox` and `pruned` (a counter family with the label "kind") may be null.
  // REQUIRES: every pointer outlives the pruner.
  RetentionPruner(RetentionConfig retention, store::Store* store, EmailOutbox* outbox,
                  CounterFamily* pruned);
  ~RetentionPruner();
  RetentionPruner(const RetentionPruner&) = delete;
  RetentionPruner& operator=(const RetentionPruner&) = delete;

  // Starts the pruning thread.
  void Start();
  // Ends the thread after the batch in progress.
  void Stop();

  // Hands a pass for time `now` to the thread when one is due; returns when the next is due, or
  // nullopt when every kind is kept for ever.
  std::optional<TimePoint> Poke(TimePoint now);

  // One pass for time `now`, on the calling thread (the thread's work; for tests too).
  Counts Pass(TimePoint now);

 private:
  void Loop();
  bool Stopping();

  const RetentionConfig retention_;
  store::Store* const store_;
  EmailOutbox* const outbox_;
  CounterFamily* const pruned_;
  Mutex mu_;
  std::condition_variable cv_;
  std::optional<TimePoint> next_pass_ FLOWRUN_GUARDED_BY(mu_);
  std::optional<TimePoint> requested_ FLOWRUN_GUARDED_BY(mu_);  // a pass for this time is wanted
  bool stopping_ FLOWRUN_GUARDED_BY(mu_) = false;
  bool events_unsupported_logged_ = false;  // the pruning thread only
  std::thread thread_;
};

}  // namespace flowrun
