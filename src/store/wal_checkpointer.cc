#include "store/wal_checkpointer.h"

#include "common/thread_annotations.h"

namespace flowrun::store {

StatusOr<std::unique_ptr<WalCheckpointer>> WalCheckpointer::Open(const std::string& path,
                                                                 int threshold_pages) {
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> db,
                   OpenStoreConnection(path, /*create=*/false, /*busy_timeout_ms=*/1000));
  return std::unique_ptr<WalCheckpointer>(new WalCheckpointer(std::move(db), threshold_pages));
}

WalCheckpointer::WalCheckpointer(std::unique_ptr<sqlite::Connection> db, int threshold_pages)
    : db_(std::move(db)), threshold_pages_(threshold_pages), thread_([this] { Loop(); }) {}

WalCheckpointer::~WalCheckpointer() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WalCheckpointer::Attach(sqlite3* writer) { sqlite3_wal_hook(writer, &OnCommit, this); }

int64_t WalCheckpointer::checkpoints() const {
  MutexLock lock(mu_);
  return checkpoints_;
}

int WalCheckpointer::OnCommit(void* self, sqlite3* db, const char* name, int pages) {
  auto* checkpointer = static_cast<WalCheckpointer*>(self);
  if (pages >= 4 * checkpointer->threshold_pages_) {
    // The thread is not keeping up: bound the log here, as the automatic checkpoint would.
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    return SQLITE_OK;
  }
  if (pages >= checkpointer->threshold_pages_) {
    {
      MutexLock lock(checkpointer->mu_);
      checkpointer->pending_ = true;
    }
    checkpointer->wake_.notify_one();
  }
  return SQLITE_OK;
}

void WalCheckpointer::Loop() {
  MutexLock lock(mu_);
  for (;;) {
    lock.Wait(wake_, [this]() FLOWRUN_REQUIRES(mu_) { return pending_ || stopping_; });
    if (stopping_) return;
    pending_ = false;
    lock.Unlock();
    // Failures (a busy database) are left for the next wake-up: the log only grows meanwhile.
    sqlite3_wal_checkpoint_v2(db_->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    lock.Lock();
    ++checkpoints_;
  }
}

}  // namespace flowrun::store
