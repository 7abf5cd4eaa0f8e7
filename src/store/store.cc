#include "store/store.h"

#include <array>

namespace flowrun::store {

StatusOr<int> Store::PruneEvents(TimePoint, int) {
  return FailedPreconditionError("this store does not prune events");
}
namespace {

constexpr std::array<std::pair<RunStatus, std::string_view>, 8> kStatusNames = {{
    {RunStatus::kQueued, "queued"},
    {RunStatus::kRunning, "running"},
    {RunStatus::kSleeping, "sleeping"},
    {RunStatus::kWaiting, "waiting"},
    {RunStatus::kCompleted, "completed"},
    {RunStatus::kFailed, "failed"},
    {RunStatus::kCancelled, "cancelled"},
    {RunStatus::kSkipped, "skipped"},
}};

}  // namespace

std::string_view RunStatusName(RunStatus status) {
  for (const auto& [s, name] : kStatusNames) {
    if (s == status) return name;
  }
  return "unknown";
}

StatusOr<RunStatus> ParseRunStatus(std::string_view name) {
  for (const auto& [s, n] : kStatusNames) {
    if (n == name) return s;
  }
  return InvalidArgumentError("unknown run status \"" + std::string(name) + "\"");
}

bool IsTerminal(RunStatus status) {
  return status == RunStatus::kCompleted || status == RunStatus::kFailed ||
         status == RunStatus::kCancelled || status == RunStatus::kSkipped;
}

std::string_view JournalKindName(JournalKind kind) {
  switch (kind) {
    case JournalKind::kCompleted:
      return "completed";
    case JournalKind::kAttempt:
      return "attempt";
    case JournalKind::kNondet:
      return "nondet";
    case JournalKind::kStarted:
      return "started";
  }
  return "started";
}

Json EventRecord::ToJson() const {
  return Json{{"id", id}, {"name", name}, {"data", data}, {"ts", FormatTimestamp(ts)}};
}

}  // namespace flowrun::store
