// Database: one target of `db` steps (a SQLite file or a PostgreSQL server), behind the narrow
// interface the db action needs: run one statement with named parameters, bound and never
// spliced into the SQL, inside a transaction of its own, under a statement timeout.
//
// Error codes carry the retry decision: busy or locked databases, lost connections and
// serialization failures or deadlocks are retryable (kUnavailable, kAborted); a statement that
// ran out of time is kDeadlineExceeded; constraint violations are kFailedPrecondition and bad SQL
// or parameters are kInvalidArgument (never retried).
//
// Exactly once: a statement started with a `result_key` (the step's idempotency key) records its
// result in the table `flowrun_step_results` of the target, in the same transaction as the
// statement, and first looks the key up there: when a result is recorded already (the statement
// committed, then flowrun crashed before its journal recorded the step), that result is returned
// and the statement does not run again. SQLite records writing statements only (reads have no
// effect to repeat); PostgreSQL records every statement. Recorded rows older than
// DatabaseOptions::step_results_retention are deleted in small batches by later transactions.
//
// Start runs a statement without blocking the caller (SQLite on a small worker pool per target,
// PostgreSQL with libpq's asynchronous API on the OutboundLoop); Execute runs one and waits.
//
// Thread-safety: Start and Execute may be called from many threads at once.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/duration.h"
#include "common/json.h"
#include "common/status.h"

namespace flowrun {

struct QueryResult {
  Json rows = Json::array();  // one object per row, column name -> value
  long long changes = 0;      // rows inserted, updated or deleted; 0 for queries
};

class Database {
 public:
  virtual ~Database() = default;

  // Runs exactly one statement. `params` is an object; every `:name` in `sql` must have a value
  // there and every value must be used. Values bind as their JSON type (objects and arrays as
  // JSON text).
  [[nodiscard]] virtual StatusOr<QueryResult> Execute(std::string_view sql, const Json& params,
                                                      Duration timeout) = 0;

  using QueryDone = std::function<void(StatusOr<QueryResult> result)>;
  // Runs the statement like Execute and returns at once; `done` is called exactly once, from
  // another thread or (for arguments refused before anything runs) before Start returns. `timeout`
  // bounds the wait for a connection too. A non-empty `result_key` makes the statement
  // exactly-once under that key (see the file comment).
  virtual void Start(std::string sql, Json params, Duration timeout, std::string result_key,
                     QueryDone done) = 0;

  // Statements started and waiting for a connection or a worker (for metrics).
  virtual size_t queued() const = 0;
};

// The JSON text a step's result is recorded as in flowrun_step_results, and back.
std::string EncodeStepResult(const QueryResult& result);
[[nodiscard]] StatusOr<QueryResult> DecodeStepResult(std::string_view text);
// Logs (info, "db step result replayed") that a step found its result recorded under `key` in
// the target `database` and returned it without running the statement again: the retry of an
// attempt whose transaction committed but whose journal entry was lost (a crash).
void LogStepResultReplayed(std::string_view database, std::string_view key);

class OutboundLoop;

struct DatabaseOptions {
  // Connections (PostgreSQL) or worker threads and idle connections (SQLite). Default: 8
  size_t max_connections = 8;
  // Rows of flowrun_step_results older than this are deleted; zero keeps them. Default: 30 days,
  // as `retention.runs` (a step is never retried once its run is gone).
  Duration step_results_retention = std::chrono::hours(24 * 30);
  // Drives PostgreSQL connections: started, and outliving the database. Unused for SQLite.
  OutboundLoop* loop = nullptr;
};

// Opens a target from the config: "sqlite:PATH" (created if missing) or "postgres://…" /
// "postgresql://…" (connections made on first use and pooled, driven by `loop`, which must be
// started and outlive the database). `label` names the target in error messages instead of the
// URL, which may hold a password.
[[nodiscard]] StatusOr<std::unique_ptr<Database>> OpenDatabase(const std::string& label,
                                                               const std::string& url,
                                                               const DatabaseOptions& options);

}  // namespace flowrun
