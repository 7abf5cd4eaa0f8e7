#include "server/retention_pruner.h"

#include <functional>

#include "common/log.h"
#include "common/timestamp.h"

namespace flowrun {

RetentionPruner::RetentionPruner(RetentionConfig retention, store::Store* store,
                                 EmailOutbox* outbox, CounterFamily* pruned)
    : retention_(retention), store_(store), outbox_(outbox), pruned_(pruned) {}

RetentionPruner::~RetentionPruner() { Stop(); }

void RetentionPruner::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void RetentionPruner::Stop() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RetentionPruner::Stopping() {
  MutexLock lock(mu_);
  return stopping_;
}

std::optional<TimePoint> RetentionPruner::Poke(TimePoint now) {
  const Duration zero = Duration::zero();
  if (retention_.runs <= zero && retention_.events <= zero && retention_.outbox <= zero) {
    return std::nullopt;
  }
  MutexLock lock(mu_);
  if (next_pass_ && now < *next_pass_) return next_pass_;
  next_pass_ = now + kInterval;
  requested_ = now;
  cv_.notify_all();
  return next_pass_;
}

void RetentionPruner::Loop() {
  for (;;) {
    TimePoint now;
    {
      MutexLock lock(mu_);
      lock.Wait(cv_,
                [this]() FLOWRUN_REQUIRES(mu_) { return stopping_ || requested_.has_value(); });
      if (stopping_) return;
      now = *requested_;
      requested_.reset();
    }
    Pass(now);
  }
}

RetentionPruner::Counts RetentionPruner::Pass(TimePoint now) {
  Counts counts;
  // Runs one kind in batches until a batch comes back short, the pass's share is used, or the
  // pruner stops. Returns the rows deleted.
  auto prune = [&](const char* kind, const std::function<StatusOr<int>(int)>& batch) {
    int total = 0;
    for (int i = 0; i < kMaxBatchesPerPass && !Stopping(); ++i) {
      StatusOr<int> deleted = batch(kBatch);
      if (!deleted.ok()) {
        if (std::string_view(kind) == "events" &&
            deleted.status().code() == StatusCode::kFailedPrecondition) {
          if (!events_unsupported_logged_) {
            LogWarn("retention.events is not applied", {{"reason", deleted.status().message()}});
            events_unsupported_logged_ = true;
          }
        } else {
          LogError("retention: deleting old data failed",
                   {{"kind", kind}, {"error", deleted.status().ToString()}});
        }
        break;
      }
      total += *deleted;
      if (pruned_ != nullptr && *deleted > 0) {
        pruned_->WithLabels({kind}).Increment(static_cast<uint64_t>(*deleted));
      }
      if (*deleted < kBatch) break;
    }
    if (total > 0) LogInfo("retention: deleted old data", {{"kind", kind}, {"rows", total}});
    return total;
  };
  if (retention_.runs > Duration::zero()) {
    counts.runs = prune(
        "runs", [&](int limit) { return store_->PruneFinishedRuns(now - retention_.runs, limit); });
  }
  if (retention_.events > Duration::zero()) {
    const TimePoint before = now - std::max(retention_.events, kDedupeWindow);
    counts.events = prune("events", [&](int limit) { return store_->PruneEvents(before, limit); });
  }
  if (retention_.outbox > Duration::zero() && outbox_ != nullptr) {
    const TimePoint before = now - retention_.outbox;
    counts.outbox = prune("outbox", [&](int limit) { return outbox_->Prune(before, limit); });
  }
  return counts;
}

}  // namespace flowrun
