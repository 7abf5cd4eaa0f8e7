// WaitMatcher: decides which pending waits (wait_for_event steps) and cancel_on conditions an
// event satisfies, from either side:
//   - an event that arrives is matched against the waits registered before it (ResolveEvents);
//   - a wait that is registered is matched against the events stored before it, within its
//     lookback (ResolveNewWaits).
// It reads the store but never writes it: each Resolve* call returns the batch to commit (the
// waits resolved, then the mark that the events or waits were matched) and the runs whose
// cancel_on matched, and the engine commits it.
//
// - A wait with a match path (an `async.x == expr` condition) is found through the store's index
//   and matched by key; any other is scanned and its condition evaluated against the event, with
//   the program of the run's revision (RevisionCache).
// - Every lookup pages through the store `scan_limit` rows at a time, so that however many waits
//   share a key, and however many events a lookback window holds, none is skipped.
// - A condition that cannot be evaluated matches nothing. An event never matches a wait of the
//   run it started.
// - Deferred marks: events matched with nothing to resolve are not marked at once. Their marks
//   ride along with a later commit (TakeDeferredMarks), at the latest once kMaxDeferredMarks have
//   piled up. Until then the events stay unmatched in the store, and a Recover matching them
//   again changes nothing.
//
// Thread-safety: every method may be called from many threads at once.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "engine/revision_cache.h"
#include "flow/program.h"
#include "store/store.h"

namespace flowrun {

class WaitMatcher {
 public:
  // REQUIRES: every reference outlives the matcher.
  WaitMatcher(store::Store& store, RevisionCache& revisions, const Clock& clock, int scan_limit);
  WaitMatcher(const WaitMatcher&) = delete;
  WaitMatcher& operator=(const WaitMatcher&) = delete;

  // How many deferred marks are held before a ResolveEvents commits them.
  static constexpr size_t kMaxDeferredMarks = 1000;

  // The pending waits (and cancel_on) that `event` satisfies.
  [[nodiscard]] StatusOr<std::vector<store::WaitRecord>> MatchingWaits(
      const store::EventRecord& event);

  // One batch to commit, and what it does to runs.
  struct Resolution {
    store::WriteBatch batch;          // ResolveWaitOps, then one MarkMatchedOp
    std::set<std::string> cancelled;  // runs whose cancel_on matched
  };
  // How ResolveEvents marks events that leave nothing to resolve.
  enum class MarkMatched { kWithNextCommit, kNow };
  // Resolves the waits that stored `events` match, and marks the events matched. nullopt when
  // there is nothing to commit: no events, or (kWithNextCommit) nothing to resolve, the marks
  // being deferred.
  [[nodiscard]] StatusOr<std::optional<Resolution>> ResolveEvents(
      const std::vector<store::EventRecord>& events, MarkMatched mark);
  // Resolves newly registered `waits` against the events stored before them, and marks the waits
  // scanned; waits resolved meanwhile are skipped. nullopt when `waits` is empty.
  [[nodiscard]] StatusOr<std::optional<Resolution>> ResolveNewWaits(
      const std::vector<store::WaitRecord>& waits);

  // The deferred marks, to commit in a batch of their own; the caller gives back with
  // RestoreDeferredMarks those whose commit failed.
  std::vector<std::string> TakeDeferredMarks();
  void RestoreDeferredMarks(std::vector<std::string> event_ids);

 private:
  // The first event in seq order that satisfies `wait` within its window (lookback included);
  // nullopt when none does.
  [[nodiscard]] StatusOr<std::optional<store::EventRecord>> EarliestMatchingEvent(
      const store::WaitRecord& wait);
  // True when `event` satisfies `wait`'s condition and arrived in its window.
  [[nodiscard]] StatusOr<bool> WaitMatches(const store::WaitRecord& wait,
                                           const store::EventRecord& event);
  // The condition of a wait's step or cancel_on: nullopt when the program has no such step,
  // nullptr when it has no condition.
  std::optional<const expr::Expression*> ConditionOf(const store::WaitRecord& wait,
                                                     const std::shared_ptr<const Program>& program);
  const CompiledStep* FindStep(const std::shared_ptr<const Program>& program,
                               const std::string& step_id);
  // Adds `ids` to the deferred marks; returns them all when kMaxDeferredMarks are held (to be
  // committed now), else nothing.
  std::vector<std::string> DeferMarks(std::vector<std::string> ids);

  store::Store& store_;
  RevisionCache& revisions_;
  const Clock& clock_;
  const int scan_limit_;

  // Step id -> step, per program (kept alive here), for evaluating wait conditions.
  struct StepIndex {
    std::shared_ptr<const Program> program;
    std::unordered_map<std::string, const CompiledStep*> steps;
  };
  Mutex index_mu_;
  std::unordered_map<const Program*, StepIndex> step_index_ FLOWRUN_GUARDED_BY(index_mu_);

  Mutex marks_mu_;
  std::vector<std::string> deferred_marks_ FLOWRUN_GUARDED_BY(marks_mu_);
};

}  // namespace flowrun
