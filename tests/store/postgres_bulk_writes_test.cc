// PostgresStore applies a group commit's plain batches in bulk, a statement per kind of op
// (postgres_store.h). These tests check which commits take that path, that a commit it cannot
// take goes batch by batch with the same results, and that a failing bulk statement leaves the
// batches to succeed or fail alone. The results themselves are the store contract's
// (store_contract_test.cc), run on both stores.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/simulated_clock.h"
#include "store/postgres_store.h"
#include "testing/store_kinds.h"
#include "testing/store_records.h"

namespace flowrun::store {
namespace {

constexpr auto kDay = std::chrono::hours(24);

class PostgresBulkWritesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string url = FreshPostgresDatabase();
    ASSERT_FALSE(url.empty());
    auto opened = PostgresStore::Open({.url = url, .clock = &clock_});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    store_ = std::move(*opened);
  }
  RunRecord NewRun(const std::string& id) { return testing::QueuedRun(id, clock_.Now()); }
  EventRecord NewEvent(const std::string& id, const std::string& name = "e") {
    return testing::NamedEvent(id, name, clock_.Now());
  }
  static WriteBatch BatchOf(WriteOp op) {
    WriteBatch batch;
    batch.ops.push_back(std::move(op));
    return batch;
  }
  // A running run leased to "node" (kFirstLeaseToken) for a minute.
  void CreateRunLeasedToNode(const std::string& id) {
    RunRecord run = NewRun(id);
    run.status = RunStatus::kRunning;
    run.lease_owner = "node";
    run.lease_until = clock_.Now() + std::chrono::minutes(1);
    run.due_at = run.lease_until;
    auto created = store_->Commit(BatchOf(CreateRunOp{run, kDay, {}}));
    ASSERT_TRUE(created.ok() && created->status.ok()) << id;
  }
  std::vector<BatchResult> MustCommitMany(std::vector<WriteBatch> batches) {
    auto results = store_->CommitMany(std::move(batches));
    EXPECT_TRUE(results.ok()) << results.status().ToString();
    return results.ok() ? *results : std::vector<BatchResult>{};
  }

  SimulatedClock clock_;
  std::unique_ptr<PostgresStore> store_;
};

TEST_F(PostgresBulkWritesTest, PlainBatchesOfOneCommitAreAppliedInBulk) {
  std::vector<WriteBatch> batches;
  for (int i = 0; i < 5; ++i) {
    const std::string id = std::to_string(i);
    WriteBatch batch;
    batch.Add(InsertEventOp{NewEvent("e" + id)});
    RunRecord run = NewRun("r" + id);
    run.trigger_event_id = "e" + id;
    batch.Add(CreateRunOp{run, kDay, {}});
    batches.push_back(std::move(batch));
  }
  std::vector<BatchResult> results = MustCommitMany(std::move(batches));
  ASSERT_EQ(results.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(results[i].created_runs, std::vector<std::string>{"r" + std::to_string(i)});
    EXPECT_EQ(results[i].inserted_events, std::vector<std::string>{"e" + std::to_string(i)});
  }
  EXPECT_EQ(store_->TEST_batches_in_bulk(), 5);
  EXPECT_EQ(store_->TEST_transactions(), 1);
}

TEST_F(PostgresBulkWritesTest, ACommitThatCreatesARunTwiceGoesBatchByBatch) {
  std::vector<WriteBatch> batches;
  batches.push_back(BatchOf(CreateRunOp{NewRun("r"), kDay, {}}));
  batches.push_back(BatchOf(CreateRunOp{NewRun("r"), kDay, {}}));
  std::vector<BatchResult> results = MustCommitMany(std::move(batches));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].created_runs, std::vector<std::string>{"r"});
  EXPECT_EQ(results[1].skipped_runs, std::vector<std::string>{"r"});
  EXPECT_EQ(store_->TEST_batches_in_bulk(), 0);
}

TEST_F(PostgresBulkWritesTest, ACommitWithAnOpThatNeedsDecidingGoesBatchByBatch) {
  // An event with a client id is deduplicated, and a run with an idempotency key decided, one by
  // one; the plain batch beside them in the same commit goes with them.
  EventRecord deduplicated = NewEvent("e1");
  deduplicated.client_id = "client";
  RunRecord keyed = NewRun("keyed");
  keyed.idempotency_key = "k";
  std::vector<WriteBatch> batches;
  batches.push_back(BatchOf(InsertEventOp{deduplicated}));
  batches.push_back(BatchOf(CreateRunOp{keyed, kDay, {}}));
  batches.push_back(BatchOf(CreateRunOp{NewRun("plain"), kDay, {}}));
  std::vector<BatchResult> results = MustCommitMany(std::move(batches));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].inserted_events, std::vector<std::string>{"e1"});
  EXPECT_EQ(results[1].created_runs, std::vector<std::string>{"keyed"});
  EXPECT_EQ(results[2].created_runs, std::vector<std::string>{"plain"});
  EXPECT_EQ(store_->TEST_batches_in_bulk(), 0);
}

