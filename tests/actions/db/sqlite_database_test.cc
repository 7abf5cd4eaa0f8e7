#include "actions/db/sqlite_database.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "testing/gate_holder.h"
#include "testing/paths.h"
#include "testing/wait_until.h"

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
  // Runs kKnownInsert once on `db`, so that the target knows it writes, then holds the file's
  // writer gate (gate_) until `held` is reset.
  void KnownInsertThenHoldTheGate(SqliteDatabase& db, std::unique_ptr<GateHolder>& held) {
    ASSERT_TRUE(db.Execute(kKnownInsert, {{"n", 0}}, 5s).ok());
    gate_ = SqliteWriterGate::ForFile(path_);
    held = std::make_unique<GateHolder>(*gate_);
  }

  static constexpr char kKnownInsert[] = "INSERT INTO t (n) VALUES (:n)";
  std::string path_;
  std::shared_ptr<SqliteWriterGate> gate_;
};

// Writers from many threads, through two targets naming the same file, all commit: they queue in
// the file's gate instead of meeting SQLITE_BUSY. The timeout is generous because the point is
// that no writer sees SQLITE_BUSY, not how fast a loaded disk syncs (DELETE mode syncs twice per
// commit).
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
                       {{"n", t * kRowsEach + i}, {"by", t % 2 ? "alias" : "app"}}, 20s);
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

