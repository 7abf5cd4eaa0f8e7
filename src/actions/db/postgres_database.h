// PostgresDatabase: a `db` target on a PostgreSQL server through libpq's asynchronous API, driven
// by the OutboundLoop: connections are made with PQconnectStartParams / PQconnectPoll and
// statements sent with PQsendQuery / PQsendQueryParams, then read with PQconsumeInput / PQisBusy
// / PQgetResult whenever the loop sees the socket ready, so no thread waits on the server.
// `:name` parameters are translated to `$n` (sql_parameters.h) and sent separately from the SQL;
// each statement runs as
//
//   BEGIN; SET LOCAL statement_timeout = <ms>   (one round trip)
//   the statement                               (one round trip)
//   COMMIT, or ROLLBACK when it failed           (one round trip)
//
// A statement started with a result key is exactly-once (database.h): the BEGIN round trip first
// creates flowrun_step_results when this process has not seen it yet (in a short transaction of
// its own under an advisory lock, so that concurrent first steps do not race on the catalog), and
// looks the key up; a recorded result
// is returned without running the statement. Otherwise the COMMIT round trip first inserts the
// result under the key (and, every few minutes, deletes a batch of results older than the
// retention). Two attempts of one step racing each other: the second's insert meets the first's
// key, its transaction rolls back, and it fails with kAborted, so its retry reads the result.
//
//   flowrun_step_results(key text PRIMARY KEY, result text NOT NULL,
//                        recorded_at timestamptz NOT NULL DEFAULT now())
//
// The statement timeout is the attempt's time left; the loop also gives up on the connection
// itself one second later (a server or network that stopped answering), closing it. Connections
// are pooled: at most max_connections per database, the others waiting in memory in arrival
// order (the engine bounds how many attempts are in flight); a statement that gets a connection
// only after its time ran out fails with kUnavailable ("busy"). A connection that broke is
// dropped rather than reused; a pooled connection found dead on BEGIN is replaced, once.
//
// Host names in the URL are resolved by libpq when a connection starts, on the loop thread; use
// an address (or a local resolver) where resolution may be slow.
//
// SQLSTATE decides the code, as for every PostgreSQL client in flowrun (postgres_error.h): for
// example 57014 (the statement timeout) is kDeadlineExceeded and class 23 kFailedPrecondition.
//
// Thread-safety: Start and Execute may be called from many threads.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "actions/db/database.h"
#include "actions/outbound_loop.h"
#include "common/thread_annotations.h"

typedef struct pg_conn PGconn;

namespace flowrun {

class PostgresDatabase final : public Database {
 public:
  // REQUIRES: `loop` is started and outlives the database.
  // `step_results_retention`: see DatabaseOptions (zero keeps recorded results).
  PostgresDatabase(std::string label, std::string url, size_t max_connections, OutboundLoop* loop,
                   Duration step_results_retention = Duration::zero());
  ~PostgresDatabase() override;
  PostgresDatabase(const PostgresDatabase&) = delete;
  PostgresDatabase& operator=(const PostgresDatabase&) = delete;

  StatusOr<QueryResult> Execute(std::string_view sql, const Json& params,
                                Duration timeout) override;
  void Start(std::string sql, Json params, Duration timeout, std::string result_key,
             QueryDone done) override;
  size_t queued() const override;

  // Connections open right now (idle and in use).
  size_t TEST_open_connections() const;

 private:
  struct Statement;
  using Continuation = void (PostgresDatabase::*)(std::unique_ptr<Statement>, int revents);
  // On the loop thread from here on; each step owns the statement and passes it on.
  void Begin(std::unique_ptr<Statement> statement);
  void Connect(std::unique_ptr<Statement> statement);
  void PollConnect(std::unique_ptr<Statement> statement, int revents);
  void SendBegin(std::unique_ptr<Statement> statement);
  void Send(std::unique_ptr<Statement> statement);
  void Flush(std::unique_ptr<Statement> statement, int revents);
  void Read(std::unique_ptr<Statement> statement, int revents);
  // Judges the results of the phase just read and sends the next one, or finishes.
  void Advance(std::unique_ptr<Statement> statement);
  void WaitSocket(std::unique_ptr<Statement> statement, short events, Continuation then);
  void Finish(std::unique_ptr<Statement> statement, StatusOr<QueryResult> result);
  // The SQL of the BEGIN and COMMIT round trips, with the step-results statements they carry.
  // Empty when a key cannot be quoted on the connection.
  std::string BeginSql(Statement& statement);
  std::string CommitSql(Statement& statement);
  // Gives the connection (or, when `conn` is null, the right to open one) to the next waiting
  // statement, or puts it back in the pool.
  void HandOver(PGconn* conn);

  const std::string label_;
  const std::string url_;
  const size_t max_connections_;
  OutboundLoop* const loop_;
  const Duration step_results_retention_;
  std::atomic<bool> step_results_ready_{false};  // the table exists (this process saw it)
  mutable Mutex mu_;
  SteadyTime next_prune_ FLOWRUN_GUARDED_BY(mu_){};
  std::vector<PGconn*> idle_ FLOWRUN_GUARDED_BY(mu_);
  size_t open_ FLOWRUN_GUARDED_BY(mu_) = 0;  // idle, in use, connecting
  std::deque<std::unique_ptr<Statement>> waiting_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun
