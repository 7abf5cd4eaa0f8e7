#include "actions/db/postgres_database.h"

#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <set>

#include "actions/db/postgres_error.h"
#include "actions/db/sql_parameters.h"
#include "common/await_callback.h"
#include "common/thread_annotations.h"

namespace flowrun {
namespace {

using SteadyClock = std::chrono::steady_clock;

// How long past the statement timeout the loop waits for the server before it drops the
// connection: the server ends the statement itself at the timeout; this covers a server or a
// network that stopped answering.
constexpr auto kServerGrace = std::chrono::seconds(1);

// How often a database deletes a batch of expired step results, and how many rows a batch has.
constexpr auto kStepResultsPruneInterval = std::chrono::minutes(5);
constexpr int kStepResultsPruneBatch = 256;

// Taken while creating flowrun_step_results, so that the first steps of several connections or
// processes do not race on the catalog ("flowrun_step_results" as a 64-bit number).
// A transaction of its own, so the lock is held only while the table is created.
constexpr const char* kCreateStepResults =
    "BEGIN; SELECT pg_advisory_xact_lock(7379434413578007410); "
    "CREATE TABLE IF NOT EXISTS flowrun_step_results (key text PRIMARY KEY, result text NOT NULL, "
    "recorded_at timestamptz NOT NULL DEFAULT now()); "
    "CREATE INDEX IF NOT EXISTS flowrun_step_results_recorded_at ON flowrun_step_results "
    "(recorded_at); COMMIT; ";

// `text` as a quoted literal for `conn`; empty when it cannot be quoted (bad encoding).
std::string QuoteLiteral(PGconn* conn, const std::string& text) {
  char* quoted = PQescapeLiteral(conn, text.data(), text.size());
  if (quoted == nullptr) return "";
  std::string out(quoted);
  PQfreemem(quoted);
  return out;
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Converts one text-format value by its column type.
Json ColumnValue(const PGresult* r, int row, int column) {
  if (PQgetisnull(r, row, column)) return nullptr;
  std::string text(PQgetvalue(r, row, column), PQgetlength(r, row, column));
  switch (PQftype(r, column)) {
    case 16:  // bool
      return text == "t";
    case 20:  // int8
    case 21:  // int2
    case 23:  // int4
    case 26:  // oid
      return std::stoll(text);
    case 700:     // float4
    case 701:     // float8
    case 1700: {  // numeric
      Json number = Json::parse(text, nullptr, false);
      return number.is_number() ? number : Json(text);
    }
    case 114:     // json
    case 3802: {  // jsonb
      Json parsed = Json::parse(text, nullptr, false);
      return parsed.is_discarded() ? Json(text) : parsed;
    }
    default:
      return text;
  }
}

std::string ParamText(const Json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  return value.dump();
}

enum class Phase { kConnect, kBegin, kStatement, kCommit, kRollback };

}  // namespace

struct PostgresDatabase::Statement {
  std::string sql;             // positional ($n)
  std::string result_key;      // empty: not recorded
  bool creates_table = false;  // this BEGIN creates flowrun_step_results
  bool replayed = false;       // the result was recorded already; the statement did not run
  std::vector<std::string> texts;
  std::vector<bool> nulls;
  Duration timeout{};
  SteadyTime give_up;  // the statement timeout's end
  QueryDone done;
  PGconn* conn = nullptr;
  bool reused = false;         // the connection came from the pool
  bool replaced_dead = false;  // a dead pooled connection was replaced already
  Phase phase = Phase::kConnect;
  Result error;     // the first failed result of the current phase
  Result rows;      // the statement's result
  Result recorded;  // kBegin: the lookup of result_key
  Status failure;   // the statement's error, reported after ROLLBACK
  QueryResult output;
};

PostgresDatabase::PostgresDatabase(std::string label, std::string url, size_t max_connections,
                                   OutboundLoop* loop, Duration step_results_retention)
    : label_(std::move(label)),
      url_(std::move(url)),
      max_connections_(std::max<size_t>(1, max_connections)),
      loop_(loop),
      step_results_retention_(step_results_retention) {}

PostgresDatabase::~PostgresDatabase() {
  for (PGconn* conn : idle_) PQfinish(conn);
}

size_t PostgresDatabase::TEST_open_connections() const {
  MutexLock lock(mu_);
  return open_;
}

size_t PostgresDatabase::queued() const {
  MutexLock lock(mu_);
  return waiting_.size();
}

StatusOr<QueryResult> PostgresDatabase::Execute(std::string_view sql, const Json& params,
                                                Duration timeout) {
  return AwaitCallback<StatusOr<QueryResult>>(
      [&](auto done) { Start(std::string(sql), params, timeout, /*result_key=*/"", done); });
}

void PostgresDatabase::Start(std::string sql, Json params, Duration timeout, std::string result_key,
                             QueryDone done) {
  if (!params.is_object()) return done(InvalidArgumentError("params must be a map"));
  StatusOr<PositionalSql> positional = TranslateNamedParameters(sql);
  if (!positional.ok()) return done(positional.status());
  std::set<std::string> used;
  for (const std::string& name : positional->names) {
    if (!params.contains(name)) {
      return done(
          InvalidArgumentError("sql uses :" + name + " but params has no \"" + name + "\""));
    }
    used.insert(name);
  }
  for (const auto& [key, value] : params.items()) {
    if (!used.count(key)) {
      return done(InvalidArgumentError("params has \"" + key + "\", which the sql does not use"));
    }
  }
  auto statement = std::make_unique<Statement>();
  statement->sql = std::move(positional->sql);
  statement->texts.reserve(positional->names.size());
  for (const std::string& name : positional->names) {
    statement->texts.push_back(ParamText(params[name]));
    statement->nulls.push_back(params[name].is_null());
  }
  statement->result_key = std::move(result_key);
  statement->timeout = timeout;
  statement->give_up = SteadyClock::now() + timeout;
  statement->done = std::move(done);
  {
    MutexLock lock(mu_);
    if (idle_.empty() && open_ >= max_connections_) {
      waiting_.push_back(std::move(statement));
      return;
    }
    if (!idle_.empty()) {
      statement->conn = idle_.back();
      statement->reused = true;
      idle_.pop_back();
    } else {
      ++open_;
    }
  }
  Statement* raw = statement.release();
  loop_->Post([this, raw] { Begin(std::unique_ptr<Statement>(raw)); });
}

void PostgresDatabase::Begin(std::unique_ptr<Statement> s) {
  if (SteadyClock::now() >= s->give_up) {
    return Finish(std::move(s), UnavailableError("database " + label_ + ": busy: all " +
                                                 std::to_string(max_connections_) +
                                                 " connections were taken until the deadline"));
  }
  if (s->conn == nullptr) return Connect(std::move(s));
  SendBegin(std::move(s));
}

void PostgresDatabase::Connect(std::unique_ptr<Statement> s) {
  s->phase = Phase::kConnect;
  const char* keys[] = {"dbname", "application_name", nullptr};
  const char* values[] = {url_.c_str(), "flowrun", nullptr};
  s->conn = PQconnectStartParams(keys, values, /*expand_dbname=*/1);
  if (s->conn == nullptr || PQstatus(s->conn) == CONNECTION_BAD) {
    std::string message = s->conn ? TrimPostgresMessage(PQerrorMessage(s->conn)) : "out of memory";
    return Finish(std::move(s),
                  UnavailableError("database " + label_ + ": cannot connect: " + message));
  }
  // As if PQconnectPoll had asked to write: the socket is connecting.
  WaitSocket(std::move(s), CURL_WAIT_POLLOUT, &PostgresDatabase::PollConnect);
}

void PostgresDatabase::PollConnect(std::unique_ptr<Statement> s, int) {
  switch (PQconnectPoll(s->conn)) {
    case PGRES_POLLING_READING:
      return WaitSocket(std::move(s), CURL_WAIT_POLLIN, &PostgresDatabase::PollConnect);
    case PGRES_POLLING_WRITING:
      return WaitSocket(std::move(s), CURL_WAIT_POLLOUT, &PostgresDatabase::PollConnect);
    case PGRES_POLLING_OK:
      if (PQsetnonblocking(s->conn, 1) != 0) break;
      return SendBegin(std::move(s));
    default:
      break;
  }
  std::string message = TrimPostgresMessage(PQerrorMessage(s->conn));
  Finish(std::move(s), UnavailableError("database " + label_ + ": cannot connect: " + message));
}

void PostgresDatabase::WaitSocket(std::unique_ptr<Statement> s, short events, Continuation then) {
  int fd = PQsocket(s->conn);
  if (fd < 0) {
    std::string message = TrimPostgresMessage(PQerrorMessage(s->conn));
    return Finish(std::move(s),
                  UnavailableError("database " + label_ + ": the connection is gone: " + message));
  }
  SteadyTime until = s->give_up + kServerGrace;
  Statement* raw = s.release();
  loop_->WaitFd(fd, events, until, [this, raw, then](int revents) {
    std::unique_ptr<Statement> owned(raw);
    if (revents == OutboundLoop::kWaitStopped) {
      return Finish(std::move(owned),
                    UnavailableError("database " + label_ + ": the service is shutting down"));
    }
    if (revents == OutboundLoop::kWaitTimedOut) {
      // The server stopped answering: the connection's state is unknown, so it goes.
      bool connecting = owned->phase == Phase::kConnect;
      PQfinish(owned->conn);
      owned->conn = nullptr;
      return Finish(std::move(owned),
                    connecting ? UnavailableError("database " + label_ +
                                                  ": cannot connect: no answer in time")
                               : DeadlineExceededError("database " + label_ +
                                                       ": the server did not answer in time"));
    }
    (this->*then)(std::move(owned), revents);
  });
}

void PostgresDatabase::SendBegin(std::unique_ptr<Statement> s) {
  s->phase = Phase::kBegin;
  Send(std::move(s));
}

void PostgresDatabase::Send(std::unique_ptr<Statement> s) {
  s->error.reset();
  int sent = 0;
  switch (s->phase) {
    case Phase::kBegin: {
      std::string begin = BeginSql(*s);
      if (begin.empty()) {
        return Finish(std::move(s), InvalidArgumentError("database " + label_ +
                                                         ": the idempotency key cannot be quoted"));
      }
      sent = PQsendQuery(s->conn, begin.c_str());
      break;
    }
    case Phase::kStatement: {
      const char* stack_values[8];
      std::vector<const char*> heap_values;
      const char** values = stack_values;
      if (s->texts.size() > 8) {
        heap_values.resize(s->texts.size());
        values = heap_values.data();
      }
      for (size_t i = 0; i < s->texts.size(); ++i) {
        values[i] = s->nulls[i] ? nullptr : s->texts[i].c_str();
      }
      sent = PQsendQueryParams(s->conn, s->sql.c_str(), static_cast<int>(s->texts.size()), nullptr,
                               values, nullptr, nullptr, 0);
      break;
    }
    case Phase::kCommit: {
      std::string commit = CommitSql(*s);
      if (commit.empty()) {
        s->failure =
            InvalidArgumentError("database " + label_ + ": the step's result cannot be quoted");
        s->phase = Phase::kRollback;
        return Send(std::move(s));
      }
      sent = PQsendQuery(s->conn, commit.c_str());
      break;
    }
    case Phase::kRollback:
      sent = PQsendQuery(s->conn, "ROLLBACK");
      break;
    case Phase::kConnect:
      break;
  }
  if (!sent) return Advance(std::move(s));  // judged by the connection's state and message
  Flush(std::move(s), 0);
}

void PostgresDatabase::Flush(std::unique_ptr<Statement> s, int revents) {
  if ((revents & CURL_WAIT_POLLIN) && PQconsumeInput(s->conn) == 0) {
    return Advance(std::move(s));
  }
  switch (PQflush(s->conn)) {
    case 0:
      return WaitSocket(std::move(s), CURL_WAIT_POLLIN, &PostgresDatabase::Read);
    case 1:
      return WaitSocket(std::move(s), CURL_WAIT_POLLIN | CURL_WAIT_POLLOUT,
                        &PostgresDatabase::Flush);
    default:
      return Advance(std::move(s));
  }
}

void PostgresDatabase::Read(std::unique_ptr<Statement> s, int) {
  if (PQconsumeInput(s->conn) == 0) return Advance(std::move(s));
  while (!PQisBusy(s->conn)) {
    PGresult* r = PQgetResult(s->conn);
    if (r == nullptr) return Advance(std::move(s));
    ExecStatusType status = PQresultStatus(r);
    bool failed =
        status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && status != PGRES_EMPTY_QUERY;
    if (failed && !s->error) {
      s->error.reset(r);
    } else if (!failed && s->phase == Phase::kStatement && !s->rows) {
      s->rows.reset(r);
    } else if (!failed && s->phase == Phase::kBegin && status == PGRES_TUPLES_OK) {
      s->recorded.reset(r);  // the last rows of BEGIN's round trip are the lookup
    } else {
      PQclear(r);
    }
  }
  WaitSocket(std::move(s), CURL_WAIT_POLLIN, &PostgresDatabase::Read);
}

void PostgresDatabase::Advance(std::unique_ptr<Statement> s) {
  PGconn* conn = s->conn;
  const bool alive = PQstatus(conn) == CONNECTION_OK;
  switch (s->phase) {
    case Phase::kConnect:
      break;
    case Phase::kBegin:
      if (s->error || !alive) {
        // A pooled connection may have been closed by the server while idle (restart, idle
        // timeout). BEGIN changes nothing, so one fresh connection is tried.
        if (s->reused && !alive && !s->replaced_dead) {
          PQfinish(conn);
          s->conn = nullptr;
          s->reused = false;
          s->replaced_dead = true;
          return Connect(std::move(s));
        }
        Status error =
            PostgresError("database " + label_, conn, s->error.get(), "cannot begin a transaction");
        return Finish(std::move(s), std::move(error));
      }
      if (s->creates_table) step_results_ready_.store(true);
      if (s->recorded && PQntuples(s->recorded.get()) == 1) {
        StatusOr<QueryResult> recorded = DecodeStepResult(
            std::string_view(PQgetvalue(s->recorded.get(), 0, 0),
                             static_cast<size_t>(PQgetlength(s->recorded.get(), 0, 0))));
        s->recorded.reset();
        if (!recorded.ok()) {
          s->failure = recorded.status();
          s->phase = Phase::kRollback;
          return Send(std::move(s));
        }
        s->output = std::move(*recorded);
        s->replayed = true;
        LogStepResultReplayed(label_, s->result_key);
        s->phase = Phase::kCommit;
        return Send(std::move(s));
      }
      s->recorded.reset();
      s->phase = Phase::kStatement;
      return Send(std::move(s));
    case Phase::kStatement: {
      if (s->error || !s->rows || !alive) {
        s->failure =
            PostgresError("database " + label_, conn, s->error.get(), "the statement failed");
        if (!alive) {
          Status failure = s->failure;
          return Finish(std::move(s), std::move(failure));
        }
        s->phase = Phase::kRollback;
        return Send(std::move(s));
      }
      const PGresult* result = s->rows.get();
      if (PQresultStatus(result) == PGRES_TUPLES_OK) {
        int rows = PQntuples(result);
        int columns = PQnfields(result);
        for (int r = 0; r < rows; ++r) {
          Json row = Json::object();
          for (int c = 0; c < columns; ++c) row[PQfname(result, c)] = ColumnValue(result, r, c);
          s->output.rows.push_back(std::move(row));
        }
      }
      std::string_view command = PQcmdStatus(const_cast<PGresult*>(result));
      const char* affected = PQcmdTuples(const_cast<PGresult*>(result));
      if (affected[0] != '\0' && command.rfind("SELECT", 0) != 0) {
        s->output.changes = std::stoll(affected);
      }
      s->rows.reset();
      s->phase = Phase::kCommit;
      return Send(std::move(s));
    }
    case Phase::kCommit:
      if (s->error || !alive) {
        const char* state =
            s->error ? PQresultErrorField(s->error.get(), PG_DIAG_SQLSTATE) : nullptr;
        if (alive && !s->result_key.empty() && state != nullptr && std::string(state) == "23505") {
          // Only the result's insert can meet a unique key here: another attempt of this step
          // committed first. Everything was rolled back; the retry returns that attempt's result.
          return Finish(std::move(s),
                        AbortedError("database " + label_ +
                                     ": another attempt of this step recorded its result first"));
        }
        Status error = PostgresError("database " + label_, conn, s->error.get(), "cannot commit");
        return Finish(std::move(s), std::move(error));
      }
      {
        QueryResult output = std::move(s->output);
        return Finish(std::move(s), std::move(output));
      }
    case Phase::kRollback: {
      Status failure = std::move(s->failure);
      return Finish(std::move(s), std::move(failure));
    }
  }
  Finish(std::move(s), InternalError("database " + label_ + ": lost track of a statement"));
}

std::string PostgresDatabase::BeginSql(Statement& s) {
  long long ms = std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(s.give_up - SteadyClock::now())
             .count());
  std::string begin = "BEGIN; SET LOCAL statement_timeout = " + std::to_string(ms);
  if (s.result_key.empty()) return begin;
  std::string key = QuoteLiteral(s.conn, s.result_key);
  if (key.empty()) return "";
  s.creates_table = !step_results_ready_.load();
  return (s.creates_table ? kCreateStepResults : "") + begin +
         "; SELECT result FROM flowrun_step_results WHERE key = " + key;
}

std::string PostgresDatabase::CommitSql(Statement& s) {
  if (s.result_key.empty() || s.replayed) return "COMMIT";
  std::string key = QuoteLiteral(s.conn, s.result_key);
  std::string result = QuoteLiteral(s.conn, EncodeStepResult(s.output));
  if (key.empty() || result.empty()) return "";
  std::string commit =
      "INSERT INTO flowrun_step_results (key, result) VALUES (" + key + ", " + result + "); ";
  bool prune = false;
  if (step_results_retention_ > Duration::zero()) {
    MutexLock lock(mu_);
    const SteadyTime now = SteadyClock::now();
    if (now >= next_prune_) {
      next_prune_ = now + kStepResultsPruneInterval;
      prune = true;
    }
  }
  if (prune) {
    const long long retention_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(step_results_retention_).count();
    // SKIP LOCKED: two pruning transactions never wait for (or deadlock on) each other's rows.
    commit +=
        "DELETE FROM flowrun_step_results WHERE key IN (SELECT key FROM "
        "flowrun_step_results WHERE recorded_at < now() - interval '" +
        std::to_string(retention_ms) + " milliseconds' LIMIT " +
        std::to_string(kStepResultsPruneBatch) + " FOR UPDATE SKIP LOCKED); ";
  }
  return commit + "COMMIT";
}

void PostgresDatabase::Finish(std::unique_ptr<Statement> s, StatusOr<QueryResult> result) {
  PGconn* conn = s->conn;
  s->conn = nullptr;
  QueryDone done = std::move(s->done);
  s.reset();
  if (conn != nullptr &&
      (PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)) {
    PQfinish(conn);  // broken, or in a transaction it could not end: not reused
    conn = nullptr;
  }
  HandOver(conn);
  done(std::move(result));
}

void PostgresDatabase::HandOver(PGconn* conn) {
  std::unique_ptr<Statement> next;
  {
    MutexLock lock(mu_);
    if (waiting_.empty()) {
      if (conn != nullptr) {
        idle_.push_back(conn);
      } else {
        --open_;
      }
      return;
    }
    next = std::move(waiting_.front());
    waiting_.pop_front();
  }
  next->conn = conn;  // null: the next statement opens the connection this one closed
  next->reused = conn != nullptr;
  Statement* raw = next.release();
  // Through the loop's queue rather than recursively: a long queue of statements whose time ran
  // out would otherwise finish one inside the other.
  loop_->Post([this, raw] { Begin(std::unique_ptr<Statement>(raw)); });
}

}  // namespace flowrun
