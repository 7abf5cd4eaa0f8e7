#include "actions/db/sqlite_connection.h"

#include <sqlite3.h>

#include "actions/db/sqlite_statement.h"

namespace flowrun {

StatusOr<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& label,
                                                                   const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status error = SqliteError(label, db, rc, "cannot open " + path);
    sqlite3_close_v2(db);
    return error;
  }
  sqlite3_extended_result_codes(db, 1);
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(label, db));
}

SqliteConnection::~SqliteConnection() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

StatusOr<sqlite3_stmt*> SqliteConnection::Prepare(std::string_view sql) {
  auto kept = statements_.find(sql);
  if (kept != statements_.end()) return kept->second;
  if (statements_.size() >= kMaxStatements) {
    for (auto& [text, stmt] : statements_) sqlite3_finalize(stmt);
    statements_.clear();
  }
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return SqliteError(label_, db_, rc, "cannot prepare the statement");
  }
  if (stmt == nullptr) return InvalidArgumentError("sql holds no statement");
  if (tail != nullptr && !IsOnlyTrivia(tail)) {
    sqlite3_finalize(stmt);
    return InvalidArgumentError("sql holds more than one statement; a db step runs exactly one");
  }
  statements_.emplace(std::string(sql), stmt);
  return stmt;
}

StatusOr<sqlite3_stmt*> SqliteConnection::StepStatement(std::string_view sql) {
  if (IsTransactionStatement(sql)) {
    return InvalidArgumentError(
        "sql is a transaction statement (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT or RELEASE); "
        "a db step already runs in a transaction of its own");
  }
  return Prepare(sql);
}

int SqliteConnection::Exec(const char* sql) {
  StatusOr<sqlite3_stmt*> stmt = Prepare(sql);
  if (!stmt.ok()) return sqlite3_errcode(db_) == SQLITE_OK ? SQLITE_ERROR : sqlite3_errcode(db_);
  int rc = sqlite3_step(*stmt);
  sqlite3_reset(*stmt);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

SqliteConnection::ResetOnExit::~ResetOnExit() {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
}

}  // namespace flowrun
