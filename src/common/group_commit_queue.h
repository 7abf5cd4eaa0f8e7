// GroupCommitQueue: LevelDB-style writer queue. Callers enqueue a request; the caller at the front
// of the queue, when no group is being applied, leads: it takes up to `max_group` requests from the
// front, applies them all in one transaction through the apply function, and wakes the others
// with their results. No background thread: whoever arrives first does the work, so a lone caller
// pays one commit and a crowd shares one.
//
// Used by the stores' write paths (store/sqlite_store.h, store/postgres_store.h), where a request
// waits as long as it takes, and by a SQLite `db` target's SqliteCommitGroup
// (actions/db/sqlite_commit_group.h), where a request that no leader has taken by its deadline
// leaves the queue (SubmitBy).
//
// A request can also be queued without a waiting thread (SubmitAsync): its result goes to a
// callback. When such a request would otherwise wait for nobody, the queue hands a drain task to
// the `spawn` function given at construction; the drain leads groups, of waiting and of queued
// requests alike, until the queue is empty. While a drain is due, waiting callers do not lead:
// the drain takes them. So `spawn` must run the drain on a thread that no waiting caller can
// hold: on a pool that the waiting callers share, the drain could queue behind them for good.
//
// In a queue built with Leaders::kDrains, a caller still leads when it finds no group in flight,
// but the callers that queue up behind a group are led by a drain, which then leads group after
// group while requests keep coming. So under a steady load each group starts as the last one
// ends, where a caller woken to lead would first have to be scheduled (on busy cores that takes
// milliseconds, while the store sits idle); and a lone caller still pays no hand-over.
//
// Thread-safety: Submit, SubmitBy and SubmitAsync may be called from many threads at once. The
// apply function runs on one thread at a time (a caller's or a drain's), never concurrently with
// itself, and without the queue's lock; so do the callbacks of SubmitAsync.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/thread_annotations.h"

namespace flowrun {

template <typename Request, typename Result>
class GroupCommitQueue {
 public:
  using Deadline = std::chrono::steady_clock::time_point;
  // Receives the group's requests and returns one result per request, in order.
  using ApplyFn = std::function<std::vector<Result>(std::vector<Request*>& group)>;

  // Runs a task on some thread (SubmitAsync's drains).
  using SpawnFn = std::function<void(std::function<void()> task)>;
  // Receives a SubmitAsync request's result; nullopt when its deadline passed before a leader
  // took it.
  template <typename R>
  using DoneFn = std::function<void(std::optional<R>)>;

  // Who leads the groups of waiting callers.
  enum class Leaders {
    // The caller at the front, when no group is being applied (no thread of the queue's own).
    kCallers,
    // As kCallers for a caller that finds no group in flight; the requests queued behind a group
    // go to a drain run by `spawn`, which leads group after group while requests keep coming.
    kDrains,
  };

  // `max_group` bounds how many requests one transaction takes. `spawn` is needed only for
  // SubmitAsync and for kDrains.
  GroupCommitQueue(ApplyFn apply, size_t max_group, SpawnFn spawn = nullptr,
                   Leaders leaders = Leaders::kCallers)
      : apply_(std::move(apply)),
        max_group_(max_group),
        spawn_(std::move(spawn)),
        leaders_(leaders) {}
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // Blocks until the request has been applied (by this thread or another) and returns its
  // result.
  Result Submit(Request request) { return *SubmitBy(request, Deadline::max()); }

  // As Submit, but gives up at `deadline` if no leader has taken the request by then: nullopt.
  // Once taken, the request waits for its group's result whatever the deadline.
  std::optional<Result> SubmitBy(Request& request, Deadline deadline) FLOWRUN_EXCLUDES(mu_) {
    Writer self;
    self.request = &request;
    MutexLock lock(mu_);
    queue_.push_back(&self);
    auto leads = [&]() FLOWRUN_REQUIRES(mu_) {
      return !self.taken && !leading_ && !draining_ && queue_.front() == &self;
    };
    auto turn = [&]() FLOWRUN_REQUIRES(mu_) { return self.taken || leads(); };
    if (deadline == Deadline::max()) {
      lock.Wait(self.cv, turn);
    } else if (!lock.WaitUntil(self.cv, deadline, turn)) {
      auto position = std::find(queue_.begin(), queue_.end(), &self);
      const bool was_front = position == queue_.begin();
      queue_.erase(position);
      if (was_front && !leading_) WakeFront();
      return std::nullopt;
    }
    if (self.taken) {
      lock.Wait(self.cv, [&]() FLOWRUN_REQUIRES(mu_) { return self.result.has_value(); });
      return std::move(self.result);
    }

    // This caller leads a group.
    Group group = TakeGroup();
    lock.Unlock();
    std::vector<Result> results = Apply(group);
    lock.Lock();
    std::vector<std::unique_ptr<Writer>> answered = HandOut(group, results);
    if (!queue_.empty()) WakeFront();
    lock.Unlock();
    Answer(answered);
    return std::move(self.result);
  }

