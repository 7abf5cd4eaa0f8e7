// Database: one target of `db` steps (a SQLite file or a PostgreSQL server), behind the narrow
// interface the db action needs: run one statement with named parameters, bound and never
// spliced into the SQL, inside a transaction of its own, under a statement timeout.
//
// Error codes carry the retry decision: busy or locked databases, lost connections and
// serialization failures or deadlocks are retryable (kUnavailable, kAborted); a statement that
// ran out of time is kDeadlineExceeded; constraint violations are kFailedPrecondition and bad SQL
// or parameters are kInvalidArgument (never retried).
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
  // bounds the wait for a connection too.
  virtual void Start(std::string sql, Json params, Duration timeout, QueryDone done) = 0;

  // Statements started and waiting for a connection or a worker (for metrics).
  virtual size_t queued() const = 0;
};

class OutboundLoop;

// Opens a target from the config: "sqlite:PATH" (created if missing) or "postgres://…" /
// "postgresql://…" (connections made on first use and pooled, driven by `loop`, which must be
// started and outlive the database). `label` names the target in error messages instead of the
// URL, which may hold a password. `max_connections` bounds the connections (PostgreSQL) or the
// worker threads and idle connections (SQLite).
[[nodiscard]] StatusOr<std::unique_ptr<Database>> OpenDatabase(const std::string& label,
                                                               const std::string& url,
                                                               size_t max_connections,
                                                               OutboundLoop* loop);

}  // namespace flowrun
