// PostgresDatabase: a `db` target on a PostgreSQL server through libpq. `:name` parameters are
// translated to `$n` (sql_parameters.h) and sent separately from the SQL with PQexecParams; each
// statement runs in BEGIN … COMMIT with `SET LOCAL statement_timeout`. Connections are pooled (at
// most max_connections; callers wait for a free one until their timeout) and a connection that
// broke is dropped rather than reused.
//
// SQLSTATE decides the code: 40001 serialization failure and 40P01 deadlock are kAborted,
// class 08 and server shutdowns kUnavailable, 57014 (the statement timeout) kDeadlineExceeded,
// class 23 constraint violations kFailedPrecondition, classes 22 and 42 kInvalidArgument.
//
// Thread-safety: Execute may be called from many threads.
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "actions/database.h"

typedef struct pg_conn PGconn;

namespace flowrun {

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(std::string label, std::string url, size_t max_connections);
  ~PostgresDatabase() override;
  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;

  StatusOr<QueryResult> Execute(std::string_view sql, const Json& params,
                                Duration timeout) override;

  // Connections open right now (idle and in use).
  size_t TEST_open_connections() const;

 private:
  StatusOr<PGconn*> Acquire(Duration timeout);
  void Release(PGconn* conn);

  const std::string label_;
  const std::string url_;
  const size_t max_connections_;
  mutable std::mutex mu_;
  std::condition_variable released_;
  std::vector<PGconn*> idle_;  // GUARDED_BY(mu_)
  size_t open_ = 0;            // GUARDED_BY(mu_)
};

}  // namespace flowrun
