// PgConnection::ExecPipelined: statements sent together and answered together, in order, with the
// first failure reported and the connection left usable; large pipelines, whose statements and
// answers overflow the socket buffers both ways, do not stall.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "store/pg_connection.h"
#include "testing/store_kinds.h"

namespace flowrun::store {
namespace {

class PgConnectionPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = FreshPostgresConnection();
    ASSERT_NE(db_, nullptr);
    ASSERT_TRUE(db_->ExecScript("CREATE TABLE t (n BIGINT PRIMARY KEY, s TEXT)").ok());
  }

  int64_t Count() {
    auto r = db_->Exec("SELECT count(*) FROM t");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->Int(0, 0) : -1;
  }

  static PgStatement Insert(int64_t n) {
    return {"INSERT INTO t (n, s) VALUES ($1, $2) RETURNING n * 10", {PgInt(n), PgText("x")}};
  }

  std::unique_ptr<PgConnection> db_;
};

TEST_F(PgConnectionPipelineTest, AnswersComeBackInOrderAndStatementsArePreparedOnce) {
  for (int round = 0; round < 2; ++round) {
    std::vector<PgStatement> statements;
    for (int i = 0; i < 5; ++i) statements.push_back(Insert(round * 5 + i));
    statements.push_back({"SELECT count(*) FROM t", {}});
    auto results = db_->ExecPipelined(statements);
    ASSERT_TRUE(results.ok()) << results.status().ToString();
    ASSERT_EQ(results->size(), 6u);
    for (int i = 0; i < 5; ++i) EXPECT_EQ((*results)[i].Int(0, 0), (round * 5 + i) * 10);
    EXPECT_EQ((*results)[5].Int(0, 0), round * 5 + 5);
  }
  // Exec finds the statement the pipeline prepared.
  auto single = db_->Exec(Insert(100));
  ASSERT_TRUE(single.ok()) << single.status().ToString();
  EXPECT_EQ(single->Int(0, 0), 1000);
}

TEST_F(PgConnectionPipelineTest, TheFirstFailureStopsTheRestAndTheConnectionStaysUsable) {
  ASSERT_TRUE(db_->ExecScript("BEGIN").ok());
  std::vector<PgStatement> statements = {Insert(1), Insert(1), Insert(2)};
  auto results = db_->ExecPipelined(statements);
  ASSERT_FALSE(results.ok());
  EXPECT_EQ(db_->last_sqlstate(), "23505") << results.status().ToString();
  // The transaction is aborted: nothing of it stays.
  ASSERT_TRUE(db_->ExecScript("ROLLBACK").ok());
  EXPECT_EQ(Count(), 0);
  EXPECT_TRUE(db_->healthy());
  // A statement that cannot be prepared fails the same way. Outside a transaction the pipeline
  // is one transaction of its own: the statement before it is undone too.
  statements = {Insert(3), {"SELECT no_such_column FROM t", {}}, Insert(4)};
  results = db_->ExecPipelined(statements);
  ASSERT_FALSE(results.ok());
  EXPECT_EQ(db_->last_sqlstate(), "42703") << results.status().ToString();
  EXPECT_EQ(Count(), 0);
  EXPECT_TRUE(db_->healthy());
  auto after = db_->ExecPipelined(std::vector<PgStatement>{Insert(5), Insert(6)});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(Count(), 2);
}

TEST_F(PgConnectionPipelineTest, ATextParameterWithANulCharacterIsRefusedBeforeAnythingIsSent) {
  std::vector<PgStatement> statements = {
      Insert(1), {"INSERT INTO t (n, s) VALUES (2, $1)", {std::string("a\0b", 3)}}};
  auto results = db_->ExecPipelined(statements);
  ASSERT_FALSE(results.ok());
  EXPECT_EQ(results.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Count(), 0);
}

TEST_F(PgConnectionPipelineTest, ALargePipelineWithLargeAnswersDoesNotStall) {
  // 64 statements of 256 KiB each go out while 64 answers of 1 MiB each come back: neither
  // side's socket buffer holds that, so the sender must read while it sends.
  const std::string big(256 * 1024, 'p');
  std::vector<PgStatement> statements;
  for (int i = 0; i < 64; ++i) {
    statements.push_back({"SELECT length($1) + $2, repeat('a', 1024 * 1024)", {big, PgInt(i)}});
  }
  auto results = db_->ExecPipelined(statements);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 64u);
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ((*results)[i].Int(0, 0), static_cast<int64_t>(big.size()) + i);
    EXPECT_EQ((*results)[i].Text(0, 1).size(), 1024u * 1024u);
  }
}

TEST_F(PgConnectionPipelineTest, AnEmptyPipelineReturnsNoResults) {
  auto results = db_->ExecPipelined(std::vector<PgStatement>{});
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  EXPECT_TRUE(results->empty());
}

}  // namespace
}  // namespace flowrun::store
