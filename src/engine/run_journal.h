// RunJournal: a run's journal as its walker knows it, indexed by step key: the committed entries
// it is built from (replayed in order) plus those the walker records since.
//
// - completed: a step's completion record (status, outcome, output, error, flags). A recorded
//   completion is kept without its `input` (the rendered arguments, journaled for display only);
//   a replayed one is kept as stored. The first one of a key wins, and a completion once known
//   never changes: completed(key) gives the same record, unchanged, for the journal's life.
// - attempts: a step's failed attempts, oldest first (retry time, or `final`).
// - started: what a step that is under way recorded when it began (a sleep's wake time, a wait's
//   id and timeout, an invoked child's id); the latest one wins.
// - nondet: the values of now() and uuid() a step used, handed out again in order on every walk
//   (RewindNondet starts a walk over).
// Records only the index: appending the entries to the store is the walker's batch.
//
// Thread-safety: not thread-safe; it belongs to one walker.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "store/store.h"

namespace flowrun {

class RunJournal {
 public:
  // Replays `entries`, the committed journal of the run in order.
  explicit RunJournal(const std::vector<store::JournalEntry>& entries);

  // Indexes an entry the walker appends.
  void Record(const std::string& key, store::JournalKind kind, const Json& data);
  // Notes a completion known to this walker only (not journaled): a wait's timeout, which holds
  // only if the walker's commit confirms it.
  void NoteCompleted(const std::string& key, Json record) {
    completed_.try_emplace(key, std::move(record));
  }

  // The step's completion, or nullptr. Stays valid while the journal lives.
  const Json* completed(const std::string& key) const;
  // What the step recorded when it began, or nullptr. Stays valid while the journal lives.
  const Json* started(const std::string& key) const;
  // The step's failed attempts, oldest first. Asking marks the step as reached (see reached).
  const std::vector<Json>& attempts(const std::string& key) { return attempts_[key]; }
  // How many failed attempts the step has.
  size_t attempt_count(const std::string& key) const;
  // True when the step has begun or had its attempts asked for: its `if` is not evaluated again.
  bool reached(const std::string& key) const {
    return started_.count(key) > 0 || attempts_.count(key) > 0;
  }

  // The next value of `field` ("now" or "uuid") that the step used, in this walk's order; nullopt
  // when the walk has used all of them (the caller then generates one and records it).
  std::optional<Json> NextNondet(const std::string& key, const char* field);
  // Records a value the step generated ({field: value}) after NextNondet found none.
  void RecordNondet(const std::string& key, Json record);
  // Starts a walk: NextNondet hands out each step's values from the first again.
  void RewindNondet() { nondet_cursor_.clear(); }

 private:
  std::map<std::string, Json> completed_;
  std::map<std::string, std::vector<Json>> attempts_;
  std::map<std::string, Json> started_;
  std::map<std::string, std::vector<Json>> nondet_;
  // Per walk: how many of each step's nondet values this walk has used.
  std::map<std::string, size_t> nondet_cursor_;
};

}  // namespace flowrun