// Runs `statements` (sql, timeout) from one thread each, after an earlier writer took the
// file's gate, so that all of them queue behind it and the next leader takes them as one group.
// Each must pass the checks made before queueing (one statement, parameters), or it never queues.
std::vector<StatusOr<QueryResult>> WriteAsOneGroup(
    SqliteDatabase& db, const std::string& path,
    const std::vector<std::pair<std::string, std::chrono::milliseconds>>& statements) {
  std::shared_ptr<SqliteWriterGate> gate = SqliteWriterGate::ForFile(path);
  auto held = std::make_unique<GateHolder>(*gate);
  // The first writer leads a group of its own and waits for the gate.
  std::future<StatusOr<QueryResult>> first = std::async(std::launch::async, [&] {
    return db.Execute("INSERT INTO t (n, by) VALUES (1000, 'first')", Json::object(), 10s);
  });
  EXPECT_TRUE(testing::WaitUntil([&] { return gate->TEST_waiters() > 0; }));
  std::vector<std::future<StatusOr<QueryResult>>> futures;
  for (const auto& [sql, timeout] : statements) {
    futures.push_back(std::async(std::launch::async, [&db, sql = sql, timeout = timeout] {
      return db.Execute(sql, Json::object(), timeout);
    }));
  }
  const auto give_up = SteadyClock::now() + 10s;
  while (db.TEST_commit_group().queued() < statements.size() && SteadyClock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  EXPECT_EQ(db.TEST_commit_group().queued(), statements.size());
  held.reset();
  EXPECT_TRUE(first.get().ok());
  std::vector<StatusOr<QueryResult>> results;
  for (auto& future : futures) results.push_back(future.get());
  return results;
}

// Writers that arrive together share one commit, and each still gets its own result.
TEST_P(SqliteDatabaseTest, ConcurrentWritesShareOneCommit) {
  SqliteDatabase db("app", path_, 8);
  const size_t commits_before = db.TEST_commit_group().TEST_commits();
  std::vector<StatusOr<QueryResult>> results =
      WriteAsOneGroup(db, path_,
                      {{"INSERT INTO t (n) VALUES (1)", 5s},
                       {"INSERT INTO t (n) VALUES (2), (3)", 5s},
                       {"UPDATE t SET by = 'first' WHERE n = 1000", 5s},
                       {"DELETE FROM t WHERE n = 99", 5s}});
  for (const auto& result : results) ASSERT_TRUE(result.ok()) << result.status().ToString();
  EXPECT_EQ(results[0]->changes, 1);
  EXPECT_EQ(results[1]->changes, 2);
  EXPECT_EQ(results[2]->changes, 1);
  EXPECT_EQ(results[3]->changes, 0);
  EXPECT_EQ(CountRows(path_), 4);
  EXPECT_EQ(db.TEST_commit_group().TEST_commits() - commits_before, 2u);  // first, then the four
}

// A statement that fails in a group undoes only itself; one whose failure rolls back the whole
// transaction (ON CONFLICT ROLLBACK) fails alone, and the others of its group run again and
// commit exactly once.
TEST_P(SqliteDatabaseTest, FailingStatementsInAGroupFailOnlyThemselves) {
  SqliteDatabase db("app", path_, 8);
  ASSERT_TRUE(db.Execute("INSERT INTO t (n) VALUES (7)", Json::object(), 1s).ok());
  ASSERT_TRUE(db.Execute("CREATE TABLE log (k TEXT)", Json::object(), 1s).ok());
  std::vector<StatusOr<QueryResult>> results =
      WriteAsOneGroup(db, path_,
                      {{"INSERT INTO log (k) VALUES ('a')", 5s},
                       {"INSERT INTO t (n) VALUES (7)", 5s},
                       {"INSERT INTO log (k) VALUES ('b')", 5s},
                       {"INSERT OR ROLLBACK INTO t (n) VALUES (7)", 5s},
                       {"INSERT INTO log (k) VALUES ('c')", 5s},
                       {"INSERT INTO t (n) VALUES ('not a number')", 5s}});
  EXPECT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(results[1].status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(results[2].ok()) << results[2].status().ToString();
  EXPECT_EQ(results[3].status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(results[4].ok()) << results[4].status().ToString();
  EXPECT_EQ(results[5].status().code(), StatusCode::kInvalidArgument);
  StatusOr<QueryResult> log = db.Execute("SELECT k FROM log ORDER BY k", Json::object(), 1s);
  ASSERT_TRUE(log.ok());
  EXPECT_EQ(log->rows, Json::parse(R"([{"k":"a"},{"k":"b"},{"k":"c"}])"));
  EXPECT_EQ(CountRows(path_), 2);  // 7 and the first writer's 1000
}

// A statement that runs out of time in a group is interrupted; the group's other steps commit.
TEST_P(SqliteDatabaseTest, StatementTimeoutInAGroupFailsOnlyThatStep) {
  SqliteDatabase db("app", path_, 8);
  std::vector<StatusOr<QueryResult>> results = WriteAsOneGroup(
      db, path_,
      {{"INSERT INTO t (n) VALUES (1)", 5s},
       {"INSERT INTO t (n) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
        "SELECT x + 100 FROM c WHERE x < 0",
        300ms},
       {"INSERT INTO t (n) VALUES (2)", 5s}});
  EXPECT_TRUE(results[0].ok()) << results[0].status().ToString();
  EXPECT_EQ(results[1].status().code(), StatusCode::kDeadlineExceeded)
      << results[1].status().ToString();
  EXPECT_TRUE(results[2].ok()) << results[2].status().ToString();
  EXPECT_EQ(CountRows(path_), 3);
}

// A writer still queued when its time runs out leaves the queue as busy; the rest go on.
TEST_P(SqliteDatabaseTest, QueuedWriterTimesOutAsBusy) {
  SqliteDatabase db("app", path_, 4);
  std::shared_ptr<SqliteWriterGate> gate = SqliteWriterGate::ForFile(path_);
  auto held = std::make_unique<GateHolder>(*gate);
  std::future<StatusOr<QueryResult>> leader = std::async(std::launch::async, [&] {
    return db.Execute("INSERT INTO t (n) VALUES (1)", Json::object(), 10s);
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return gate->TEST_waiters() > 0; }));
  std::future<StatusOr<QueryResult>> patient = std::async(std::launch::async, [&] {
    return db.Execute("INSERT INTO t (n) VALUES (2)", Json::object(), 10s);
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return db.TEST_commit_group().queued() >= 1; }));
  StatusOr<QueryResult> hasty = db.Execute("INSERT INTO t (n) VALUES (3)", Json::object(), 100ms);
  ASSERT_FALSE(hasty.ok());
  EXPECT_EQ(hasty.status().code(), StatusCode::kUnavailable) << hasty.status().ToString();
  EXPECT_NE(hasty.status().message().find("busy"), std::string::npos);
  EXPECT_EQ(db.TEST_commit_group().queued(), 1u);
  held.reset();
  EXPECT_TRUE(leader.get().ok());
  EXPECT_TRUE(patient.get().ok());
  EXPECT_EQ(CountRows(path_), 2);
}

// A writing statement seen before goes straight to the commit group; parameters that do not fit
// still fail only their own step, with the same errors.
TEST_P(SqliteDatabaseTest, BadParametersOfAKnownWriteFailOnlyThatStep) {
  SqliteDatabase db("app", path_, 2);
  const std::string insert = "INSERT INTO t (n) VALUES (:n)";
  ASSERT_TRUE(db.Execute(insert, {{"n", 1}}, 1s).ok());
  StatusOr<QueryResult> missing = db.Execute(insert, {{"m", 2}}, 1s);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find(":n"), std::string::npos)
      << missing.status().ToString();
  StatusOr<QueryResult> extra = db.Execute(insert, {{"n", 2}, {"extra", 3}}, 1s);
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(extra.status().message().find("extra"), std::string::npos) << extra.status().ToString();
  StatusOr<QueryResult> not_a_map = db.Execute(insert, Json::array(), 1s);
  EXPECT_EQ(not_a_map.status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(db.Execute(insert, {{"n", 3}}, 1s).ok());
  EXPECT_EQ(CountRows(path_), 2);
}

// Counts the answers to started writes, and those that changed one row.
struct WriteAnswers {
  std::atomic<int> ok{0};
  std::atomic<int> answered{0};
  Database::QueryDone Callback() {
    return [this](StatusOr<QueryResult> result) {
      if (result.ok() && result->changes == 1) ok.fetch_add(1);
      answered.fetch_add(1);
    };
  }
};

// Started writes of a statement seen before wait in the commit group's queue, not on threads:
// groups are not bounded by the pool's threads (32), only by the group size (64).
TEST_P(SqliteDatabaseTest, StartedWritesOfAKnownStatementShareCommitsWithoutThreads) {
  SqliteDatabase db("app", path_, 1);
  std::unique_ptr<GateHolder> held;
  ASSERT_NO_FATAL_FAILURE(KnownInsertThenHoldTheGate(db, held));
  const size_t commits_before = db.TEST_commit_group().TEST_commits();
  constexpr int kSteps = 200;
  WriteAnswers answers;
  auto start = [&](int n) {
    db.Start(kKnownInsert, {{"n", n}}, 10s, /*result_key=*/"", answers.Callback());
  };
  // The first step's group waits at the gate; the others wait in the queue.
  start(1);
  ASSERT_TRUE(testing::WaitUntil([&] { return gate_->TEST_waiters() > 0; }));
  for (int n = 2; n <= kSteps; ++n) start(n);
  EXPECT_EQ(db.queued(), static_cast<size_t>(kSteps - 1));
  held.reset();
  ASSERT_TRUE(testing::WaitUntil([&] { return answers.answered.load() == kSteps; }, 20s));
  EXPECT_EQ(answers.ok.load(), kSteps);
  EXPECT_EQ(CountRows(path_), kSteps + 1);
  // The first step alone, then 199 in groups of 64: 5 commits. With a thread per waiting step,
  // groups held at most 32 steps: 8 commits or more.
  EXPECT_EQ(db.TEST_commit_group().TEST_commits() - commits_before, 5u);
}

// Writes that wait on the pool's threads (a statement seen for the first time) and queued writes
// (one seen before) in one queue: the queued ones' drain runs on a thread of its own, so it takes
// the waiting ones even when they hold every pool thread. (On the pool, the drain queued behind
// them while they waited for it, until their timeout.)
TEST_P(SqliteDatabaseTest, QueuedWritesAndWritesHoldingEveryPoolThreadAllCommit) {
  SqliteDatabase db("app", path_, 1);
  std::unique_ptr<GateHolder> held;
  ASSERT_NO_FATAL_FAILURE(KnownInsertThenHoldTheGate(db, held));
  constexpr int kEach = 3 * static_cast<int>(SqliteDatabase::kMinWorkers);
  WriteAnswers answers;
  // Writes of a new statement take every pool thread the pool starts: one leads and waits for
  // the gate, the others wait in the commit queue, and the rest wait for a thread.
  for (int i = 1; i <= kEach; ++i) {
    db.Start("INSERT INTO t (n, by) VALUES (:n, 'new')", {{"n", 1000 + i}}, 30s, "",
             answers.Callback());
  }
  ASSERT_TRUE(testing::WaitUntil(
      [&] { return gate_->TEST_waiters() > 0 && db.queued() == static_cast<size_t>(kEach - 1); }));
  // Writes of a known statement queue behind them.
  for (int i = 1; i <= kEach; ++i) db.Start(kKnownInsert, {{"n", i}}, 30s, "", answers.Callback());
  held.reset();
  ASSERT_TRUE(testing::WaitUntil([&] { return answers.answered.load() == 2 * kEach; }, 10s))
      << answers.answered.load() << " of " << 2 * kEach << " answered";
  EXPECT_EQ(answers.ok.load(), 2 * kEach);
  EXPECT_EQ(CountRows(path_), 2 * kEach + 1);
}

// A started write still queued when its time runs out is answered as busy once the queue moves;
// the others commit.
TEST_P(SqliteDatabaseTest, StartedWriteQueuedPastItsDeadlineIsBusy) {
  SqliteDatabase db("app", path_, 1);
  std::unique_ptr<GateHolder> held;
  ASSERT_NO_FATAL_FAILURE(KnownInsertThenHoldTheGate(db, held));
  std::promise<StatusOr<QueryResult>> first;
  std::promise<StatusOr<QueryResult>> hasty;
  std::promise<StatusOr<QueryResult>> patient;
  db.Start(kKnownInsert, {{"n", 1}}, 10s, "", [&](StatusOr<QueryResult> r) { first.set_value(r); });
  ASSERT_TRUE(testing::WaitUntil([&] { return gate_->TEST_waiters() > 0; }));
  db.Start(kKnownInsert, {{"n", 2}}, 50ms, "",
           [&](StatusOr<QueryResult> r) { hasty.set_value(r); });
  db.Start(kKnownInsert, {{"n", 3}}, 10s, "",
           [&](StatusOr<QueryResult> r) { patient.set_value(r); });
  std::this_thread::sleep_for(100ms);
  held.reset();
  EXPECT_TRUE(first.get_future().get().ok());
  StatusOr<QueryResult> late = hasty.get_future().get();
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kUnavailable) << late.status().ToString();
  EXPECT_NE(late.status().message().find("busy"), std::string::npos);
  EXPECT_TRUE(patient.get_future().get().ok());
  EXPECT_EQ(CountRows(path_), 3);
}

// A step's transaction is flowrun's: transaction statements are refused before they run.
TEST_P(SqliteDatabaseTest, TransactionStatementsAreRefused) {
  SqliteDatabase db("app", path_, 2);
  for (const char* sql : {"BEGIN", "commit", "  -- note\n END", "ROLLBACK", "SAVEPOINT step",
                          "/* x */ RELEASE step", "begin immediate;"}) {
    StatusOr<QueryResult> out = db.Execute(sql, Json::object(), 1s);
    ASSERT_FALSE(out.ok()) << sql;
    EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument) << sql;
    EXPECT_NE(out.status().message().find("transaction"), std::string::npos) << sql;
  }
  EXPECT_TRUE(db.Execute("INSERT INTO t (n, by) VALUES (1, 'BEGIN')", Json::object(), 1s).ok());
}

INSTANTIATE_TEST_SUITE_P(JournalModes, SqliteDatabaseTest, ::testing::Values("WAL", "DELETE"));

}  // namespace
}  // namespace flowrun