TEST_F(PostgresBulkWritesTest, ABatchThatFailsABulkStatementFailsAloneWithAClearError) {
  // PostgreSQL text cannot hold a NUL character: the bulk INSERT of the events fails, the group
  // runs again batch by batch, and only the event that holds one is refused.
  std::vector<WriteBatch> batches;
  batches.push_back(BatchOf(InsertEventOp{NewEvent("before")}));
  batches.push_back(BatchOf(InsertEventOp{NewEvent("bad", std::string("a\0b", 3))}));
  batches.push_back(BatchOf(InsertEventOp{NewEvent("after")}));
  std::vector<BatchResult> results = MustCommitMany(std::move(batches));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_FALSE(results[1].status.ok());
  EXPECT_NE(results[1].status.message().find("\\u0000"), std::string::npos)
      << results[1].status.ToString();
  EXPECT_TRUE(results[1].inserted_events.empty());
  EXPECT_TRUE(results[2].status.ok()) << results[2].status.ToString();
  EXPECT_TRUE(store_->GetEvent("before")->has_value());
  EXPECT_FALSE(store_->GetEvent("bad")->has_value());
  EXPECT_TRUE(store_->GetEvent("after")->has_value());
  EXPECT_EQ(store_->TEST_batches_in_bulk(), 0);
}

TEST_F(PostgresBulkWritesTest, ASecondCompletionOfAStepSendsTheGroupBatchByBatchAndIsIgnored) {
  // The bulk appends the journal without ON CONFLICT: a second completion fails its statement,
  // and batch by batch it is ignored, as the contract says.
  ASSERT_TRUE(store_->Commit(BatchOf(CreateRunOp{NewRun("r"), kDay, {}})).ok());
  auto completion = [&](int output) {
    return AppendJournalOp{JournalEntry{.run_id = "r",
                                        .step_key = "a",
                                        .kind = JournalKind::kCompleted,
                                        .data = Json{{"output", output}},
                                        .at = clock_.Now()}};
  };
  std::vector<WriteBatch> first;
  first.push_back(BatchOf(completion(1)));
  first.push_back(BatchOf(CreateRunOp{NewRun("beside"), kDay, {}}));
  MustCommitMany(std::move(first));
  EXPECT_EQ(store_->TEST_batches_in_bulk(), 3);  // with the run's creation before
  std::vector<WriteBatch> again;
  again.push_back(BatchOf(completion(2)));
  again.push_back(BatchOf(CreateRunOp{NewRun("after"), kDay, {}}));
  std::vector<BatchResult> results = MustCommitMany(std::move(again));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(results[1].created_runs, std::vector<std::string>{"after"});
  EXPECT_EQ(store_->TEST_batches_in_bulk(), 3);
  auto journal = store_->LoadJournal("r");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 1u);
  EXPECT_EQ((*journal)[0].data, (Json{{"output", 1}}));
}

TEST_F(PostgresBulkWritesTest, ABatchWhoseLeaseIsLostFailsAloneAndIsLoggedOnce) {
  // The bulk sends its writes before it reads the leases (one round trip): a lease that does not
  // hold undoes the group, which goes again batch by batch, where that batch alone is refused
  // and logged, once.
  std::vector<std::string> lines;
  DefaultLogger().Configure({.sink = [&](std::string_view line) { lines.emplace_back(line); }});
  for (const char* id : {"held", "lost"}) CreateRunLeasedToNode(id);
  auto step = [&](const std::string& run, const std::string& owner) {
    WriteBatch batch;
    batch.Add(RequireLeaseOp{run, owner, kFirstLeaseToken});
    batch.Add(UpdateRunOp{.run_id = run,
                          .status = RunStatus::kSleeping,
                          .due_at = clock_.Now() + std::chrono::hours(1),
                          .output = nullptr,
                          .error = nullptr,
                          .ended_at = std::nullopt,
                          .release_lease = true,
                          .lease_until = std::nullopt});
    return batch;
  };
  const int64_t in_bulk_before = store_->TEST_batches_in_bulk();
  std::vector<WriteBatch> batches;
  batches.push_back(step("held", "node"));
  batches.push_back(step("lost", "other-node"));
  batches.push_back(BatchOf(InsertEventOp{NewEvent("beside")}));
  std::vector<BatchResult> results = MustCommitMany(std::move(batches));
  DefaultLogger().Configure({});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(results[1].status.code(), StatusCode::kAborted) << results[1].status.ToString();
  EXPECT_TRUE(results[2].status.ok()) << results[2].status.ToString();
  EXPECT_EQ(store_->TEST_batches_in_bulk(), in_bulk_before);
  EXPECT_EQ((*store_->GetRun("held"))->status, RunStatus::kSleeping);
  EXPECT_EQ((*store_->GetRun("lost"))->status, RunStatus::kRunning);
  EXPECT_TRUE(store_->GetEvent("beside")->has_value());
  int refused = 0;
  for (const std::string& line : lines) {
    refused += line.find("refused a write") != std::string::npos &&
               line.find("\"run\":\"lost\"") != std::string::npos;
  }
  EXPECT_EQ(refused, 1) << ::testing::PrintToString(lines);
}

