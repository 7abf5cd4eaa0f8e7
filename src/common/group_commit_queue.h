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
// Thread-safety: Submit and SubmitBy may be called from many threads at once. The apply function
// runs on one caller's thread at a time, never concurrently with itself, and without the queue's
// lock.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
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

  // `max_group` bounds how many requests one transaction takes.
  GroupCommitQueue(ApplyFn apply, size_t max_group)
      : apply_(std::move(apply)), max_group_(max_group) {}
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
      return !self.taken && !leading_ && queue_.front() == &self;
    };
    auto turn = [&]() FLOWRUN_REQUIRES(mu_) { return self.taken || leads(); };
    if (deadline == Deadline::max()) {
      lock.Wait(self.cv, turn);
    } else if (!lock.WaitUntil(self.cv, deadline, turn)) {
      auto position = std::find(queue_.begin(), queue_.end(), &self);
      const bool was_front = position == queue_.begin();
      queue_.erase(position);
      if (was_front && !leading_ && !queue_.empty()) queue_.front()->cv.notify_one();
      return std::nullopt;
    }
    if (self.taken) {
      lock.Wait(self.cv, [&]() FLOWRUN_REQUIRES(mu_) { return self.result.has_value(); });
      return std::move(self.result);
    }

    // This caller leads a group: the front of the queue, up to max_group_.
    leading_ = true;
    std::vector<Writer*> group;
    std::vector<Request*> requests;
    while (!queue_.empty() && group.size() < max_group_) {
      Writer* writer = queue_.front();
      queue_.pop_front();
      writer->taken = true;
      group.push_back(writer);
      requests.push_back(writer->request);
    }
    lock.Unlock();
    std::vector<Result> results = apply_(requests);
    lock.Lock();
    leading_ = false;
    for (size_t i = 0; i < group.size(); ++i) {
      group[i]->result = std::move(results[i]);
      if (group[i] != &self) group[i]->cv.notify_one();  // it cannot leave before we unlock
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
    return std::move(self.result);
  }

  // Requests that no leader has taken yet.
  size_t queued() FLOWRUN_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return queue_.size();
  }

 private:
  // One waiting caller. Its fields are read and written under mu_.
  struct Writer {
    Request* request = nullptr;
    bool taken = false;  // a leader has it: it waits for the result, whatever its deadline
    std::optional<Result> result;  // set by the leader
    std::condition_variable cv;
  };

  const ApplyFn apply_;
  const size_t max_group_;
  Mutex mu_;
  std::deque<Writer*> queue_ FLOWRUN_GUARDED_BY(mu_);  // callers no leader has taken yet
  bool leading_ FLOWRUN_GUARDED_BY(mu_) = false;       // a group is being applied
};

}  // namespace flowrun
