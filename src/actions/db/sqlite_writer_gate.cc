#include "actions/db/sqlite_writer_gate.h"

#include <filesystem>
#include <map>

#include "common/thread_annotations.h"

namespace flowrun {

std::shared_ptr<SqliteWriterGate> SqliteWriterGate::ForFile(const std::string& path) {
  static Mutex registry_mu;
  static std::map<std::string, std::weak_ptr<SqliteWriterGate>> registry;  // by canonical path

  std::error_code error;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(path, error);
  std::string key = error ? path : canonical.string();

  MutexLock lock(registry_mu);
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
  waiters_.fetch_add(1, std::memory_order_relaxed);
  bool entered = mu_.try_lock_until(deadline);
  waiters_.fetch_sub(1, std::memory_order_relaxed);
  return entered;
}

void SqliteWriterGate::Leave() { mu_.unlock(); }

size_t SqliteWriterGate::TEST_waiters() { return waiters_.load(); }

}  // namespace flowrun
