#include "server/handler_pool.h"

#include <boost/asio/post.hpp>

namespace flowrun {

HandlerPool::HandlerPool(int threads, size_t max_queued)
    : pool_(static_cast<size_t>(threads)), max_queued_(max_queued) {}

HandlerPool::~HandlerPool() { Stop(); }

bool HandlerPool::Post(std::function<void()> task) {
  if (stopped_.load()) return false;
  if (queued_.fetch_add(1) >= max_queued_) {
    queued_.fetch_sub(1);
    return false;
  }
  boost::asio::post(pool_, [this, task = std::move(task)] {
    task();
    queued_.fetch_sub(1);
  });
  return true;
}

void HandlerPool::Stop() {
  if (stopped_.exchange(true)) return;
  pool_.join();
}

}  // namespace flowrun
