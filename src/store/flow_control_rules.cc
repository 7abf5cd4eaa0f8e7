#include "store/flow_control_rules.h"

#include <algorithm>

namespace flowrun::store {

int64_t DurationMillis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

std::string_view GatherKindName(const GatherSpec& gather) {
  return gather.kind == GatherSpec::Kind::kBatch ? "batch" : "debounce";
}

std::optional<int64_t> RateLimitRefusal(const RateSpec& rate, int64_t tat, int64_t now) {
  const int64_t allowed_at = tat - DurationMillis(rate.tolerance);
  if (allowed_at > now) return allowed_at;
  return std::nullopt;
}

int64_t ThrottleStart(const RateSpec& rate, int64_t tat, int64_t now) {
  return std::max<int64_t>(now, tat - DurationMillis(rate.tolerance));
}

void DelayToThrottleStart(CreateRunOp& op, int64_t start, int64_t now, BatchResult& result) {
  RunRecord& run = op.run;
  if (start > now && !run.lease_owner.empty()) {
    // A leased run is due when its lease ends; unleased, it is due at its start.
    run.lease_owner.clear();
    run.lease_until.reset();
    run.due_at = FromUnixMillis(start);
    result.delayed_runs.push_back(run.id);
  } else if (!run.due_at || ToUnixMillis(*run.due_at) < start) {
    run.due_at = FromUnixMillis(start);
  }
}

int64_t DebounceDue(const GatherSpec& gather, int64_t first_at, int64_t now) {
  int64_t due = now + DurationMillis(gather.period);
  if (gather.timeout) due = std::min<int64_t>(due, first_at + DurationMillis(*gather.timeout));
  return std::max<int64_t>(due, now);
}

std::string RateLimitSkipMessage(int64_t allowed_at) {
  return "rate limit reached; the next run of this key may start at " +
         FormatTimestamp(FromUnixMillis(allowed_at));
}

std::string SingletonSkipMessage(const std::string& running_run_id) {
  return "a run with the same singleton key is still running (" + running_run_id + ")";
}

std::optional<JournalEntry> SkipRun(CreateRunOp& op, BatchResult& result, TimePoint now,
                                    const std::string& reason, const std::string& message) {
  RunRecord& run = op.run;
  run.status = RunStatus::kSkipped;
  run.skip_reason = reason;
  run.error = Json{{"message", message}, {"reason", reason}};
  run.ended_at = now;
  run.due_at.reset();
  run.lease_owner.clear();
  run.lease_until.reset();
  op.gather.reset();
  op.waits.clear();             // a finished run waits for nothing
  run.idempotency_key.clear();  // nor does it hold its key against a later event
  result.flow_skipped.emplace_back(run.id, reason);
  if (run.parent_run_id.empty()) return std::nullopt;
  return JournalEntry{
      .run_id = run.parent_run_id,
      .step_key = run.parent_step_key,
      .kind = JournalKind::kAttempt,
      .data = Json{{"attempt", 1},
                   {"error", Json{{"message", "invoked run " + run.id + " skipped: " + message},
                                  {"reason", reason},
                                  {"retryable", false}}},
                   {"final", true}},
      .at = now};
}

}  // namespace flowrun::store
