// SqliteStepResults: the `flowrun_step_results` table of a SQLite `db` target, which makes a
// writing `db` step exactly-once (docs/actions.md, "Exactly once"). The commit group records a
// step's result under its idempotency key in the transaction that runs the statement, and looks
// the key up first: a step retried after a crash (the statement committed, the engine's journal
// did not) finds its row and returns the recorded result instead of running the statement again.
//
//   flowrun_step_results(key TEXT PRIMARY KEY, result TEXT NOT NULL, recorded_at INTEGER NOT NULL)
//
// `result` is the step's output as JSON ({rows, changes}); `recorded_at` is Unix milliseconds.
// The table is created on first use. Rows older than the configured retention are deleted in
// small batches (Prune), in the same transactions as the steps.
//
// The statements are prepared on the connection given and kept outside its statement cache (which
// may drop every statement when it fills up, including one in use).
//
// Thread-safety: none; used by the commit group's leader, inside its transaction.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "actions/db/database.h"
#include "common/sqlite/connection.h"
#include "common/status.h"

namespace flowrun {

class SqliteStepResults {
 public:
  // Rows deleted by one Prune at most.
  static constexpr int kPruneBatch = 256;

  // `label` names the target in errors. REQUIRES: `connection` outlives this object.
  SqliteStepResults(std::string label, sqlite::Connection& connection);
  SqliteStepResults(const SqliteStepResults&) = delete;
  SqliteStepResults& operator=(const SqliteStepResults&) = delete;

  // Creates the table when missing. Call inside the transaction that uses it.
  [[nodiscard]] Status EnsureTable();
  // The result recorded under `key`, or nullopt.
  [[nodiscard]] StatusOr<std::optional<QueryResult>> Find(std::string_view key);
  // Records `result` under `key` at `recorded_at_ms`. A key recorded already is kAborted
  // (another attempt of the step committed first; a retry finds its row).
  [[nodiscard]] Status Record(std::string_view key, const QueryResult& result,
                              long long recorded_at_ms);
  // Deletes up to kPruneBatch rows recorded before `before_ms`; returns how many.
  [[nodiscard]] StatusOr<int> Prune(long long before_ms);

 private:
  StatusOr<sqlite::Statement*> Prepared(std::unique_ptr<sqlite::Statement>& slot, const char* sql);

  const std::string label_;
  sqlite::Connection& connection_;
  std::unique_ptr<sqlite::Statement> find_;
  std::unique_ptr<sqlite::Statement> record_;
  std::unique_ptr<sqlite::Statement> prune_;
};

}  // namespace flowrun