TEST_F(PostgresBulkWritesTest, AStepFencedByItsUpdateCommitsInBulkOnlyUnderItsOwnLease) {
  // A batch's lease check on the run it updates rides with the update (it finds the run only
  // while the lease holds); a check on a run the batch does not update reads the lease. A stale
  // token or another owner on either path refuses that batch alone, journal entry included.
  for (const char* id : {"a", "b", "stale", "checked", "checked-lost", "other"}) {
    CreateRunLeasedToNode(id);
  }
  auto step = [&](const std::string& checked, int64_t token, const std::string& updated) {
    WriteBatch batch;
    batch.Add(RequireLeaseOp{checked, "node", token});
    batch.Add(AppendJournalOp{JournalEntry{.run_id = updated,
                                           .step_key = "call",
                                           .kind = JournalKind::kCompleted,
                                           .data = Json{{"output", 1}},
                                           .at = clock_.Now()}});
    batch.Add(UpdateRunOp{.run_id = updated,
                          .status = RunStatus::kCompleted,
                          .due_at = std::nullopt,
                          .output = Json(1),
                          .error = nullptr,
                          .ended_at = clock_.Now(),
                          .release_lease = true,
                          .lease_until = std::nullopt});
    return batch;
  };
  // Every lease holds: the group stays in bulk.
  int64_t in_bulk = store_->TEST_batches_in_bulk();
  std::vector<WriteBatch> held;
  held.push_back(step("a", kFirstLeaseToken, "a"));
  held.push_back(step("checked", kFirstLeaseToken, "other"));
  std::vector<BatchResult> results = MustCommitMany(std::move(held));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_TRUE(results[1].status.ok()) << results[1].status.ToString();
  EXPECT_EQ(store_->TEST_batches_in_bulk(), in_bulk + 2);
  EXPECT_EQ((*store_->GetRun("a"))->status, RunStatus::kCompleted);
  EXPECT_EQ((*store_->GetRun("other"))->status, RunStatus::kCompleted);
  // A stale token on the fenced path, another owner's lease on the read path.
  std::vector<WriteBatch> mixed;
  mixed.push_back(step("b", kFirstLeaseToken, "b"));
  mixed.push_back(step("stale", kFirstLeaseToken - 1, "stale"));
  WriteBatch lost = step("checked-lost", kFirstLeaseToken, "checked");
  std::get<RequireLeaseOp>(lost.ops.front()).owner = "other-node";
  mixed.push_back(std::move(lost));
  results = MustCommitMany(std::move(mixed));
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].status.ok()) << results[0].status.ToString();
  EXPECT_EQ(results[1].status.code(), StatusCode::kAborted) << results[1].status.ToString();
  EXPECT_EQ(results[2].status.code(), StatusCode::kAborted) << results[2].status.ToString();
  EXPECT_EQ((*store_->GetRun("b"))->status, RunStatus::kCompleted);
  for (const char* refused : {"stale", "checked"}) {
    EXPECT_EQ((*store_->GetRun(refused))->status, RunStatus::kRunning) << refused;
    auto journal = store_->LoadJournal(refused);
    ASSERT_TRUE(journal.ok());
    EXPECT_TRUE(journal->empty()) << refused;
  }
}

TEST_F(PostgresBulkWritesTest, ATextParameterWithANulCharacterIsRefusedNotCut) {
  // One by one, a NUL would reach libpq, which reads a text parameter up to it.
  std::vector<WriteBatch> batches;
  batches.push_back(BatchOf(DeleteWaitsOp{std::string("run\0tail", 8)}));
  batches.push_back(BatchOf(CreateRunOp{NewRun("after"), kDay, {}}));
  std::vector<BatchResult> results = MustCommitMany(std::move(batches));
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(results[0].status.message().find("NUL character"), std::string::npos)
      << results[0].status.ToString();
  EXPECT_EQ(results[1].created_runs, std::vector<std::string>{"after"});
}

}  // namespace
}  // namespace flowrun::store
