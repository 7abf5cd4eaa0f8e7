// IdlePool<T>: objects kept for reuse between uses (connections, protocol sessions, library
// handles), at most `max_idle` of them, the most recently kept first so that the warmest one is
// reused and the others can age out.
//
// A caller takes an object with Take, uses it alone, and gives it back with Keep only when it is
// in a known good state; anything else is simply destroyed by its owner. Objects that do not fit
// (more than `max_idle` kept) are destroyed by Keep outside the lock, as closing a connection may
// wait for the other side.
//
// Thread-safety: all methods may be called from many threads at once.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "common/thread_annotations.h"

namespace flowrun {

template <typename T>
class IdlePool {
 public:
  explicit IdlePool(size_t max_idle) : max_idle_(max_idle) {}
  IdlePool(const IdlePool&) = delete;
  IdlePool& operator=(const IdlePool&) = delete;

  // The most recently kept object, or null when none is kept.
  std::unique_ptr<T> Take() FLOWRUN_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (idle_.empty()) return nullptr;
    std::unique_ptr<T> object = std::move(idle_.back());
    idle_.pop_back();
    return object;
  }

  // Keeps `object` for a later Take, or destroys it when `max_idle` are kept already.
  void Keep(std::unique_ptr<T> object) FLOWRUN_EXCLUDES(mu_) {
    {
      MutexLock lock(mu_);
      if (idle_.size() < max_idle_) {
        idle_.push_back(std::move(object));
        return;
      }
    }
    object.reset();  // outside the lock
  }

  size_t size() const FLOWRUN_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return idle_.size();
  }

 private:
  const size_t max_idle_;
  mutable Mutex mu_;
  std::vector<std::unique_ptr<T>> idle_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun
