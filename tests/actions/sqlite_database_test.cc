#include "actions/sqlite_database.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "actions/gate_holder.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

using testing::GateHolder;

long long CountRows(const std::string& path) {
  SqliteDatabase reader("check", path, 1);
  StatusOr<QueryResult> result = reader.Execute("SELECT count(*) AS c FROM t", Json::object(), 5s);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? result->rows[0]["c"].get<long long>() : -1;
}

// Outside any transaction: SqliteDatabase runs each statement in one, where SQLite ignores a
// change of journal mode.
void SetJournalMode(const std::string& path, const std::string& mode) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, ("PRAGMA journal_mode=" + mode).c_str(), -1, &stmt, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STRCASEEQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), mode.c_str());
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

class SqliteDatabaseTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    path_ = testing::MakeTempDir() + "/app.db";
    SetJournalMode(path_, GetParam());
    SqliteDatabase setup("app", path_, 1);
    ASSERT_TRUE(
        setup.Execute("CREATE TABLE t (n INTEGER PRIMARY KEY, by TEXT)", Json::object(), 5s).ok());
  }
  std::string path_;
};

// Writers from many threads, through two targets naming the same file, all commit: they queue in
// the file's gate instead of meeting SQLITE_BUSY, even with a timeout far shorter than the time
// all of them take together.
TEST_P(SqliteDatabaseTest, ConcurrentWritersAllCommitWithoutBusyErrors) {
  SqliteDatabase app("app", path_, 8);
  SqliteDatabase same_file("alias", path_, 8);
  constexpr int kThreads = 8;
  constexpr int kRowsEach = 40;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SqliteDatabase& db = t % 2 ? same_file : app;
      for (int i = 0; i < kRowsEach; ++i) {
        StatusOr<QueryResult> out =
            db.Execute("INSERT INTO t (n, by) VALUES (:n, :by)",
                       {{"n", t * kRowsEach + i}, {"by", t % 2 ? "alias" : "app"}}, 2s);
        if (!out.ok() || out->changes != 1) {
          ++failures;
          ADD_FAILURE() << (out.ok() ? "no change" : out.status().ToString());
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(CountRows(path_), kThreads * kRowsEach);
}

// A writer waiting for its turn gives up at its timeout with the code SQLITE_BUSY had
// (kUnavailable: retried); readers do not wait for writers.
TEST_P(SqliteDatabaseTest, TimeoutWhileWaitingForTheWriter) {
  SqliteDatabase db("app", path_, 2);
  std::shared_ptr<SqliteWriterGate> gate = SqliteWriterGate::ForFile(path_);
  GateHolder other_step(*gate);  // in the middle of its transaction

  auto started = SteadyClock::now();
  StatusOr<QueryResult> out = db.Execute("INSERT INTO t (n) VALUES (:n)", {{"n", 1}}, 100ms);
  auto waited = SteadyClock::now() - started;
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable) << out.status().ToString();
  EXPECT_TRUE(out.status().IsRetryable());
  EXPECT_NE(out.status().message().find("busy"), std::string::npos) << out.status().ToString();
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 2s);

  StatusOr<QueryResult> read = db.Execute("SELECT count(*) AS c FROM t", Json::object(), 100ms);
  EXPECT_TRUE(read.ok()) << read.status().ToString();

  other_step.Release();
  out = db.Execute("INSERT INTO t (n) VALUES (:n)", {{"n", 1}}, 100ms);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->changes, 1);
}

// A failed statement rolls back and hands the turn on: the next writer is not kept waiting.
TEST_P(SqliteDatabaseTest, FailedWriteReleasesTheTurn) {
  SqliteDatabase db("app", path_, 2);
  ASSERT_TRUE(db.Execute("INSERT INTO t (n) VALUES (1)", Json::object(), 1s).ok());
  StatusOr<QueryResult> duplicate = db.Execute("INSERT INTO t (n) VALUES (1)", Json::object(), 1s);
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.status().code(), StatusCode::kFailedPrecondition);
  std::shared_ptr<SqliteWriterGate> gate = SqliteWriterGate::ForFile(path_);
  EXPECT_TRUE(gate->Enter(SteadyClock::now()));
  gate->Leave();
  EXPECT_TRUE(db.Execute("INSERT INTO t (n) VALUES (2)", Json::object(), 1s).ok());
  EXPECT_EQ(CountRows(path_), 2);
}

INSTANTIATE_TEST_SUITE_P(JournalModes, SqliteDatabaseTest, ::testing::Values("WAL", "DELETE"));

}  // namespace
}  // namespace flowrun
