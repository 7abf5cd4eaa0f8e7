// PgConnection against a private PostgreSQL 15 server: statements run prepared, and pipeline
// mode returns each statement's result in order, stops at the first failure and leaves the
// connection usable.
#include "store/pg_connection.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "testing/postgres_server.h"

namespace flowrun::store {
namespace {

class PgConnectionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = testing::PostgresServer::Start().release(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    auto db = PgConnection::Open(server_->Url(), "test");
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(*db);
    ASSERT_TRUE(db_->ExecScript("DROP TABLE IF EXISTS t; CREATE TABLE t (k INT PRIMARY KEY, v "
                                "TEXT NOT NULL)")
                    .ok());
  }
  int64_t Count() {
    auto r = db_->Exec("SELECT count(*) FROM t");
    EXPECT_TRUE(r.ok());
    return r.ok() ? r->Int(0, 0) : -1;
  }

  static testing::PostgresServer* server_;
  std::unique_ptr<PgConnection> db_;
};

testing::PostgresServer* PgConnectionTest::server_ = nullptr;

constexpr char kInsert[] = "INSERT INTO t (k, v) VALUES ($1, $2) ON CONFLICT DO NOTHING";

TEST_F(PgConnectionTest, PipelineReturnsEachResultInOrder) {
  ASSERT_TRUE(db_->ExecScript("BEGIN").ok());
  ASSERT_TRUE(db_->BeginPipeline().ok());
  EXPECT_TRUE(db_->in_pipeline());
  ASSERT_TRUE(db_->Send(kInsert, {PgInt(1), PgText("a")}).ok());
  ASSERT_TRUE(db_->Send(kInsert, {PgInt(1), PgText("again")}).ok());  // a conflict: 0 rows
  ASSERT_TRUE(db_->Send(kInsert, {PgInt(2), PgText("b")}).ok());
  ASSERT_TRUE(db_->Send("SELECT v FROM t ORDER BY k").ok());
  std::vector<PgResult> results;
  ASSERT_TRUE(db_->EndPipeline(&results).ok());
  EXPECT_FALSE(db_->in_pipeline());
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].affected(), 1);
  EXPECT_EQ(results[1].affected(), 0);
  EXPECT_EQ(results[2].affected(), 1);
  ASSERT_EQ(results[3].rows(), 2);
  EXPECT_EQ(results[3].Text(0, 0), "a");
  EXPECT_EQ(results[3].Text(1, 0), "b");
  // The pipeline's sync did not end the transaction.
  ASSERT_TRUE(db_->ExecScript("ROLLBACK").ok());
  EXPECT_EQ(Count(), 0);
  // Statements prepared in the pipeline are reused outside it.
  ASSERT_TRUE(db_->Exec(kInsert, {PgInt(3), PgText("c")}).ok());
  EXPECT_EQ(Count(), 1);
  EXPECT_TRUE(db_->healthy());
}

TEST_F(PgConnectionTest, PipelineStopsAtTheFirstFailureAndTheConnectionRecovers) {
  ASSERT_TRUE(db_->ExecScript("BEGIN").ok());
  ASSERT_TRUE(db_->BeginPipeline().ok());
  ASSERT_TRUE(db_->Send(kInsert, {PgInt(1), PgText("a")}).ok());
  ASSERT_TRUE(db_->Send(kInsert, {PgInt(2), std::nullopt}).ok());  // NOT NULL: fails
  ASSERT_TRUE(db_->Send(kInsert, {PgInt(3), PgText("c")}).ok());   // skipped
  std::vector<PgResult> results;
  Status status = db_->EndPipeline(&results);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(db_->last_sqlstate(), "23502");
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].affected(), 1);
  EXPECT_FALSE(db_->in_pipeline());
  ASSERT_TRUE(db_->ExecScript("ROLLBACK").ok());
  EXPECT_TRUE(db_->healthy());
  EXPECT_EQ(Count(), 0);
}

TEST_F(PgConnectionTest, AStatementThatFailsToPrepareInAPipelineIsNotTakenAsPrepared) {
  const std::string bad = "INSERT INTO missing_table (k) VALUES ($1)";
  const std::string after = "SELECT count(*) + $1::int FROM t";
  ASSERT_TRUE(db_->BeginPipeline().ok());
  ASSERT_TRUE(db_->Send(bad, {PgInt(1)}).ok());
  ASSERT_TRUE(db_->Send(after, {PgInt(1)}).ok());  // its PREPARE is skipped too
  std::vector<PgResult> results;
  EXPECT_FALSE(db_->EndPipeline(&results).ok());
  EXPECT_EQ(db_->last_sqlstate(), "42P01");
  EXPECT_TRUE(results.empty());
  // Both are prepared again on their next use, not run by a name the server never knew.
  auto again = db_->Exec(bad, {PgInt(1)});
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(db_->last_sqlstate(), "42P01");
  auto counted = db_->Exec(after, {PgInt(1)});
  ASSERT_TRUE(counted.ok()) << counted.status().ToString();
  EXPECT_EQ(counted->Int(0, 0), 1);
}

TEST_F(PgConnectionTest, AnEmptyPipelineEndsCleanly) {
  ASSERT_TRUE(db_->BeginPipeline().ok());
  std::vector<PgResult> results;
  EXPECT_TRUE(db_->EndPipeline(&results).ok());
  EXPECT_TRUE(results.empty());
  EXPECT_EQ(Count(), 0);
}

}  // namespace
}  // namespace flowrun::store
