#include "actions/db/sqlite_connection.h"

#include <sqlite3.h>

#include "actions/db/sqlite_step_sql.h"
#include "actions/db/sqlite_target_error.h"

namespace flowrun {

StatusOr<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::string& label,
                                                                   const std::string& path) {
  sqlite::Connection::Options options;
  options.create = true;
  options.max_cached_statements = kMaxStatements;
  options.open_what = "cannot open " + path;
  ASSIGN_OR_RETURN(
      std::unique_ptr<sqlite::Connection> connection,
      sqlite::Connection::Open(path, options, [label](sqlite3* db, int rc, std::string_view what) {
        return SqliteTargetError(label, db, rc, std::string(what));
      }));
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(std::move(connection)));
}

StatusOr<sqlite::Statement*> SqliteConnection::Prepare(std::string_view sql) {
  if (sqlite::Statement* kept = connection_->Cached(sql)) return kept;
  std::string_view tail;
  ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Statement> prepared,
                   connection_->PrepareUncached(sql, &tail, "cannot prepare the statement"));
  if (prepared == nullptr) return InvalidArgumentError("sql holds no statement");
  if (!IsOnlyTrivia(tail)) {
    return InvalidArgumentError("sql holds more than one statement; a db step runs exactly one");
  }
  return connection_->Keep(sql, std::move(prepared));
}

StatusOr<sqlite3_stmt*> SqliteConnection::StepStatement(std::string_view sql) {
  if (IsTransactionStatement(sql)) {
    return InvalidArgumentError(
        "sql is a transaction statement (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT or RELEASE); "
        "a db step already runs in a transaction of its own");
  }
  ASSIGN_OR_RETURN(sqlite::Statement * statement, Prepare(sql));
  return statement->handle();
}

int SqliteConnection::Exec(const char* sql) {
  sqlite3* db = handle();
  StatusOr<sqlite::Statement*> statement = Prepare(sql);
  if (!statement.ok()) return sqlite3_errcode(db) == SQLITE_OK ? SQLITE_ERROR : sqlite3_errcode(db);
  sqlite3_stmt* stmt = (*statement)->handle();
  int rc = sqlite3_step(stmt);
  sqlite3_reset(stmt);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

SqliteConnection::ResetOnExit::~ResetOnExit() {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
}

}  // namespace flowrun
