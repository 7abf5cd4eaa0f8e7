// DbAction: the `db` step. Runs one SQL statement with named `:param` placeholders against a
// database named in the config (`databases:` — sqlite:PATH or postgres://…), in a transaction of
// its own, and returns `{rows, changes}`.
//
// Arguments: database (a configured name), sql, params (name -> value; always bound, never
// spliced). `:idempotency_key` may be used without listing it in params: it is bound to
// "<run id>/<step key>", so a flow can guard a write with a unique constraint and make a retried
// step a no-op.
//
// Exactly once: the step's result is recorded in the target, in the table flowrun_step_results,
// under the idempotency key and in the statement's own transaction; a retry after a crash returns
// the recorded result instead of running the statement again (database.h, docs/actions.md).
//
// The statement timeout is the smaller of DbActionOptions::statement_timeout and the time left
// before the attempt's deadline; it covers the wait for a connection. Databases are opened on
// first use and kept for the life of the action. Start returns at once: SQLite statements run on
// a small worker pool per target, PostgreSQL statements on the OutboundLoop with libpq's
// asynchronous API (database.h).
//
// Thread-safety: Start may run concurrently from many threads.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "actions/action.h"
#include "actions/db/database.h"
#include "actions/outbound_loop.h"
#include "common/clock.h"
#include "common/thread_annotations.h"
#include "config/secrets.h"

namespace flowrun {

struct DbActionOptions {
  std::map<std::string, std::string> databases;           // name -> URL, as in Config::databases
  Duration statement_timeout = std::chrono::seconds(30);  // Default: 30s
  size_t max_connections = 8;                             // per database; Default: 8
  // Recorded step results older than this are deleted from flowrun_step_results; zero keeps
  // them. The service passes `retention.runs`. Default: 30 days.
  Duration step_results_retention = std::chrono::hours(24 * 30);
  // Drives PostgreSQL connections; must outlive the action. Null: the action makes and runs a
  // loop of its own when it first opens a PostgreSQL target.
  OutboundLoop* loop = nullptr;
  const Clock* clock = nullptr;              // for the attempt deadline; Default: system clock
  const SecretRedactor* redactor = nullptr;  // applied to error messages; may be null
};

class DbAction final : public Action {
 public:
  explicit DbAction(DbActionOptions options);

  std::string_view name() const override { return "db"; }
  Status CheckArguments(const Json& raw_arguments) const override;
  ~DbAction() override;
  void Start(ActionRequest request, ActionCallback done) override;

  // Statements waiting for a connection or a worker, over every open database (for metrics).
  size_t QueuedStatements() const;

 private:
  StatusOr<Database*> Get(const std::string& name);
  Status CheckDatabaseName(const Json& database) const;

  const DbActionOptions options_;
  SystemClock system_clock_;
  mutable Mutex mu_;
  std::unique_ptr<OutboundLoop> own_loop_ FLOWRUN_GUARDED_BY(mu_);  // see options.loop
  std::map<std::string, std::unique_ptr<Database>> open_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun
