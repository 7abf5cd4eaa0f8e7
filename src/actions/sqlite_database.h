// SqliteDatabase: a `db` target that is a SQLite file. Statements bind `:name` parameters
// natively; each runs in its own transaction (BEGIN IMMEDIATE when it writes, so a busy
// database is detected up front). Writing statements of this process take turns through the
// file's SqliteWriterGate, so that transactions commit back to back instead of polling SQLite's
// lock; readers do not wait for it. The statement timeout covers the wait
// for the gate (running out there is kUnavailable, "busy", as SQLITE_BUSY is), SQLite's busy
// timeout for writers in other processes, and the statement itself (a progress handler).
// Connections are kept in a small pool. The file keeps its own journal mode and SQLite's default
// synchronous=FULL: a statement returns only once its commit is durable.
//
// Thread-safety: Execute may be called from many threads; each call uses its own connection.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actions/database.h"
#include "actions/sqlite_writer_gate.h"

struct sqlite3;

namespace flowrun {

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(std::string label, std::string path, size_t max_idle);
  ~SqliteDatabase() override;
  SqliteDatabase(const SqliteDatabase&) = delete;
  SqliteDatabase& operator=(const SqliteDatabase&) = delete;

  StatusOr<QueryResult> Execute(std::string_view sql, const Json& params,
                                Duration timeout) override;

 private:
  StatusOr<sqlite3*> Acquire();
  void Release(sqlite3* db);

  const std::string label_;
  const std::string path_;
  const size_t max_idle_;
  const std::shared_ptr<SqliteWriterGate> writer_gate_;
  std::mutex mu_;
  std::vector<sqlite3*> idle_;  // GUARDED_BY(mu_)
};

}  // namespace flowrun
