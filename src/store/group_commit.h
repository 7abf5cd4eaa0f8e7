// GroupCommitQueue: LevelDB-style writer queue. Callers enqueue a request; the caller at the front
// of the queue takes every request queued so far, applies them all in one transaction through
// the apply function, and wakes the others with their results. No background thread: whoever
// arrives first does the work, so a lone caller pays one commit and a crowd shares one.
//
// Thread-safety: Submit may be called from many threads at once. The apply function runs on one
// caller's thread at a time, never concurrently with itself.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace flowrun::store {

template <typename Request, typename Result>
class GroupCommitQueue {
 public:
  // Receives the group's requests and returns one result per request, in order.
  using ApplyFn = std::function<std::vector<Result>(std::vector<Request*>& group)>;

  // `max_group` bounds how many requests one transaction takes.
  GroupCommitQueue(ApplyFn apply, size_t max_group)
      : apply_(std::move(apply)), max_group_(max_group) {}
  GroupCommitQueue(const GroupCommitQueue&) = delete;
  GroupCommitQueue& operator=(const GroupCommitQueue&) = delete;

  // Blocks until the request has been applied (by this thread or another) and returns its
  // result.
  Result Submit(Request request) {
    Writer self;
    self.request = &request;
    std::unique_lock lock(mu_);
    queue_.push_back(&self);
    while (!self.result && &self != queue_.front()) self.cv.wait(lock);
    if (self.result) return std::move(*self.result);

    // This caller leads a group: everyone queued up to max_group_.
    std::vector<Writer*> group;
    std::vector<Request*> requests;
    for (Writer* w : queue_) {
      if (group.size() >= max_group_) break;
      group.push_back(w);
      requests.push_back(w->request);
    }
    lock.unlock();
    std::vector<Result> results = apply_(requests);
    lock.lock();
    for (size_t i = 0; i < group.size(); ++i) {
      queue_.pop_front();
      group[i]->result = std::move(results[i]);
      if (group[i] != &self) group[i]->cv.notify_one();
    }
    if (!queue_.empty()) queue_.front()->cv.notify_one();
    return std::move(*self.result);
  }

 private:
  struct Writer {
    Request* request = nullptr;
    std::optional<Result> result;
    std::condition_variable cv;
  };

  const ApplyFn apply_;
  const size_t max_group_;
  std::mutex mu_;
  std::deque<Writer*> queue_;  // GUARDED_BY(mu_); the front is the current leader
};

}  // namespace flowrun::store
