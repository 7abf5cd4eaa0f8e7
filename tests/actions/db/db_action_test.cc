#include "actions/db/db_action.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "actions/db/sql_parameters.h"
#include "testing/paths.h"
#include "testing/postgres_server.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;

// A request of the step `step`; without one, of a step of its own (steps are exactly-once: a
// second request of one step returns the first one's recorded result).
ActionRequest Request(Json arguments, std::string step = "") {
  static std::atomic<int> steps{0};
  if (step.empty()) step = "step-" + std::to_string(++steps);
  ActionRequest request;
  request.run_id = "run-5";
  request.step_key = step;
  request.idempotency_key = "run-5/" + step;
  request.arguments = std::move(arguments);
  return request;
}

Json Db(const std::string& database, const std::string& sql, Json params = Json::object()) {
  return {{"database", database}, {"sql", sql}, {"params", std::move(params)}};
}

// Statements shared by both backends; each returns the action's output or fails the test.
Json MustRun(DbAction& action, const Json& args, const std::string& step = "") {
  StatusOr<Json> out = action.Execute(Request(args, step));
  EXPECT_TRUE(out.ok()) << args.dump() << ": " << out.status().ToString();
  return out.ok() ? *out : Json();
}

// Starts every request at once and waits for all; returns their results in request order.
struct Batch {
  std::vector<StatusOr<Json>> results;
  std::chrono::steady_clock::duration start_took{};  // how long the Start calls took together
  std::chrono::steady_clock::duration took{};        // from the first Start to the last result
};

Batch StartAll(DbAction& action, const std::vector<ActionRequest>& requests) {
  std::mutex mu;
  std::condition_variable cv;
  Batch batch;
  batch.results.assign(requests.size(), InternalError("no result"));
  size_t finished = 0;
  auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < requests.size(); ++i) {
    action.Start(requests[i], [&, i](ActionRequest, StatusOr<Json> result) {
      std::lock_guard lock(mu);
      batch.results[i] = std::move(result);
      ++finished;
      cv.notify_one();
    });
  }
  batch.start_took = std::chrono::steady_clock::now() - started;
  std::unique_lock lock(mu);
  EXPECT_TRUE(cv.wait_for(lock, 60s, [&] { return finished == requests.size(); }));
  batch.took = std::chrono::steady_clock::now() - started;
  return batch;
}

