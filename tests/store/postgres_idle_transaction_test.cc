// A node paused inside a PostgreSQL store transaction (SIGSTOP, a stalled VM) must not hold its
// row locks, and with them every other node, for as long as it stays paused: the store's
// connections carry idle_in_transaction_session_timeout (StoreOpenOptions), so the server ends
// such a session and its locks go with it.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/simulated_clock.h"
#include "store/store_url.h"
#include "testing/store_kinds.h"

namespace flowrun::store {
namespace {

TEST(PostgresUrlWithSettingTest, AddsTheSettingToTheSessionOptions) {
  EXPECT_EQ(PostgresUrlWithSetting("postgresql://u@h:5432/db", "a", "1"),
            "postgresql://u@h:5432/db?options=-c%20a%3D1");
  EXPECT_EQ(PostgresUrlWithSetting("postgres://u@h/db?sslmode=disable", "a", "1"),
            "postgres://u@h/db?sslmode=disable&options=-c%20a%3D1");
  // The URI's own options stay; ours come after them.
  EXPECT_EQ(PostgresUrlWithSetting("postgres://h/db?options=-c%20b%3D2&sslmode=disable", "a", "1"),
            "postgres://h/db?options=-c%20b%3D2%20-c%20a%3D1&sslmode=disable");
  EXPECT_EQ(PostgresUrlWithSetting("postgres://h/db?application_name=x#frag", "a", "1"),
            "postgres://h/db?application_name=x&options=-c%20a%3D1#frag");
}

TEST(PostgresIdleTransactionTest, APausedTransactionLosesItsSessionAndItsLocks) {
  const std::string url = FreshPostgresDatabase();
  ASSERT_FALSE(url.empty());
  auto paused = PgConnection::Open(
      PostgresUrlWithSetting(url, "idle_in_transaction_session_timeout", "300"), "paused");
  ASSERT_TRUE(paused.ok()) << paused.status().ToString();
  auto shown = (*paused)->Exec("SHOW idle_in_transaction_session_timeout");
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(shown->Text(0, 0), "300ms");

  auto other = PgConnection::Open(url, "other");
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  ASSERT_TRUE((*other)
                  ->ExecScript("CREATE TABLE t (id int PRIMARY KEY, v int);"
                               "INSERT INTO t VALUES (1, 0)")
                  .ok());
  // The "paused" session locks the row, then goes quiet inside its transaction.
  ASSERT_TRUE((*paused)->ExecScript("BEGIN; UPDATE t SET v = 1 WHERE id = 1").ok());

  // Another session waits for the row; the server ends the idle transaction and lets it through
  // well before the 20 s lock_timeout.
  const auto start = std::chrono::steady_clock::now();
  Status updated =
      (*other)->ExecScript("SET lock_timeout = '20s'; UPDATE t SET v = 2 WHERE id = 1");
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(updated.ok()) << updated.ToString();
  EXPECT_LT(waited, std::chrono::seconds(10));

  // The paused session lost its transaction: nothing it wrote is committed, and its connection
  // is no longer usable (a store replaces such a connection before its next transaction).
  Status late = (*paused)->ExecScript("UPDATE t SET v = 3 WHERE id = 1; COMMIT");
  EXPECT_FALSE(late.ok());
  EXPECT_FALSE((*paused)->healthy());
  auto value = (*other)->Exec("SELECT v FROM t WHERE id = 1");
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(value->Int(0, 0), 2);
}

TEST(PostgresIdleTransactionTest, AStoreOpenedWithTheTimeoutWorks) {
  const std::string url = FreshPostgresDatabase();
  ASSERT_FALSE(url.empty());
  SimulatedClock clock;
  auto opened = OpenStore(url, {.clock = &clock,
                                .open_outbox = true,
                                .idle_in_transaction_timeout = std::chrono::milliseconds(500)});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ASSERT_TRUE(opened->outbox && opened->wakes);
  RunRecord run;
  run.id = "run";
  run.flow_id = "flow";
  run.revision = "r1";
  run.created_at = clock.Now();
  run.due_at = clock.Now();
  CreateRunOp create;
  create.run = run;
  WriteBatch batch;
  batch.Add(std::move(create));
  auto committed = opened->store->Commit(std::move(batch));
  ASSERT_TRUE(committed.ok()) << committed.status().ToString();
  EXPECT_TRUE(committed->status.ok()) << committed->status.ToString();
  // Idle between transactions (not inside one) is not cut off.
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  auto loaded = opened->store->GetRun("run");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->has_value());
}

}  // namespace
}  // namespace flowrun::store
