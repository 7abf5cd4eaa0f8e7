// SqliteWriterGate: lets one write transaction at a time into a SQLite file from this process,
// each writer waiting no longer than its own deadline.
//
// SQLite itself allows one writer per file; the others get SQLITE_BUSY and its busy handler
// sleeps in steps of 1 to 100 ms before trying again, so the file can sit unused while the next
// writer sleeps. Writers waiting here wake as soon as the transaction before them ends, and
// commits follow each other at the disk's fsync rate. It is a plain (timed) mutex, not a queue:
// a thread that just committed may take the next turn at once rather than wait for a sleeping
// thread to be scheduled, which a strict first-come order would cost on every commit (measured in
// bench/w1_results.md, "SQLite writer gate"). Other processes writing
// the same file still meet SQLite's own lock (and the busy timeout).
//
// Gates are shared by every connection of the process to one file: ForFile returns the same
// gate for the same file, however its path is spelled.
//
// Thread-safety: all methods may be called from many threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "common/thread_annotations.h"

namespace flowrun {

// A capability for clang's thread-safety analysis: Enter takes it, Leave gives it back.
class FLOWRUN_CAPABILITY("gate") SqliteWriterGate {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  // The gate of the file at `path` (made absolute and resolved through symlinks where it exists).
  static std::shared_ptr<SqliteWriterGate> ForFile(const std::string& path);

  SqliteWriterGate() = default;
  SqliteWriterGate(const SqliteWriterGate&) = delete;
  SqliteWriterGate& operator=(const SqliteWriterGate&) = delete;

  // Waits until no other writer holds the gate and takes it. False when `deadline` passed first
  // (the caller then holds nothing). REQUIRES: the caller does not hold the gate already.
  [[nodiscard]] bool Enter(Deadline deadline) FLOWRUN_TRY_ACQUIRE(true);
  // Opens the gate to the waiters. REQUIRES: the caller holds the gate.
  void Leave() FLOWRUN_RELEASE();

  // How many callers are inside Enter.
  size_t TEST_waiters();

 private:
  std::timed_mutex mu_;  // held from Enter to Leave; guards no data
  std::atomic<size_t> waiters_{0};
};

}  // namespace flowrun