// The behaviour every backend must show, run against a real database named "app".
void ExerciseBackend(DbAction& action, const std::string& serial_type) {
  MustRun(action, Db("app", "CREATE TABLE users (id " + serial_type +
                                " PRIMARY KEY, clerk_id TEXT UNIQUE NOT NULL, name TEXT, "
                                "dashboard_access INTEGER NOT NULL DEFAULT 0, score REAL)"));
  Json insert =
      MustRun(action, Db("app",
                         "INSERT INTO users (clerk_id, name, score) VALUES (:clerk, :name, "
                         ":score)",
                         {{"clerk", "user_1"}, {"name", "Ada"}, {"score", 9.5}}));
  EXPECT_EQ(insert["changes"], 1);
  EXPECT_EQ(insert["rows"], Json::array());

  // SQL metacharacters in params are stored verbatim and the table survives.
  std::string hostile = "Robert'); DROP TABLE users;-- \" \\ :name $1 ?";
  MustRun(action, Db("app", "INSERT INTO users (clerk_id, name) VALUES (:clerk, :name)",
                     {{"clerk", "user_2"}, {"name", hostile}}));
  Json stored = MustRun(
      action, Db("app", "SELECT name FROM users WHERE clerk_id = :clerk", {{"clerk", "user_2"}}));
  ASSERT_EQ(stored["rows"].size(), 1u);
  EXPECT_EQ(stored["rows"][0]["name"], hostile);
  Json lookup = MustRun(action, Db("app", "SELECT count(*) AS n FROM users WHERE name = :name",
                                   {{"name", "x' OR '1'='1"}}));
  EXPECT_EQ(lookup["rows"][0]["n"], 0);

  Json update =
      MustRun(action, Db("app", "UPDATE users SET dashboard_access = 1 WHERE clerk_id = :clerk",
                         {{"clerk", "user_1"}}));
  EXPECT_EQ(update["changes"], 1);
  Json rows =
      MustRun(action, Db("app",
                         "SELECT clerk_id, name, dashboard_access, score FROM users ORDER BY "
                         "clerk_id"));
  ASSERT_EQ(rows["rows"].size(), 2u);
  EXPECT_EQ(
      rows["rows"][0],
      Json({{"clerk_id", "user_1"}, {"name", "Ada"}, {"dashboard_access", 1}, {"score", 9.5}}));
  EXPECT_EQ(rows["rows"][1]["score"], nullptr);
  EXPECT_EQ(rows["changes"], 0);

  // A unique violation is final and rolls the statement back.
  StatusOr<Json> duplicate = action.Execute(Request(Db(
      "app", "INSERT INTO users (clerk_id, name) VALUES (:clerk, 'dup')", {{"clerk", "user_1"}})));
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().code(), StatusCode::kFailedPrecondition)
      << duplicate.status().ToString();
  EXPECT_FALSE(duplicate.status().IsRetryable());

  // One transaction per step: a statement that fails halfway leaves nothing behind.
  StatusOr<Json> partial = action.Execute(Request(Db("app", "UPDATE users SET clerk_id = 'same'")));
  ASSERT_FALSE(partial.ok());
  Json unchanged =
      MustRun(action, Db("app", "SELECT count(*) AS n FROM users WHERE clerk_id = 'same'"));
  EXPECT_EQ(unchanged["rows"][0]["n"], 0);

  // :idempotency_key is bound to the step's key, so a guarded insert runs once per step.
  MustRun(action, Db("app", "CREATE TABLE grants (key TEXT PRIMARY KEY, clerk_id TEXT)"));
  std::string guarded =
      "INSERT INTO grants (key, clerk_id) VALUES (:idempotency_key, :clerk) ON CONFLICT (key) DO "
      "NOTHING";
  Json first = MustRun(action, Db("app", guarded, {{"clerk", "user_1"}}), "grant[0]");
  EXPECT_EQ(first["changes"], 1);
  Json keys = MustRun(action, Db("app", "SELECT key FROM grants"));
  EXPECT_EQ(keys["rows"], Json::array({{{"key", "run-5/grant[0]"}}}));

  // Exactly once: a second attempt of a step returns the first one's recorded result and does
  // not run the statement again (even one with no guard of its own).
  MustRun(action, Db("app", "CREATE TABLE ledger (note TEXT)"));
  const std::string credit = "INSERT INTO ledger (note) VALUES (:note) RETURNING note";
  Json credited = MustRun(action, Db("app", credit, {{"note", "first"}}), "credit");
  EXPECT_EQ(credited, Json({{"rows", {{{"note", "first"}}}}, {"changes", 1}}));
  Json replayed = MustRun(action, Db("app", credit, {{"note", "second"}}), "credit");
  EXPECT_EQ(replayed, credited);
  Json ledger = MustRun(action, Db("app", "SELECT note FROM ledger"));
  EXPECT_EQ(ledger["rows"], Json::array({{{"note", "first"}}}));
  Json recorded = MustRun(action, Db("app",
                                     "SELECT result FROM flowrun_step_results WHERE key = "
                                     ":key",
                                     {{"key", "run-5/credit"}}));
  ASSERT_EQ(recorded["rows"].size(), 1u);
  EXPECT_EQ(Json::parse(recorded["rows"][0]["result"].get<std::string>()), credited);
  // A failed attempt records nothing: the step's next attempt runs the statement.
  StatusOr<Json> failed = action.Execute(
      Request(Db("app", "INSERT INTO grants (key) VALUES (NULL) RETURNING nope"), "retry-me"));
  EXPECT_FALSE(failed.ok());
  Json retried = MustRun(action, Db("app", credit, {{"note", "retried"}}), "retry-me");
  EXPECT_EQ(retried["changes"], 1);

  // Parameters must match the SQL exactly.
  struct Case {
    Json args;
    std::string message;
  };
  std::vector<Case> cases = {
      {Db("app", "SELECT * FROM users WHERE clerk_id = :clerk"), "params has no \"clerk\""},
      {Db("app", "SELECT 1", {{"unused", 1}}), "does not use"},
      {Db("app", "SELECT * FROM users WHERE clerk_id = ?"), "?"},
      {Db("app", "SELEC 1"), "syntax"},
      {Db("nope", "SELECT 1"), "\"nope\" is not in the config (configured: app)"},
  };
  for (const Case& c : cases) {
    StatusOr<Json> out = action.Execute(Request(c.args));
    ASSERT_FALSE(out.ok()) << c.args.dump();
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << out.status().ToString();
    EXPECT_NE(out.status().message().find(c.message), std::string::npos) << out.status().message();
  }
  Json count = MustRun(action, Db("app", "SELECT count(*) AS n FROM users"));
  EXPECT_EQ(count["rows"][0]["n"], 2);
}

