// Bulk operations on runs: POST /v1/runs/cancel and POST /v1/runs/rerun (docs/api.md).
//
// A request selects runs with a filter {flow, status, since, until, if} and acts on one page of
// them, newest first: `limit` runs are looked at (default 200, at most 1000), and the report says
// what was done and gives `next_cursor` to resume with the next page (null when the selection is
// exhausted). Pages are cut by run creation order, so runs created while the operation goes on
// (reruns among them) are never selected by a later page, and resuming after an interruption
// neither skips nor repeats a run. `if` is an expression over `event` (the run's trigger event),
// as in a trigger condition.
//
//   cancel: asks each selected unfinished run to stop at its next step boundary; finished runs
//           are counted in `skipped`.
//   rerun:  starts each selected run again as a new run (Engine::RerunRun), from the start or
//           from `from_step`. `status` defaults to "failed": with the dashboard's failed view, this
//           is the dead-letter queue.
//
// Thread-safety: the functions are safe to call from many threads (Runtime is).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "flow/expr/expression.h"
#include "server/runtime.h"
#include "store/store.h"

namespace flowrun {

enum class BulkAction { kCancel, kRerun };

inline constexpr int kDefaultBulkPage = 200;
inline constexpr int kMaxBulkPage = 1000;
inline constexpr size_t kMaxBulkConditionBytes = 4096;

struct BulkRunRequest {
  store::RunFilter filter;  // flow, status, created_since/until, before_id (the cursor), limit
  std::optional<expr::Expression> condition;  // `if`
  std::optional<std::string> from_step;       // rerun only
};

// Parses a request body. Errors (kInvalidArgument) name the field: unknown keys, wrong types,
// an unknown status, malformed times, an `if` that does not parse or is longer than
// kMaxBulkConditionBytes, a `limit` outside 1..kMaxBulkPage, and a cancel without any filter
// (which would cancel every run).
[[nodiscard]] StatusOr<BulkRunRequest> ParseBulkRunRequest(const Json& body, BulkAction action);

struct BulkRunReport {
  int scanned = 0;                                          // runs of the page looked at
  int matched = 0;                                          // of those, runs that met `if`
  int done = 0;                                             // cancelled, or rerun
  int skipped = 0;                                          // matched but already finished (cancel)
  std::vector<std::string> new_runs;                        // rerun: the new run ids
  std::vector<std::pair<std::string, std::string>> errors;  // (run id, message), at most 20
  std::optional<std::string> next_cursor;
  Json ToJson(BulkAction action) const;
};

[[nodiscard]] StatusOr<BulkRunReport> ApplyBulkRunRequest(Runtime& runtime,
                                                          const BulkRunRequest& request,
                                                          BulkAction action);

}  // namespace flowrun
