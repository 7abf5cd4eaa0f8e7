// Thread-safety annotations, checked by clang's -Wthread-safety (scripts/check-thread-safety.sh),
// and the annotated mutex they need.
//
// - Mark each member that a mutex guards with FLOWRUN_GUARDED_BY(mutex_), and each private
//   function that expects the lock held with FLOWRUN_REQUIRES(mutex_).
// - Guard with flowrun::Mutex, not std::mutex: libstdc++'s std::mutex carries no capability
//   attribute, so clang cannot reason about it.
// - Lock with flowrun::MutexLock. It can be unlocked and locked again within its scope, and it
//   waits on a std::condition_variable.
// - A lambda that reads guarded members under the lock (a wait predicate) says so with
//   FLOWRUN_REQUIRES after its parameter list.
//
// With compilers other than clang the macros expand to nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define FLOWRUN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define FLOWRUN_THREAD_ANNOTATION(x)
#endif

#define FLOWRUN_CAPABILITY(x) FLOWRUN_THREAD_ANNOTATION(capability(x))
#define FLOWRUN_SCOPED_CAPABILITY FLOWRUN_THREAD_ANNOTATION(scoped_lockable)
#define FLOWRUN_GUARDED_BY(x) FLOWRUN_THREAD_ANNOTATION(guarded_by(x))
#define FLOWRUN_REQUIRES(...) FLOWRUN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define FLOWRUN_EXCLUDES(...) FLOWRUN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define FLOWRUN_ACQUIRE(...) FLOWRUN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define FLOWRUN_RELEASE(...) FLOWRUN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define FLOWRUN_TRY_ACQUIRE(...) FLOWRUN_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))

namespace flowrun {

// A std::mutex that clang's analysis can follow.
class FLOWRUN_CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() FLOWRUN_ACQUIRE() { mutex_.lock(); }
  void unlock() FLOWRUN_RELEASE() { mutex_.unlock(); }
  bool try_lock() FLOWRUN_TRY_ACQUIRE(true) { return mutex_.try_lock(); }

 private:
  friend class MutexLock;
  std::mutex mutex_;
};

// Holds a Mutex for its scope (std::unique_lock underneath, so it can wait on a condition).
class FLOWRUN_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mutex) FLOWRUN_ACQUIRE(mutex) : lock_(mutex.mutex_) {}
  ~MutexLock() FLOWRUN_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // Lets go of the mutex before the scope ends, and takes it again.
  void Unlock() FLOWRUN_RELEASE() { lock_.unlock(); }
  void Lock() FLOWRUN_ACQUIRE() { lock_.lock(); }

  // Waits on `condition` until `done()` holds; the mutex is held whenever `done` runs.
  template <class Predicate>
  void Wait(std::condition_variable& condition, Predicate done) {
    condition.wait(lock_, done);
  }
  void Wait(std::condition_variable& condition) { condition.wait(lock_); }

  // As Wait, giving up at `deadline`; returns done().
  template <class Clock, class Duration, class Predicate>
  bool WaitUntil(std::condition_variable& condition,
                 const std::chrono::time_point<Clock, Duration>& deadline, Predicate done) {
    return condition.wait_until(lock_, deadline, done);
  }
  // As Wait, giving up after `timeout`; returns done().
  template <class Rep, class Period, class Predicate>
  bool WaitFor(std::condition_variable& condition,
               const std::chrono::duration<Rep, Period>& timeout, Predicate done) {
    return condition.wait_for(lock_, timeout, done);
  }
  // Waits for a notification or `timeout`, whichever comes first.
  template <class Rep, class Period>
  std::cv_status WaitFor(std::condition_variable& condition,
                         const std::chrono::duration<Rep, Period>& timeout) {
    return condition.wait_for(lock_, timeout);
  }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace flowrun
