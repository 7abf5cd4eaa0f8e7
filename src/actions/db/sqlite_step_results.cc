#include "actions/db/sqlite_step_results.h"

#include <sqlite3.h>

#include "actions/db/sqlite_target_error.h"

namespace flowrun {

SqliteStepResults::SqliteStepResults(std::string label, sqlite::Connection& connection)
    : label_(std::move(label)), connection_(connection) {}

StatusOr<sqlite::Statement*> SqliteStepResults::Prepared(std::unique_ptr<sqlite::Statement>& slot,
                                                         const char* sql) {
  if (slot != nullptr) return slot.get();
  ASSIGN_OR_RETURN(
      slot, connection_.PrepareUncached(sql, nullptr, "cannot prepare the step results statement"));
  return slot.get();
}

Status SqliteStepResults::EnsureTable() {
  sqlite3* db = connection_.handle();
  int rc = sqlite3_exec(db,
                        "CREATE TABLE IF NOT EXISTS flowrun_step_results (key TEXT PRIMARY KEY, "
                        "result TEXT NOT NULL, recorded_at INTEGER NOT NULL);"
                        "CREATE INDEX IF NOT EXISTS flowrun_step_results_recorded_at ON "
                        "flowrun_step_results (recorded_at)",
                        nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteTargetError(label_, db, rc, "cannot create the table flowrun_step_results");
  }
  return OkStatus();
}

StatusOr<std::optional<QueryResult>> SqliteStepResults::Find(std::string_view key) {
  ASSIGN_OR_RETURN(sqlite::Statement * find,
                   Prepared(find_, "SELECT result FROM flowrun_step_results WHERE key = ?1"));
  sqlite::ResetOnExit reset(*find);
  find->Bind(1, key);
  int rc = sqlite3_step(find->handle());
  if (rc == SQLITE_DONE) return std::optional<QueryResult>();
  if (rc != SQLITE_ROW) {
    return SqliteTargetError(label_, connection_.handle(), rc, "cannot read the step's result");
  }
  ASSIGN_OR_RETURN(QueryResult recorded, DecodeStepResult(find->Text(0)));
  return std::optional<QueryResult>(std::move(recorded));
}

Status SqliteStepResults::Record(std::string_view key, const QueryResult& result,
                                 long long recorded_at_ms) {
  ASSIGN_OR_RETURN(sqlite::Statement * record,
                   Prepared(record_,
                            "INSERT INTO flowrun_step_results (key, result, recorded_at) "
                            "VALUES (?1, ?2, ?3)"));
  sqlite::ResetOnExit reset(*record);
  record->Bind(1, key).Bind(2, EncodeStepResult(result)).Bind(3, int64_t{recorded_at_ms});
  int rc = sqlite3_step(record->handle());
  if (rc == SQLITE_DONE) return OkStatus();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return AbortedError("database " + label_ +
                        ": another attempt of this step recorded its result first");
  }
  return SqliteTargetError(label_, connection_.handle(), rc, "cannot record the step's result");
}

StatusOr<int> SqliteStepResults::Prune(long long before_ms) {
  ASSIGN_OR_RETURN(sqlite::Statement * prune,
                   Prepared(prune_,
                            "DELETE FROM flowrun_step_results WHERE rowid IN (SELECT rowid FROM "
                            "flowrun_step_results WHERE recorded_at < ?1 LIMIT ?2)"));
  sqlite::ResetOnExit reset(*prune);
  prune->Bind(1, int64_t{before_ms}).Bind(2, int64_t{kPruneBatch});
  int rc = sqlite3_step(prune->handle());
  if (rc != SQLITE_DONE) {
    return SqliteTargetError(label_, connection_.handle(), rc, "cannot prune flowrun_step_results");
  }
  return sqlite3_changes(connection_.handle());
}

}  // namespace flowrun
