// HandlerPool: a fixed set of threads (an asio::thread_pool) for the route handlers that may wait
// on the store, so that the HTTP server's I/O threads never do. Its queue is bounded: past
// `max_queued` waiting tasks, Post refuses, and the server answers 503 instead of queueing
// without end.
//
// Thread-safety: Post may be called from any thread; Stop and the destructor must not race it.
#pragma once

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <functional>

namespace flowrun {

class HandlerPool {
 public:
  // REQUIRES: threads >= 1, max_queued >= 1.
  HandlerPool(int threads, size_t max_queued);
  HandlerPool(const HandlerPool&) = delete;
  HandlerPool& operator=(const HandlerPool&) = delete;
  // Stop.
  ~HandlerPool();

  // Queues `task`; false (and `task` dropped) when max_queued tasks are already waiting or
  // running, or after Stop.
  [[nodiscard]] bool Post(std::function<void()> task);
  // Runs what is queued, then joins the threads. Idempotent.
  void Stop();

  size_t queued() const { return queued_.load(std::memory_order_relaxed); }

 private:
  boost::asio::thread_pool pool_;
  const size_t max_queued_;
  std::atomic<size_t> queued_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace flowrun
