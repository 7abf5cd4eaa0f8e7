// SqliteConnection: one connection of a `db` target to its SQLite file: a sqlite::Connection
// (common/sqlite/connection.h, the SQLite wrapper the store uses too) with the rules for a step's
// SQL and the target's error codes (actions/db/sqlite_target_error.h). A step's SQL is parsed once
// per connection rather than on every step, and the fixed statements flowrun runs around it
// (BEGIN, SAVEPOINT, RELEASE, COMMIT, ...) are too. SQLite re-prepares a kept statement by itself
// when the schema changes.
//
// At most kMaxStatements distinct statements are kept; preparing one more drops them all (flows
// have few distinct statements, and a flow that builds its SQL from data must not grow memory).
//
// Thread-safety: none; a connection is used by one thread at a time (the target's pool hands it
// to one step at a time).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/sqlite/connection.h"
#include "common/status.h"

struct sqlite3;
struct sqlite3_stmt;

namespace flowrun {

class SqliteConnection {
 public:
  static constexpr size_t kMaxStatements = 32;

  // Opens (creating if missing) the file at `path` read-write, with extended result codes.
  // `label` names the target in errors.
  static StatusOr<std::unique_ptr<SqliteConnection>> Open(const std::string& label,
                                                          const std::string& path);
  SqliteConnection(const SqliteConnection&) = delete;
  SqliteConnection& operator=(const SqliteConnection&) = delete;

  sqlite3* handle() const { return connection_->handle(); }
  sqlite::Connection& connection() { return *connection_; }

  // The statement of a step's `sql`, prepared on first use: errors if `sql` holds no statement or
  // more than one, or a transaction statement (BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT, RELEASE:
  // a step's transaction is flowrun's), or does not prepare. The statement stays owned by the
  // connection; the caller resets it and clears its bindings when done (ResetOnExit).
  StatusOr<sqlite3_stmt*> StepStatement(std::string_view sql);

  // Runs one of flowrun's own statements without parameters or rows (such as "BEGIN IMMEDIATE");
  // SQLite's result code, SQLITE_OK when it ran.
  int Exec(const char* sql);

  // Resets a statement from StepStatement and clears its bindings when it goes out of scope.
  struct ResetOnExit {
    sqlite3_stmt* stmt;
    ~ResetOnExit();
  };

 private:
  explicit SqliteConnection(std::unique_ptr<sqlite::Connection> connection)
      : connection_(std::move(connection)) {}
  StatusOr<sqlite::Statement*> Prepare(std::string_view sql);

  const std::unique_ptr<sqlite::Connection> connection_;
};

}  // namespace flowrun
