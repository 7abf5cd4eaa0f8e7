// DataLossLatch: remembers that SQLite reported a store file as damaged (SQLITE_CORRUPT or
// SQLITE_NOTADB) at run time, so that nothing more is written into it.
//
// Every connection to the file (the store's writer and readers, the outbox) reports the errors it
// sees with Observe; the first damage report trips the latch and logs one line at level "error"
// with code "DATA_LOSS" naming the file. From then on Check() returns kDataLoss, and the writers
// refuse to start a transaction: the store is read-only until the process restarts (and the
// restart's quick_check refuses the file; see docs/operations.md for the restore procedure).
//
// Thread-safety: all methods may be called from many threads at once.
#pragma once

#include <atomic>
#include <string>

#include "common/sqlite/error.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace flowrun::store {

class DataLossLatch final : public sqlite::ErrorObserver {
 public:
  explicit DataLossLatch(std::string path) : path_(std::move(path)) {}
  DataLossLatch(const DataLossLatch&) = delete;
  DataLossLatch& operator=(const DataLossLatch&) = delete;

  // Trips the latch when `status` is kDataLoss (StoreSqliteError's translation of SQLITE_CORRUPT
  // and SQLITE_NOTADB); other statuses are ignored. Returns `status` unchanged.
  const Status& Observe(const Status& status);
  // Trips the latch with `reason` (a test hook, or a caller that found damage by other means).
  void Trip(const std::string& reason);

  bool tripped() const { return tripped_.load(std::memory_order_acquire); }

  // sqlite::ErrorObserver: every store connection reports its errors here, and a connection to a
  // damaged file closes without checkpointing its log into it.
  void OnError(const Status& error) override { Observe(error); }
  bool FileDamaged() const override { return tripped(); }
  // OK, or kDataLoss naming the file and the first damage seen.
  [[nodiscard]] Status Check() const;
  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  std::atomic<bool> tripped_{false};
  mutable Mutex mu_;
  std::string reason_ FLOWRUN_GUARDED_BY(mu_);  // the first damage seen
};

}  // namespace flowrun::store