TEST(SqlParametersTest, TranslatesNamesAndSkipsLiteralsCastsAndComments) {
  StatusOr<PositionalSql> out = TranslateNamedParameters(
      "SELECT :a, :b::int, ':not', \"col:x\", E'it\\'s :no', $$ :no $$, $tag$ :no $tag$ "
      "-- :no\n/* :no /* nested :no */ */ FROM t WHERE x = :a AND y = ANY(:list) AND z::text = "
      "'a''b:c' AND j ? 'k'");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->sql,
            "SELECT $1, $2::int, ':not', \"col:x\", E'it\\'s :no', $$ :no $$, $tag$ :no $tag$ "
            "-- :no\n/* :no /* nested :no */ */ FROM t WHERE x = $1 AND y = ANY($3) AND z::text = "
            "'a''b:c' AND j ? 'k'");
  EXPECT_EQ(out->names, (std::vector<std::string>{"a", "b", "list"}));
  EXPECT_FALSE(TranslateNamedParameters("SELECT $1").ok());
  EXPECT_FALSE(TranslateNamedParameters("SELECT 'open").ok());
  EXPECT_FALSE(TranslateNamedParameters("SELECT /* open").ok());
  EXPECT_FALSE(TranslateNamedParameters("SELECT $x$ open").ok());
}

TEST(DbActionTest, CheckArgumentsNamesConfiguredDatabases) {
  DbActionOptions options;
  options.databases = {{"app", "sqlite::memory:"}, {"crm", "postgres://x@localhost/crm"}};
  DbAction action(options);
  Status unknown = action.CheckArguments(Db("billing", "SELECT 1"));
  EXPECT_EQ(unknown.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(unknown.message(), "database \"billing\" is not in the config (configured: app, crm)");
  EXPECT_TRUE(action.CheckArguments(Db("app", "SELECT :x", {{"x", "${{ event.data.x }}"}})).ok());
  EXPECT_FALSE(
      action.CheckArguments(Db("app", "SELECT * FROM t WHERE id = '${{ event.data.id }}'")).ok());
  EXPECT_FALSE(action.CheckArguments({{"database", "app"}}).ok());
  DbAction empty({});
  EXPECT_NE(
      empty.CheckArguments(Db("app", "SELECT 1")).message().find("no databases are configured"),
      std::string::npos);
}

TEST(DbActionTest, SqliteFile) {
  std::string dir = testing::MakeTempDir();
  DbActionOptions options;
  options.databases = {{"app", "sqlite:" + dir + "/app.db"}};
  DbAction action(options);
  ExerciseBackend(action, "INTEGER");
  // The data is really in the file.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir + "/app.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM users", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(stmt, 0), 2);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(DbActionTest, SqliteBusyIsRetryable) {
  std::string dir = testing::MakeTempDir();
  std::string path = dir + "/busy.db";
  DbActionOptions options;
  options.databases = {{"app", "sqlite:" + path}};
  options.statement_timeout = 200ms;
  DbAction action(options);
  MustRun(action, Db("app", "CREATE TABLE t (x INTEGER)"));
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(holder, "BEGIN IMMEDIATE; INSERT INTO t VALUES (1);", nullptr, nullptr, nullptr),
      SQLITE_OK);
  StatusOr<Json> out = action.Execute(Request(Db("app", "INSERT INTO t VALUES (:x)", {{"x", 2}})));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable) << out.status().ToString();
  EXPECT_TRUE(out.status().IsRetryable());
  sqlite3_exec(holder, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  Json retried = MustRun(action, Db("app", "INSERT INTO t VALUES (:x)", {{"x", 2}}));
  EXPECT_EQ(retried["changes"], 1);
}

