#include "common/worker_pool.h"

#include "common/thread_annotations.h"

namespace flowrun {

WorkerPool::~WorkerPool() {
  std::vector<std::thread> threads;
  {
    MutexLock lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  ready_.notify_all();
  for (std::thread& thread : threads) thread.join();
}

void WorkerPool::Run(std::function<void()> task) {
  MutexLock lock(mu_);
  tasks_.push_back(std::move(task));
  // More tasks waiting than threads to take them: one more thread, up to the bound.
  if (idle_ < tasks_.size() && threads_.size() < max_threads_) {
    threads_.emplace_back([this] { Work(); });
  }
  bool wake = idle_ > 0;
  lock.Unlock();
  if (wake) ready_.notify_one();
}

size_t WorkerPool::queued() const {
  MutexLock lock(mu_);
  return tasks_.size();
}

void WorkerPool::Work() {
  MutexLock lock(mu_);
  for (;;) {
    if (tasks_.empty()) {
      if (stopping_) return;
      ++idle_;
      lock.Wait(ready_, [this]() FLOWRUN_REQUIRES(mu_) { return !tasks_.empty() || stopping_; });
      --idle_;
      continue;
    }
    std::function<void()> task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.Unlock();
    task();
    lock.Lock();
  }
}

}  // namespace flowrun
