// A leased run's steps update its row without moving any indexed column: the engine keeps the
// lease's end, and with it due_at, while the lease still covers the next action
// (engine/lease_term.h). The runs table leaves room on its pages (schema version 5), so that
// PostgreSQL writes those updates in place (HOT) rather than adding an entry to every index.
// These tests count the HOT updates in PostgreSQL's own statistics.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/simulated_clock.h"
#include "store/pg_connection.h"
#include "store/postgres_store.h"
#include "testing/store_kinds.h"
#include "testing/store_records.h"

namespace flowrun::store {
namespace {

constexpr int kRuns = 400;
constexpr int kStepsPerRun = 3;
// The steps of a page's runs end at different times, in different group commits.
constexpr size_t kRunsPerCommit = 16;

struct UpdateCounts {
  int64_t updates = 0;
  int64_t hot = 0;
};

class PostgresHotUpdateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = FreshPostgresDatabase();
    ASSERT_FALSE(url_.empty());
    auto opened = PostgresStore::Open({.url = url_, .clock = &clock_});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }

  void MustCommit(WriteBatch batch) {
    auto result = store_->Commit(std::move(batch));
    ASSERT_TRUE(result.ok()) << result.status().ToString();
    ASSERT_TRUE(result->status.ok()) << result->status.ToString();
  }

  void MustCommitMany(std::vector<WriteBatch> batches) {
    auto results = store_->CommitMany(std::move(batches));
    ASSERT_TRUE(results.ok()) << results.status().ToString();
    for (const BatchResult& result : *results) {
      ASSERT_TRUE(result.status.ok()) << result.status.ToString();
    }
  }

  // The runs table's row updates so far. A backend reports its counts when it exits, so the store
  // is closed first; the counts are read until they reach `expected_updates` (or 10 s pass).
  UpdateCounts CountsAfterClosing(int64_t expected_updates) {
    store_.reset();
    auto db = PgConnection::Open(url_, "test");
    EXPECT_TRUE(db.ok()) << db.status().ToString();
    UpdateCounts counts;
    if (!db.ok()) return counts;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      EXPECT_TRUE((*db)->ExecScript("SELECT pg_stat_clear_snapshot()").ok());
      auto row = (*db)->Exec(
          "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'runs'");
      EXPECT_TRUE(row.ok()) << row.status().ToString();
      if (!row.ok() || row->rows() != 1) return counts;
      counts = {row->Int(0, 0), row->Int(0, 1)};
      if (counts.updates >= expected_updates || std::chrono::steady_clock::now() > deadline) {
        return counts;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  SimulatedClock clock_;
  std::string url_;
  std::unique_ptr<Store> store_;
};

TEST_F(PostgresHotUpdateTest, StepsOfALeasedRunThatKeepItsLeaseAreWrittenInPlace) {
  // The runs are inserted together, so that they fill whole pages, as a burst of events does.
  const TimePoint lease_end = clock_.Now() + std::chrono::minutes(2);
  WriteBatch create;
  for (int i = 0; i < kRuns; ++i) {
    CreateRunOp op;
    op.run = testing::QueuedRun("run" + std::to_string(i), clock_.Now());
    op.run.status = RunStatus::kRunning;
    op.run.lease_owner = "node";
    op.run.lease_token = kFirstLeaseToken;
    op.run.lease_until = lease_end;
    op.run.due_at = op.run.lease_until;
    create.Add(std::move(op));
  }
  MustCommit(std::move(create));

  // Each step: the run's lease check, its journal entry and its update, which keeps the status
  // and the due time (the lease's end), as the engine writes it while the lease covers the step.
  for (int step = 0; step < kStepsPerRun; ++step) {
    clock_.Advance(std::chrono::milliseconds(5));
    std::vector<WriteBatch> batches;
    for (int i = 0; i < kRuns; ++i) {
      if (batches.size() == kRunsPerCommit) {
        MustCommitMany(std::move(batches));
        batches.clear();
      }
      const std::string id = "run" + std::to_string(i);
      WriteBatch batch;
      batch.Add(RequireLeaseOp{id, "node", kFirstLeaseToken});
      JournalEntry entry;
      entry.run_id = id;
      entry.step_key = "step" + std::to_string(step);
      entry.data = {{"output", {{"n", i}}}};
      entry.at = clock_.Now();
      batch.Add(AppendJournalOp{std::move(entry)});
      batch.Add(UpdateRunOp{.run_id = id,
                            .status = RunStatus::kRunning,
                            .due_at = lease_end,
                            .output = nullptr,
                            .error = nullptr,
                            .ended_at = std::nullopt,
                            .release_lease = false,
                            .lease_until = std::nullopt});
      batches.push_back(std::move(batch));
    }
    MustCommitMany(std::move(batches));
  }

  const int64_t step_updates = static_cast<int64_t>(kRuns) * kStepsPerRun;
  const UpdateCounts counts = CountsAfterClosing(step_updates);
  EXPECT_EQ(counts.updates, step_updates);
  // Without room on the pages, every first update of a full page's rows moves them elsewhere.
  EXPECT_GE(counts.hot, step_updates * 95 / 100)
      << counts.hot << " of " << counts.updates << " updates were HOT";
}

}  // namespace
}  // namespace flowrun::store
