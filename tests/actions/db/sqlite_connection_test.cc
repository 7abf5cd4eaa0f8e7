#include "actions/db/sqlite_connection.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>

#include "actions/db/sqlite_step_sql.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

std::unique_ptr<SqliteConnection> OpenTemp(std::string path = "") {
  if (path.empty()) path = testing::MakeTempDir() + "/app.db";
  StatusOr<std::unique_ptr<SqliteConnection>> connection = SqliteConnection::Open("app", path);
  EXPECT_TRUE(connection.ok()) << connection.status().ToString();
  return std::move(*connection);
}

Json RunAll(SqliteConnection& connection, const std::string& sql, const Json& params) {
  StatusOr<sqlite3_stmt*> stmt = connection.StepStatement(sql);
  EXPECT_TRUE(stmt.ok()) << stmt.status().ToString();
  if (!stmt.ok()) return nullptr;
  SqliteConnection::ResetOnExit reset{*stmt};
  EXPECT_TRUE(BindStepParameters(*stmt, params).ok());
  StatusOr<QueryResult> result = RunStepStatement("app", connection.handle(), *stmt);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? result->rows : Json(nullptr);
}

// A statement is prepared once and reused, reset and without the last step's values.
TEST(SqliteConnectionTest, KeepsPreparedStatements) {
  std::unique_ptr<SqliteConnection> connection = OpenTemp();
  ASSERT_EQ(connection->Exec("CREATE TABLE t (n INTEGER)"), SQLITE_OK);
  const std::string insert = "INSERT INTO t (n) VALUES (:n)";
  StatusOr<sqlite3_stmt*> first = connection->StepStatement(insert);
  ASSERT_TRUE(first.ok());
  {
    SqliteConnection::ResetOnExit reset{*first};
    ASSERT_TRUE(BindStepParameters(*first, {{"n", 1}}).ok());
    ASSERT_TRUE(RunStepStatement("app", connection->handle(), *first).ok());
  }
  StatusOr<sqlite3_stmt*> again = connection->StepStatement(insert);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *first);
  EXPECT_EQ(sqlite3_bind_parameter_count(*again), 1);
  // Cleared bindings are NULL: a reuse cannot carry the last step's value.
  ASSERT_EQ(sqlite3_step(*again), SQLITE_DONE);
  sqlite3_reset(*again);
  EXPECT_EQ(RunAll(*connection, "SELECT n FROM t ORDER BY n", Json::object()),
            Json::parse(R"([{"n":null},{"n":1}])"));
}

// A kept statement follows schema changes made by other connections (a migration tool) and by
// its own, and more distinct statements than are kept still run (the oldest are dropped).
TEST(SqliteConnectionTest, FollowsSchemaChangesAndStaysBounded) {
  const std::string path = testing::MakeTempDir() + "/app.db";
  std::unique_ptr<SqliteConnection> connection = OpenTemp(path);
  std::unique_ptr<SqliteConnection> migration = OpenTemp(path);
  ASSERT_EQ(connection->Exec("CREATE TABLE t (a INTEGER)"), SQLITE_OK);
  ASSERT_EQ(connection->Exec("INSERT INTO t (a) VALUES (1)"), SQLITE_OK);
  EXPECT_EQ(RunAll(*connection, "SELECT * FROM t", Json::object()), Json::parse(R"([{"a":1}])"));
  ASSERT_EQ(migration->Exec("ALTER TABLE t ADD COLUMN b TEXT DEFAULT 'x'"), SQLITE_OK);
  EXPECT_EQ(RunAll(*connection, "SELECT * FROM t", Json::object()),
            Json::parse(R"([{"a":1,"b":"x"}])"));
  ASSERT_EQ(connection->Exec("ALTER TABLE t ADD COLUMN c INTEGER DEFAULT 2"), SQLITE_OK);
  EXPECT_EQ(RunAll(*connection, "SELECT * FROM t", Json::object()),
            Json::parse(R"([{"a":1,"b":"x","c":2}])"));
  for (size_t i = 0; i < 3 * SqliteConnection::kMaxStatements; ++i) {
    EXPECT_EQ(RunAll(*connection, "SELECT " + std::to_string(i) + " AS v", Json::object()),
              Json::parse(R"([{"v":)" + std::to_string(i) + "}]"));
  }
}

TEST(SqliteConnectionTest, RefusesWhatIsNotOneStepStatement) {
  std::unique_ptr<SqliteConnection> connection = OpenTemp();
  struct Case {
    const char* sql;
    StatusCode code;
    const char* says;
  };
  for (const Case& c : {
           Case{"", StatusCode::kInvalidArgument, "no statement"},
           Case{"  -- only a comment\n", StatusCode::kInvalidArgument, "no statement"},
           Case{"SELECT 1; SELECT 2", StatusCode::kInvalidArgument, "more than one"},
           Case{"SELECT 1; -- fine\n /* also */ ;", StatusCode::kOk, ""},
           Case{"SELEC 1", StatusCode::kInvalidArgument, "syntax error"},
           Case{"Begin Transaction", StatusCode::kInvalidArgument, "transaction"},
           Case{"SAVEPOINT step", StatusCode::kInvalidArgument, "transaction"},
       }) {
    StatusOr<sqlite3_stmt*> stmt = connection->StepStatement(c.sql);
    EXPECT_EQ(stmt.status().code(), c.code) << c.sql << ": " << stmt.status().ToString();
    if (!stmt.ok()) {
      EXPECT_NE(stmt.status().message().find(c.says), std::string::npos)
          << stmt.status().ToString();
    }
  }
  EXPECT_NE(connection->Exec("NOT SQL"), SQLITE_OK);
}

TEST(SqliteConnectionTest, OpenNamesTheTargetWhenItFails) {
  StatusOr<std::unique_ptr<SqliteConnection>> connection =
      SqliteConnection::Open("app", testing::MakeTempDir() + "/no/such/dir/app.db");
  ASSERT_FALSE(connection.ok());
  EXPECT_NE(connection.status().message().find("database app"), std::string::npos)
      << connection.status().ToString();
}

}  // namespace
}  // namespace flowrun
