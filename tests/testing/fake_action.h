// FakeAction: an Action for engine tests. It records every request and answers from a script of
// results, then with a default output ({"echo": arguments, "key": idempotency key}). It answers
// inside Start, or, while held (Hold), keeps each attempt in flight until ReleaseHeld answers
// it: the fake asynchronous transport for tests of many actions in flight.
//
// Thread-safety: safe to call from many threads.
#pragma once

#include <deque>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "actions/action.h"

namespace flowrun::testing {

class FakeAction final : public Action {
 public:
  explicit FakeAction(std::string name) : name_(std::move(name)) {}
  FakeAction(const FakeAction&) = delete;
  FakeAction& operator=(const FakeAction&) = delete;

  std::string_view name() const override { return name_; }
  void Start(ActionRequest request, ActionCallback done) override;

  // Queues the result of the next call.
  void Script(StatusOr<Json> result);
  // While held, Start keeps each attempt in flight instead of answering it.
  void Hold(bool held);
  // Answers up to `max` attempts in flight (all when negative), from the calling thread: oldest
  // first, or in an order shuffled by `shuffle_seed` when it is not 0. Returns how many.
  int ReleaseHeld(int max = -1, uint64_t shuffle_seed = 0);
  // Attempts in flight.
  int held() const;
  // Forgets the attempts in flight without answering them, as a crashed process would.
  void DropHeld();
  std::vector<ActionRequest> requests() const;
  int calls() const;

 private:
  const std::string name_;
  mutable std::mutex mu_;
  std::deque<StatusOr<Json>> script_;    // GUARDED_BY(mu_)
  std::vector<ActionRequest> requests_;  // GUARDED_BY(mu_)
  bool hold_ = false;                    // GUARDED_BY(mu_)
  // GUARDED_BY(mu_): attempts in flight while held, with the result each will get.
  std::vector<std::tuple<ActionRequest, StatusOr<Json>, ActionCallback>> held_;
};

}  // namespace flowrun::testing