  // Queues `request` and returns at once. `done` receives its result, on the thread that applied
  // its group; or nullopt, when a leader reaches the request after `deadline`.
  // REQUIRES: the queue was built with a spawn function.
  void SubmitAsync(std::unique_ptr<Request> request, Deadline deadline, DoneFn<Result> done)
      FLOWRUN_EXCLUDES(mu_) {
    auto writer = std::make_unique<Writer>();
    writer->request = request.get();
    writer->owned = std::move(request);
    writer->deadline = deadline;
    writer->done = std::move(done);
    MutexLock lock(mu_);
    queue_.push_back(writer.release());
    // A leader at work wakes the front when it is done; otherwise nobody may be coming.
    if (!leading_) WakeFront();
  }

  // Requests that no leader has taken yet.
  size_t queued() const FLOWRUN_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return queue_.size();
  }

 private:
  // One queued request: a waiting caller's (on its stack, woken through `cv`) or SubmitAsync's
  // (on the heap, owning its request, answered through `done`). Its fields are read and written
  // under mu_.
  struct Writer {
    Request* request = nullptr;
    bool taken = false;  // a leader has it: it waits for the result, whatever its deadline
    std::optional<Result> result;  // set by the leader
    std::condition_variable cv;
    // SubmitAsync's only.
    std::unique_ptr<Request> owned;
    Deadline deadline = Deadline::max();
    DoneFn<Result> done;
  };

  // A group taken from the queue, and the queued requests found past their deadline on the way.
  struct Group {
    std::vector<Writer*> writers;
    std::vector<Request*> requests;
    std::vector<std::unique_ptr<Writer>> expired;
  };

  // Takes the front of the queue, up to max_group_ requests, and marks a group as being applied.
  Group TakeGroup() FLOWRUN_REQUIRES(mu_) {
    leading_ = true;
    const auto now = std::chrono::steady_clock::now();
    Group group;
    while (!queue_.empty() && group.writers.size() < max_group_) {
      Writer* writer = queue_.front();
      queue_.pop_front();
      if (writer->done && writer->deadline < now) {
        group.expired.emplace_back(writer);
        continue;
      }
      writer->taken = true;
      group.writers.push_back(writer);
      group.requests.push_back(writer->request);
    }
    return group;
  }

  // Answers the expired requests with nullopt, and applies the group.
  std::vector<Result> Apply(Group& group) FLOWRUN_EXCLUDES(mu_) {
    for (auto& writer : group.expired) writer->done(std::nullopt);
    if (group.requests.empty()) return {};
    return apply_(group.requests);
  }

  // Stores the results and wakes the waiting callers; returns the queued requests, whose
  // callbacks the caller calls without the lock (Answer).
  std::vector<std::unique_ptr<Writer>> HandOut(Group& group, std::vector<Result>& results)
      FLOWRUN_REQUIRES(mu_) {
    leading_ = false;
    std::vector<std::unique_ptr<Writer>> answered;
    for (size_t i = 0; i < group.writers.size(); ++i) {
      Writer* writer = group.writers[i];
      writer->result = std::move(results[i]);
      if (writer->done) {
        answered.emplace_back(writer);
      } else {
        writer->cv.notify_one();  // it cannot leave before we unlock
      }
    }
    return answered;
  }

  static void Answer(std::vector<std::unique_ptr<Writer>>& answered) {
    for (auto& writer : answered) writer->done(std::move(writer->result));
  }

  // Leads groups until the queue is empty (SubmitAsync's drain task).
  void Drain() FLOWRUN_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    while (!queue_.empty()) {
      Group group = TakeGroup();
      lock.Unlock();
      std::vector<Result> results = Apply(group);
      lock.Lock();
      std::vector<std::unique_ptr<Writer>> answered = HandOut(group, results);
      lock.Unlock();
      Answer(answered);
      lock.Lock();
    }
    draining_ = false;
  }

  // Passes the turn to the front of the queue, when no group is being applied: a waiting caller
  // is woken to lead (kCallers); otherwise the queue gets a drain, unless one is due already.
  void WakeFront() FLOWRUN_REQUIRES(mu_) {
    if (queue_.empty() || draining_) return;
    if (!queue_.front()->done && leaders_ == Leaders::kCallers) {
      queue_.front()->cv.notify_one();
      return;
    }
    draining_ = true;
    spawn_([this] { Drain(); });
  }

  const ApplyFn apply_;
  const size_t max_group_;
  const SpawnFn spawn_;
  const Leaders leaders_;
  mutable Mutex mu_;
  std::deque<Writer*> queue_ FLOWRUN_GUARDED_BY(mu_);  // requests no leader has taken yet
  bool leading_ FLOWRUN_GUARDED_BY(mu_) = false;       // a group is being applied
  bool draining_ FLOWRUN_GUARDED_BY(mu_) = false;      // a drain is spawned and not finished
};

}  // namespace flowrun