// A write waiting for a lock held by another process does not hold the caller: Start returns at
// once, and the statement completes on the target's worker when the lock goes.
TEST(DbActionTest, SqliteStartNeverBlocksTheCaller) {
  std::string dir = testing::MakeTempDir();
  std::string path = dir + "/async.db";
  DbActionOptions options;
  options.databases = {{"app", "sqlite:" + path}};
  options.statement_timeout = 5s;
  DbAction action(options);
  MustRun(action, Db("app", "CREATE TABLE t (x INTEGER)"));
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE;", nullptr, nullptr, nullptr), SQLITE_OK);
  std::thread release([holder] {
    std::this_thread::sleep_for(300ms);
    sqlite3_exec(holder, "COMMIT", nullptr, nullptr, nullptr);
  });
  std::vector<ActionRequest> requests;
  for (int i = 0; i < 50; ++i) {
    requests.push_back(
        Request(Db("app", "INSERT INTO t VALUES (:x)", {{"x", i}}), "w" + std::to_string(i)));
  }
  Batch batch = StartAll(action, requests);
  release.join();
  sqlite3_close(holder);
  EXPECT_LT(batch.start_took, 100ms);
  EXPECT_GE(batch.took, 250ms);
  for (const auto& result : batch.results) EXPECT_TRUE(result.ok()) << result.status().ToString();
  Json count = MustRun(action, Db("app", "SELECT count(*) AS n FROM t"));
  EXPECT_EQ(count["rows"][0]["n"], 50);
  EXPECT_EQ(action.QueuedStatements(), 0u);
}

TEST(DbActionTest, SqliteStatementTimeout) {
  DbActionOptions options;
  options.databases = {{"app", "sqlite:" + testing::MakeTempDir() + "/slow.db"}};
  options.statement_timeout = 100ms;
  DbAction action(options);
  auto started = std::chrono::steady_clock::now();
  StatusOr<Json> out = action.Execute(
      Request(Db("app",
                 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) "
                 "FROM c")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kDeadlineExceeded) << out.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

TEST(DbActionTest, SqliteRejectsSeveralStatements) {
  DbActionOptions options;
  options.databases = {{"app", "sqlite:" + testing::MakeTempDir() + "/multi.db"}};
  DbAction action(options);
  StatusOr<Json> out = action.Execute(Request(Db("app", "SELECT 1; SELECT 2")));
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("more than one statement"), std::string::npos);
  EXPECT_TRUE(action.Execute(Request(Db("app", "SELECT 1; -- trailing comment\n"))).ok());
}

// Reads are not recorded; recorded results older than the retention are deleted by a later
// write (the first one of an action, then every few minutes).
TEST(DbActionTest, SqliteStepResultsRecordWritesAndExpire) {
  const std::string path = testing::MakeTempDir() + "/app.db";
  DbActionOptions options;
  options.databases = {{"app", "sqlite:" + path}};
  options.step_results_retention = 1ms;
  {
    DbAction action(options);
    MustRun(action, Db("app", "CREATE TABLE t (n INTEGER)"), "create");
    MustRun(action, Db("app", "INSERT INTO t (n) VALUES (1)"), "old");
    MustRun(action, Db("app", "SELECT count(*) AS n FROM t"), "read");
  }
  std::this_thread::sleep_for(20ms);  // the retention is 1 ms: "old" is older than that now
  DbAction later(options);
  MustRun(later, Db("app", "INSERT INTO t (n) VALUES (2)"), "new");
  Json keys = MustRun(later, Db("app", "SELECT key FROM flowrun_step_results ORDER BY key"));
  EXPECT_EQ(keys["rows"], Json::array({{{"key", "run-5/new"}}}));

  options.step_results_retention = Duration::zero();  // kept
  DbAction keeping(options);
  MustRun(keeping, Db("app", "INSERT INTO t (n) VALUES (3)"), "kept");
  Json kept = MustRun(keeping, Db("app", "SELECT count(*) AS n FROM flowrun_step_results"));
  EXPECT_EQ(kept["rows"][0]["n"], 2);
}

class PostgresTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = testing::PostgresServer::Start().release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_, nullptr) << "the PostgreSQL server did not start"; }

  static testing::PostgresServer* server_;
};
testing::PostgresServer* PostgresTest::server_ = nullptr;

TEST_F(PostgresTest, RealServer) {
  DbActionOptions options;
  options.databases = {{"app", server_->Url()}};
  DbAction action(options);
  ExerciseBackend(action, "SERIAL");
  Json typed =
      MustRun(action, Db("app",
                         "SELECT :n::int AS n, :flag::boolean AS flag, :doc::jsonb AS doc, "
                         "'x:y' AS literal, 1.5::numeric AS price, NULL::text AS nothing",
                         {{"n", 42}, {"flag", true}, {"doc", {{"a", {1, 2}}}}}));
  EXPECT_EQ(typed["rows"][0], Json({{"n", 42},
                                    {"flag", true},
                                    {"doc", {{"a", {1, 2}}}},
                                    {"literal", "x:y"},
                                    {"price", 1.5},
                                    {"nothing", nullptr}}));
}

TEST_F(PostgresTest, StatementTimeoutAndPooling) {
  DbActionOptions options;
  options.databases = {{"app", server_->Url()}};
  options.statement_timeout = 150ms;
  options.max_connections = 2;
  DbAction action(options);
  StatusOr<Json> slow = action.Execute(Request(Db("app", "SELECT pg_sleep(5)")));
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.status().code(), StatusCode::kDeadlineExceeded) << slow.status().ToString();

  // Many concurrent steps share at most two connections; all succeed.
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      if (action.Execute(Request(Db("app", "SELECT :i::int AS i", {{"i", i}}))).ok()) ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  Json connections =
      MustRun(action, Db("app",
                         "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = "
                         "'flowrun'"));
  EXPECT_LE(connections["rows"][0]["n"].get<int>(), 2);
}

// N statements of 200 ms on a pool of N overlap: together they take about 200 ms, not N * 200.
TEST_F(PostgresTest, SleepsOverlapOnThePool) {
  constexpr int kStatements = 8;
  DbActionOptions options;
  options.databases = {{"app", server_->Url()}};
  options.max_connections = kStatements;
  DbAction action(options);
  std::vector<ActionRequest> requests;
  for (int i = 0; i < kStatements; ++i) {
    requests.push_back(
        Request(Db("app", "SELECT pg_sleep(0.2) IS NULL AS slept, :i::int AS i", {{"i", i}}),
                "sleep" + std::to_string(i)));
  }
  Batch batch = StartAll(action, requests);
  for (int i = 0; i < kStatements; ++i) {
    ASSERT_TRUE(batch.results[i].ok()) << batch.results[i].status().ToString();
    EXPECT_EQ((*batch.results[i])["rows"][0]["i"], i);
  }
  EXPECT_LT(batch.start_took, 100ms);
  EXPECT_LT(batch.took, kStatements * 200ms / 2);
}

// Beyond the pool, statements wait in memory and run as connections free up.
TEST_F(PostgresTest, StatementsBeyondThePoolWaitTheirTurn) {
  DbActionOptions options;
  options.databases = {{"app", server_->Url()}};
  options.max_connections = 2;
  DbAction action(options);
  std::vector<ActionRequest> requests;
  for (int i = 0; i < 6; ++i) {
    requests.push_back(
        Request(Db("app", "SELECT pg_sleep(0.1) IS NULL AS slept, :i::int AS i", {{"i", i}}),
                "sleep" + std::to_string(i)));
  }
  Batch batch = StartAll(action, requests);
  for (const auto& result : batch.results) {
    EXPECT_TRUE(result.ok()) << result.status().ToString();
  }
  EXPECT_GE(batch.took, 280ms);  // three rounds of two
  EXPECT_EQ(action.QueuedStatements(), 0u);
}

