#include "store/data_loss_latch.h"

#include "common/log.h"
#include "common/thread_annotations.h"

namespace flowrun::store {

const Status& DataLossLatch::Observe(const Status& status) {
  if (status.code() == StatusCode::kDataLoss) Trip(status.message());
  return status;
}

void DataLossLatch::Trip(const std::string& reason) {
  {
    MutexLock lock(mu_);
    if (tripped_.load(std::memory_order_relaxed)) return;
    reason_ = reason;
    tripped_.store(true, std::memory_order_release);
  }
  LogError("the store file is damaged; it is now read-only and intake is refused",
           {{"code", "DATA_LOSS"}, {"file", path_}, {"error", reason}});
}

Status DataLossLatch::Check() const {
  if (!tripped()) return OkStatus();
  MutexLock lock(mu_);
  return DataLossError("the store file " + path_ +
                       " is damaged and read-only; nothing more is written into it (" + reason_ +
                       "). Stop flowrun and restore the last backup");
}

}  // namespace flowrun::store
