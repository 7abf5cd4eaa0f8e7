// WorkerPool: a few threads that run queued tasks in arrival order, so that callers never wait for
// the work: a SQLite file's statements (actions/db/sqlite_database.h), or the group commits of a
// PostgreSQL store's writer (store/postgres_store.h). Threads start on the first task and are
// joined by the destructor, after the queue is run empty.
//
// Thread-safety: Run and the readings may be called from many threads at once, tasks included.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"

namespace flowrun {

class WorkerPool {
 public:
  // REQUIRES: threads >= 1.
  explicit WorkerPool(size_t threads) : max_threads_(threads) {}
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; a free thread runs it.
  void Run(std::function<void()> task);

  // Tasks queued and not yet started (for metrics).
  size_t queued() const;

 private:
  void Work();

  const size_t max_threads_;
  mutable Mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_ FLOWRUN_GUARDED_BY(mu_);
  std::vector<std::thread> threads_ FLOWRUN_GUARDED_BY(mu_);
  size_t idle_ FLOWRUN_GUARDED_BY(mu_) = 0;  // threads waiting for a task
  bool stopping_ FLOWRUN_GUARDED_BY(mu_) = false;
};

}  // namespace flowrun
