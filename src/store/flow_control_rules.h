// The decisions of flow control (store.h, "Flow control") that do not depend on how a store keeps
// its state: each store reads the state inside the transaction that creates the run, asks these
// functions what follows, and writes the outcome. Shared by SqliteStore and PostgresStore, so that
// both decide alike. Times are Unix milliseconds, as the stores keep them.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/duration.h"
#include "common/timestamp.h"
#include "store/store.h"

namespace flowrun::store {

int64_t DurationMillis(Duration d);

// "debounce" or "batch": how the stores name a gather's kind.
std::string_view GatherKindName(const GatherSpec& gather);

// rate_limit (GCRA): with `tat` the stored theoretical arrival time, already at least `now`, the
// time the next start of the key may happen when a start now does not conform; nullopt when it
// does.
std::optional<int64_t> RateLimitRefusal(const RateSpec& rate, int64_t tat, int64_t now);

// throttle (GCRA): the start reserved for a run at `now`, with `tat` as above.
int64_t ThrottleStart(const RateSpec& rate, int64_t tat, int64_t now);

// Moves `op.run` to its throttle start: a run created leased whose start is later than now loses
// its lease (reported in result.delayed_runs); any run is due no earlier than `start`.
void DelayToThrottleStart(CreateRunOp& op, int64_t start, int64_t now, BatchResult& result);

// debounce: the due time of an open debounce that an event joins at `now`, first opened at
// `first_at`: now + period, but no later than first_at + timeout, and never before now.
int64_t DebounceDue(const GatherSpec& gather, int64_t first_at, int64_t now);

// Why a run is skipped, as its error message says.
std::string RateLimitSkipMessage(int64_t allowed_at);
std::string SingletonSkipMessage(const std::string& running_run_id);

// Makes `op.run` a finished, skipped run (reported in result.flow_skipped) and drops what a
// finished run does not keep (gather, waits, lease, idempotency key). For an invoked run, returns
// the entry to append to its parent's journal, which the store appends and then wakes the parent:
// its invoke step fails for good with the reason, as when a child fails.
std::optional<JournalEntry> SkipRun(CreateRunOp& op, BatchResult& result, TimePoint now,
                                    const std::string& reason, const std::string& message);

}  // namespace flowrun::store
