// SqliteWriterGate: lets one write transaction at a time into a SQLite file from this process,
// in arrival order, each waiting no longer than its own deadline.
//
// SQLite itself allows one writer per file; the others get SQLITE_BUSY and its busy handler
// sleeps in steps of 1 to 100 ms before trying again, so a file written from many threads spends
// most of its time asleep. Queueing the writers here instead hands the lock straight to the next
// one when a transaction ends, and commits follow each other at the disk's fsync rate. Other
// processes writing the same file still meet SQLite's own lock (and the busy timeout).
//
// Gates are shared by every connection of the process to one file: ForFile returns the same
// gate for the same file, however its path is spelled.
//
// Thread-safety: all methods may be called from many threads at once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <list>
#include <memory>
#include <mutex>
#include <string>

namespace flowrun {

class SqliteWriterGate {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  // The gate of the file at `path` (made absolute and resolved through symlinks where it exists).
  static std::shared_ptr<SqliteWriterGate> ForFile(const std::string& path);

  SqliteWriterGate() = default;
  SqliteWriterGate(const SqliteWriterGate&) = delete;
  SqliteWriterGate& operator=(const SqliteWriterGate&) = delete;

  // Waits for this caller's turn, first come first served. False when `deadline` passed first
  // (the caller then holds nothing). REQUIRES: the caller does not hold the gate already.
  [[nodiscard]] bool Enter(Deadline deadline);
  // Hands the gate to the longest waiter, or opens it. REQUIRES: the caller holds the gate.
  void Leave();

  size_t TEST_waiters();

 private:
  struct Waiter {
    std::condition_variable cv;
    bool admitted = false;  // GUARDED_BY(mu_)
  };

  std::mutex mu_;
  bool held_ = false;           // GUARDED_BY(mu_)
  std::list<Waiter*> waiters_;  // GUARDED_BY(mu_); oldest first
};

}  // namespace flowrun
