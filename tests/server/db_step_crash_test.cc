// Exactly-once `db` steps across crashes: the engine runs a flow whose `db` step inserts a row,
// against a real SQLite file and the real PostgreSQL server the tests start, and crashes at every
// failpoint in turn (among them the one between the statement's commit and the journal's). After
// each crash the store is reopened and the run resumed: the run completes with the statement's
// first result, and the application table holds the row exactly once.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <atomic>

#include "actions/db/db_action.h"
#include "common/log.h"
#include "testing/engine_harness.h"
#include "testing/paths.h"
#include "testing/postgres_server.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

constexpr char kFlow[] = R"(
id: ledger
on: {event: go}
steps:
  - id: credit
    db:
      database: app
      sql: "INSERT INTO ledger (note) VALUES (:note) RETURNING note"
      params: {note: "${{ event.data.note }}"}
  - id: out
    return: "${{ steps.credit.output }}"
)";

// Runs the real action to its end inside Start, so the harness's simulated clock never moves past
// an action in flight; counts the attempts.
class FinishingAction final : public Action {
 public:
  explicit FinishingAction(Action& real) : real_(real) {}
  std::string_view name() const override { return real_.name(); }
  void Start(ActionRequest request, ActionCallback done) override {
    ++attempts_;
    StatusOr<Json> result = real_.Execute(request);
    done(std::move(request), std::move(result));
  }
  int attempts() const { return attempts_.load(); }

 private:
  Action& real_;
  std::atomic<int> attempts_{0};
};

// The application database under test: runs SQL and counts the ledger's rows.
class AppDatabase {
 public:
  virtual ~AppDatabase() = default;
  virtual std::string Url() = 0;  // a fresh, empty ledger
  virtual long long LedgerRows() = 0;
};

class SqliteApp final : public AppDatabase {
 public:
  std::string Url() override {
    path_ = testing::MakeTempDir() + "/app.db";
    Exec("CREATE TABLE ledger (id INTEGER PRIMARY KEY, note TEXT NOT NULL)");
    return "sqlite:" + path_;
  }
  long long LedgerRows() override { return Exec("SELECT count(*) FROM ledger"); }

 private:
  long long Exec(const std::string& sql) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
    long long value = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return value;
  }
  std::string path_;
};

class PostgresApp final : public AppDatabase {
 public:
  explicit PostgresApp(testing::PostgresServer& server) : server_(server) {}
  std::string Url() override {
    Exec(
        "DROP TABLE IF EXISTS ledger; DROP TABLE IF EXISTS flowrun_step_results; "
        "CREATE TABLE ledger (id serial PRIMARY KEY, note text NOT NULL)");
    return server_.Url();
  }
  long long LedgerRows() override { return Exec("SELECT count(*) FROM ledger"); }

 private:
  long long Exec(const std::string& sql) {
    PGconn* conn = PQconnectdb(server_.Url().c_str());
    EXPECT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
    PGresult* result = PQexec(conn, sql.c_str());
    EXPECT_TRUE(PQresultStatus(result) == PGRES_COMMAND_OK ||
                PQresultStatus(result) == PGRES_TUPLES_OK)
        << PQresultErrorMessage(result);
    long long value =
        PQresultStatus(result) == PGRES_TUPLES_OK ? std::stoll(PQgetvalue(result, 0, 0)) : -1;
    PQclear(result);
    PQfinish(conn);
    return value;
  }
  testing::PostgresServer& server_;
};

struct CrashOutcome {
  bool crashed = false;
  int failpoints = 0;  // passes counted until the crash (or the end)
  int attempts = 0;    // db attempts started, over both lives
};

