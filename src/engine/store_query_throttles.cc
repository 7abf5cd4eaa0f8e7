#include "engine/store_query_throttles.h"

namespace flowrun {

ScheduledEventCheck::Query ScheduledEventCheck::Next(TimePoint now) {
  MutexLock lock(mu_);
  Query query;
  query.epoch = epoch_;
  if (epoch_ != cleared_) {
    query.due = true;
    // While events are pending but not due, asking whether any remain once per recheck is enough.
    if (now >= next_pending_) {
      query.pending = true;
      next_pending_ = now + recheck_;
    }
    return query;
  }
  if (now >= next_recheck_) {
    query.due = true;
    next_recheck_ = now + recheck_;
  }
  return query;
}

void ScheduledEventCheck::MayExist() {
  MutexLock lock(mu_);
  ++epoch_;
}

void ScheduledEventCheck::FoundNone(const Query& query) {
  MutexLock lock(mu_);
  // A MayExist since the query began keeps the check on.
  if (query.epoch > cleared_) cleared_ = query.epoch;
  next_pending_ = TimePoint::min();
}

bool ScheduledEventCheck::may_exist() const {
  MutexLock lock(mu_);
  return epoch_ != cleared_;
}

bool StoreClaimThrottle::ShouldClaim(bool memory_filled_batch, TimePoint now) {
  MutexLock lock(mu_);
  if (memory_filled_batch && last_claim_ && now - *last_claim_ < interval_ &&
      ++skipped_ < every_calls_) {
    return false;
  }
  last_claim_ = now;
  skipped_ = 0;
  return true;
}

}  // namespace flowrun
