#include "actions/sqlite_writer_gate.h"

#include <filesystem>
#include <map>

namespace flowrun {

std::shared_ptr<SqliteWriterGate> SqliteWriterGate::ForFile(const std::string& path) {
  static std::mutex registry_mu;
  static std::map<std::string, std::weak_ptr<SqliteWriterGate>> registry;  // by canonical path

  std::error_code error;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(path, error);
  std::string key = error ? path : canonical.string();

  std::lock_guard lock(registry_mu);
  std::shared_ptr<SqliteWriterGate> gate = registry[key].lock();
  if (!gate) {
    gate = std::make_shared<SqliteWriterGate>();
    registry[key] = gate;
  }
  // Forget gates no connection uses any more, so that the map does not grow with every file.
  std::erase_if(registry, [](const auto& entry) { return entry.second.expired(); });
  return gate;
}

bool SqliteWriterGate::Enter(Deadline deadline) {
  std::unique_lock lock(mu_);
  if (!held_ && waiters_.empty()) {
    held_ = true;
    return true;
  }
  Waiter self;
  auto position = waiters_.insert(waiters_.end(), &self);
  while (!self.admitted) {
    if (self.cv.wait_until(lock, deadline) == std::cv_status::timeout && !self.admitted) {
      waiters_.erase(position);
      return false;
    }
  }
  return true;  // Leave handed the gate over: held_ stayed true
}

void SqliteWriterGate::Leave() {
  std::lock_guard lock(mu_);
  if (waiters_.empty()) {
    held_ = false;
    return;
  }
  Waiter* next = waiters_.front();
  waiters_.pop_front();
  next->admitted = true;
  next->cv.notify_one();
}

size_t SqliteWriterGate::TEST_waiters() {
  std::lock_guard lock(mu_);
  return waiters_.size();
}

}  // namespace flowrun
