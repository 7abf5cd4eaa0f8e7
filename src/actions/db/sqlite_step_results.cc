#include "actions/db/sqlite_step_results.h"

#include <sqlite3.h>

#include "actions/db/sqlite_statement.h"

namespace flowrun {
namespace {

struct ResetOnExit {
  sqlite3_stmt* stmt;
  ~ResetOnExit() {
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
  }
};

}  // namespace

SqliteStepResults::SqliteStepResults(std::string label, sqlite3* db)
    : label_(std::move(label)), db_(db) {}

SqliteStepResults::~SqliteStepResults() {
  sqlite3_finalize(find_);
  sqlite3_finalize(record_);
  sqlite3_finalize(prune_);
}

StatusOr<sqlite3_stmt*> SqliteStepResults::Prepared(sqlite3_stmt*& slot, const char* sql) {
  if (slot != nullptr) return slot;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &slot, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(slot);
    slot = nullptr;
    return SqliteError(label_, db_, rc, "cannot prepare the step results statement");
  }
  return slot;
}

Status SqliteStepResults::EnsureTable() {
  int rc = sqlite3_exec(db_,
                        "CREATE TABLE IF NOT EXISTS flowrun_step_results (key TEXT PRIMARY KEY, "
                        "result TEXT NOT NULL, recorded_at INTEGER NOT NULL);"
                        "CREATE INDEX IF NOT EXISTS flowrun_step_results_recorded_at ON "
                        "flowrun_step_results (recorded_at)",
                        nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return SqliteError(label_, db_, rc, "cannot create the table flowrun_step_results");
  }
  return OkStatus();
}

StatusOr<std::optional<QueryResult>> SqliteStepResults::Find(std::string_view key) {
  ASSIGN_OR_RETURN(sqlite3_stmt * find,
                   Prepared(find_, "SELECT result FROM flowrun_step_results WHERE key = ?1"));
  ResetOnExit reset{find};
  sqlite3_bind_text(find, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  int rc = sqlite3_step(find);
  if (rc == SQLITE_DONE) return std::optional<QueryResult>();
  if (rc != SQLITE_ROW) return SqliteError(label_, db_, rc, "cannot read the step's result");
  std::string_view text(reinterpret_cast<const char*>(sqlite3_column_text(find, 0)),
                        static_cast<size_t>(sqlite3_column_bytes(find, 0)));
  ASSIGN_OR_RETURN(QueryResult recorded, DecodeStepResult(text));
  return std::optional<QueryResult>(std::move(recorded));
}

Status SqliteStepResults::Record(std::string_view key, const QueryResult& result,
                                 long long recorded_at_ms) {
  ASSIGN_OR_RETURN(sqlite3_stmt * record,
                   Prepared(record_,
                            "INSERT INTO flowrun_step_results (key, result, recorded_at) "
                            "VALUES (?1, ?2, ?3)"));
  ResetOnExit reset{record};
  const std::string text = EncodeStepResult(result);
  sqlite3_bind_text(record, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
  sqlite3_bind_text(record, 2, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
  sqlite3_bind_int64(record, 3, recorded_at_ms);
  int rc = sqlite3_step(record);
  if (rc == SQLITE_DONE) return OkStatus();
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    return AbortedError("database " + label_ +
                        ": another attempt of this step recorded its result first");
  }
  return SqliteError(label_, db_, rc, "cannot record the step's result");
}

StatusOr<int> SqliteStepResults::Prune(long long before_ms) {
  ASSIGN_OR_RETURN(sqlite3_stmt * prune,
                   Prepared(prune_,
                            "DELETE FROM flowrun_step_results WHERE rowid IN (SELECT rowid FROM "
                            "flowrun_step_results WHERE recorded_at < ?1 LIMIT ?2)"));
  ResetOnExit reset{prune};
  sqlite3_bind_int64(prune, 1, before_ms);
  sqlite3_bind_int(prune, 2, kPruneBatch);
  int rc = sqlite3_step(prune);
  if (rc != SQLITE_DONE) return SqliteError(label_, db_, rc, "cannot prune flowrun_step_results");
  return sqlite3_changes(db_);
}

}  // namespace flowrun
