// SqliteDatabase: a `db` target that is a SQLite file. Statements bind `:name` parameters
// natively; each runs in its own transaction (BEGIN IMMEDIATE when it writes, so a busy
// database is detected up front); the statement timeout is enforced with a progress handler and
// the busy timeout. Connections are kept in a small pool.
//
// Thread-safety: Execute may be called from many threads; each call uses its own connection.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "actions/database.h"

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
  std::mutex mu_;
  std::vector<sqlite3*> idle_;  // GUARDED_BY(mu_)
};

}  // namespace flowrun
