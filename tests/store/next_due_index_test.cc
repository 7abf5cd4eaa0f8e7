// Store::NextDueTime looks at unleased runs only. With thousands of runs leased (actions in
// flight at a slow API) it must not step over them: each store's schema has an index of the
// unleased due runs alone (runs_due_unleased), and the probe's query is planned on it.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>
#include <string>

#include "common/simulated_clock.h"
#include "store/pg_connection.h"
#include "testing/store_kinds.h"
#include "testing/store_records.h"

namespace flowrun::store {
namespace {

constexpr int kLeasedRuns = 300;

// The query shape of NextDueTime's run side.
constexpr const char* kEarliestUnleasedDue =
    "SELECT due_at FROM runs WHERE due_at IS NOT NULL AND lease_owner IS NULL ORDER BY due_at "
    "LIMIT 1";

class NextDueIndexTest : public StoreKindTest {
 protected:
  void MustCreate(RunRecord run) {
    CreateRunOp create;
    create.run = std::move(run);
    WriteBatch batch;
    batch.Add(std::move(create));
    auto result = store_->Commit(std::move(batch));
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    ASSERT_TRUE(result->status.ok()) << result->status.ToString();
  }

  // What the database's planner says about kEarliestUnleasedDue, after fresh statistics.
  std::string PlanOfTheProbe() {
    if (GetParam() == StoreKind::kPostgres) {
      auto db = PgConnection::Open(backend_.url(), "test");
      EXPECT_TRUE(db.ok()) << db.status().ToString();
      if (!db.ok()) return "";
      EXPECT_TRUE((*db)->ExecScript("ANALYZE runs").ok());
      auto plan = (*db)->Exec(std::string("EXPLAIN ") + kEarliestUnleasedDue);
      EXPECT_TRUE(plan.ok()) << plan.status().ToString();
      std::string text;
      for (int i = 0; plan.ok() && i < plan->rows(); ++i) text += plan->Text(i, 0) + "\n";
      return text;
    }
    const std::string path = backend_.url().substr(std::string("sqlite:").size());
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db, "ANALYZE", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_stmt* plan = nullptr;
    EXPECT_EQ(
        sqlite3_prepare_v2(db, (std::string("EXPLAIN QUERY PLAN ") + kEarliestUnleasedDue).c_str(),
                           -1, &plan, nullptr),
        SQLITE_OK);
    std::string text;
    while (plan && sqlite3_step(plan) == SQLITE_ROW) {
      text += reinterpret_cast<const char*>(sqlite3_column_text(plan, 3));
      text += "\n";
    }
    sqlite3_finalize(plan);
    sqlite3_close(db);
    return text;
  }
};

TEST_P(NextDueIndexTest, TheProbeSkipsLeasedRunsThroughItsOwnIndex) {
  for (int i = 0; i < kLeasedRuns; ++i) {
    MustCreate(testing::QueuedRun("leased" + std::to_string(i), clock_.Now()));
  }
  auto claimed = store_->ClaimRuns("node", clock_.Now(), kLeasedRuns, std::chrono::minutes(1));
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), static_cast<size_t>(kLeasedRuns));
  RunRecord idle = testing::QueuedRun("idle", clock_.Now());
  idle.due_at = clock_.Now() + std::chrono::hours(1);
  MustCreate(idle);

  auto next = store_->NextDueTime();
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(*next, clock_.Now() + std::chrono::hours(1));
  const std::string plan = PlanOfTheProbe();
  EXPECT_NE(plan.find("runs_due_unleased"), std::string::npos) << plan;
}

INSTANTIATE_TEST_SUITE_P(Stores, NextDueIndexTest, ::testing::ValuesIn(AllStoreKinds()),
                         [](const auto& info) { return std::string(StoreKindName(info.param)); });

}  // namespace
}  // namespace flowrun::store