// Sends one event and drives the run, crashing at failpoint pass k (0: never); after a crash,
// reopens and resumes. Checks the run and the ledger.
CrashOutcome RunWithCrashAt(AppDatabase& app, int k) {
  const std::string url = app.Url();
  EngineHarness h;
  // Its deadlines are on the harness's clock. Destroyed before the harness, which makes no call
  // to its actions once the test is done.
  DbAction db({.databases = {{"app", url}}, .clock = &h.clock()});
  FinishingAction finishing(db);
  h.UseAction("db", &finishing);
  h.AddFlow(kFlow);
  h.engine().TEST_failpoints().TEST_CrashAt(k);

  CrashOutcome outcome;
  const Json event = {{"name", "go"}, {"id", "client-1"}, {"data", {{"note", "credit 5"}}}};
  auto ingested = h.engine().IngestEvents({event});
  std::string run = ingested.ok() ? ingested->front().runs.at(0) : "";
  outcome.crashed = !ingested.ok() || !h.Drive().ok();
  outcome.failpoints = h.engine().TEST_failpoints().TEST_hits();
  if (outcome.crashed) {
    h.Reopen();
    if (run.empty()) {
      auto again = h.engine().IngestEvents({event});  // the client sends again
      EXPECT_TRUE(again.ok());
      store::RunFilter ledger_runs;
      ledger_runs.flow_id = "ledger";
      auto runs = h.engine().ListRuns(ledger_runs);
      EXPECT_TRUE(runs.ok() && runs->size() == 1);
      if (runs.ok() && !runs->empty()) run = runs->front().id;
    }
    Status resumed = h.Drive();
    EXPECT_TRUE(resumed.ok()) << resumed.ToString();
  }
  outcome.attempts = finishing.attempts();
  store::RunRecord record = h.Run(run);
  EXPECT_EQ(record.status, RunStatus::kCompleted) << "k=" << k << " " << record.error.dump();
  EXPECT_EQ(record.output, (Json{{"rows", {{{"note", "credit 5"}}}}, {"changes", 1}})) << "k=" << k;
  EXPECT_EQ(app.LedgerRows(), 1) << "k=" << k << ": the statement was applied again";
  return outcome;
}

void CrashAtEveryFailpoint(AppDatabase& app) {
  // Counts the "db step result replayed" lines: one per retry that found its result recorded.
  std::atomic<int> replay_lines{0};
  DefaultLogger().Configure({.sink = [&](std::string_view line) {
    replay_lines += line.find("\"msg\":\"db step result replayed\"") != std::string_view::npos;
  }});
  struct RestoreLogger {
    ~RestoreLogger() { DefaultLogger().Configure({}); }
  } restore_logger;
  CrashOutcome clean = RunWithCrashAt(app, 0);
  ASSERT_FALSE(clean.crashed);
  ASSERT_GT(clean.failpoints, 2);
  EXPECT_EQ(clean.attempts, 1);
  int replayed = 0;  // crashes after which the step ran again (and found its recorded result)
  for (int k = 1; k <= clean.failpoints; ++k) {
    SCOPED_TRACE(k);
    CrashOutcome crashed = RunWithCrashAt(app, k);
    EXPECT_TRUE(crashed.crashed);
    replayed += crashed.attempts > 1;
  }
  // At least the crash between the statement and the journal's commit retries the step, and
  // that retry returns the recorded result (and says so in the log) instead of running it again.
  EXPECT_GE(replayed, 1);
  EXPECT_GE(replay_lines.load(), 1);
  EXPECT_LE(replay_lines.load(), replayed);
}

TEST(DbStepCrashTest, SqliteStatementAppliesOnceAcrossCrashes) {
  SqliteApp app;
  CrashAtEveryFailpoint(app);
}

class DbStepCrashPostgresTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = testing::PostgresServer::Start().release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static testing::PostgresServer* server_;
};
testing::PostgresServer* DbStepCrashPostgresTest::server_ = nullptr;

TEST_F(DbStepCrashPostgresTest, PostgresStatementAppliesOnceAcrossCrashes) {
  ASSERT_NE(server_, nullptr);
  PostgresApp app(*server_);
  CrashAtEveryFailpoint(app);
}

}  // namespace
}  // namespace flowrun