// A statement that outlives the step's deadline is ended by the server at the deadline; the
// connection stays usable and other statements are not held up.
TEST_F(PostgresTest, AStatementThatOutlivesItsDeadline) {
  DbActionOptions options;
  options.databases = {{"app", server_->Url()}};
  options.max_connections = 2;
  DbAction action(options);
  ActionRequest slow = Request(Db("app", "SELECT pg_sleep(5)"), "slow");
  slow.deadline = SystemClock().Now() + 300ms;
  std::vector<ActionRequest> requests = {slow, Request(Db("app", "SELECT 1 AS one"), "quick")};
  Batch batch = StartAll(action, requests);
  ASSERT_FALSE(batch.results[0].ok());
  EXPECT_EQ(batch.results[0].status().code(), StatusCode::kDeadlineExceeded)
      << batch.results[0].status().ToString();
  ASSERT_TRUE(batch.results[1].ok()) << batch.results[1].status().ToString();
  EXPECT_LT(batch.took, 1500ms);
  Json again = MustRun(action, Db("app", "SELECT 2 AS two"));
  EXPECT_EQ(again["rows"][0]["two"], 2);
}

TEST_F(PostgresTest, SerializationFailureIsRetryable) {
  DbActionOptions options;
  options.databases = {{"app", server_->Url()}};
  DbAction action(options);
  MustRun(action, Db("app", "CREATE TABLE counters (id INT PRIMARY KEY, n INT)"));
  MustRun(action, Db("app", "INSERT INTO counters VALUES (1, 0)"));
  // Raise the same SQLSTATE a conflicting serializable transaction gets.
  StatusOr<Json> out = action.Execute(
      Request(Db("app",
                 "DO $$ BEGIN RAISE EXCEPTION 'could not serialize access' USING ERRCODE = "
                 "'serialization_failure'; END $$")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kAborted) << out.status().ToString();
  EXPECT_TRUE(out.status().IsRetryable());
  StatusOr<Json> deadlock = action.Execute(Request(
      Db("app",
         "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = 'deadlock_detected'; END $$")));
  ASSERT_FALSE(deadlock.ok());
  EXPECT_EQ(deadlock.status().code(), StatusCode::kAborted);
}

TEST_F(PostgresTest, PooledConnectionClosedByTheServerIsReplaced) {
  DbActionOptions options;
  options.databases = {{"app", server_->Url()}};
  DbAction action(options);
  Json pid = MustRun(action, Db("app", "SELECT pg_backend_pid() AS pid"));
  // Another client ends the idle pooled connection, as a server restart or idle timeout would.
  DbAction other(options);
  Json killed = MustRun(other, Db("app", "SELECT pg_terminate_backend(:pid::int) AS killed",
                                  {{"pid", pid["rows"][0]["pid"]}}));
  ASSERT_EQ(killed["rows"][0]["killed"], true);
  Json again = MustRun(action, Db("app", "SELECT pg_backend_pid() AS pid"));
  EXPECT_NE(again["rows"][0]["pid"], pid["rows"][0]["pid"]);
}

TEST_F(PostgresTest, UnreachableServerIsRetryableAndNamesNoPassword) {
  DbActionOptions options;
  options.databases = {{"app", "postgresql://postgres:hunter2pw@127.0.0.1:1/postgres"}};
  DbAction action(options);
  StatusOr<Json> out = action.Execute(Request(Db("app", "SELECT 1")));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable) << out.status().ToString();
  EXPECT_NE(out.status().message().find("database app: cannot connect"), std::string::npos);
  EXPECT_EQ(out.status().message().find("hunter2pw"), std::string::npos);
}

}  // namespace
}  // namespace flowrun
