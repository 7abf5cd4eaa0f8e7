#include "store/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <thread>

#include "common/simulated_clock.h"
#include "testing/paths.h"
#include "testing/store_records.h"

namespace flowrun::store {
namespace {

using flowrun::SimulatedClock;
using flowrun::testing::MakeTempDir;

class SqliteStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> Open() {
    auto store = SqliteStore::Open({.path = path_, .clock = &clock_});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  RunRecord NewRun(const std::string& id) { return testing::QueuedRun(id, clock_.Now()); }
  std::string path_ = MakeTempDir() + "/store.db";
  SimulatedClock clock_;
};

TEST_F(SqliteStoreTest, CreatesRunsAndReadsThemBack) {
  auto store = Open();
  WriteBatch batch;
  batch.Add(CreateRunOp{NewRun("r1"), std::chrono::hours(24), {}});
  auto result = store->Commit(std::move(batch));
  ASSERT_TRUE(result.ok() && result->status.ok());
  EXPECT_EQ(result->created_runs, std::vector<std::string>{"r1"});
  auto run = store->GetRun("r1");
  ASSERT_TRUE(run.ok() && run->has_value());
  EXPECT_EQ((*run)->status, RunStatus::kQueued);
  // Survives reopening.
  store.reset();
  store = Open();
  ASSERT_TRUE(store->GetRun("r1").ok());
  EXPECT_TRUE(store->GetRun("r1")->has_value());
}

TEST_F(SqliteStoreTest, BatchFailingAfterWritingRollsBackOnlyItself) {
  auto store = Open();
  std::vector<WriteBatch> batches(3);
  batches[0].Add(CreateRunOp{NewRun("before"), std::chrono::hours(24), {}});
  // Writes a run, then fails: a lease nobody holds.
  batches[1].Add(CreateRunOp{NewRun("doomed"), std::chrono::hours(24), {}});
  batches[1].Add(RequireLeaseOp{"doomed", "nobody"});
  batches[2].Add(CreateRunOp{NewRun("after"), std::chrono::hours(24), {}});
  auto results = store->CommitMany(std::move(batches));
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 3u);
  EXPECT_TRUE((*results)[0].status.ok());
  EXPECT_EQ((*results)[1].status.code(), StatusCode::kAborted);
  EXPECT_TRUE((*results)[1].created_runs.empty());
  EXPECT_TRUE((*results)[2].status.ok());
  EXPECT_EQ((*results)[2].created_runs, std::vector<std::string>{"after"});
  EXPECT_TRUE(store->GetRun("before")->has_value());
  EXPECT_FALSE(store->GetRun("doomed")->has_value());
  EXPECT_TRUE(store->GetRun("after")->has_value());
}

TEST_F(SqliteStoreTest, DuplicateClientIdRollsBackOnlyItsBatch) {
  auto store = Open();
  auto event = [&](std::string id) {
    EventRecord e;
    e.id = id;
    e.name = "n";
    e.ts = clock_.Now();
    e.client_id = "client";
    WriteBatch batch;
    batch.Add(InsertEventOp{e, std::chrono::hours(24), true});
    RunRecord run = NewRun("run-" + id);
    run.trigger_event_id = id;
    batch.Add(CreateRunOp{run, std::chrono::hours(24), {}});
    return batch;
  };
  std::vector<WriteBatch> batches;
  batches.push_back(event("e1"));
  batches.push_back(event("e2"));
  auto results = store->CommitMany(std::move(batches));
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE((*results)[0].status.ok());
  EXPECT_EQ((*results)[1].status.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ((*results)[1].duplicate_of, "e1");
  EXPECT_FALSE(store->GetRun("run-e2")->has_value());
  // After the window the id may be used again.
  clock_.Advance(std::chrono::hours(25));
  auto again = store->Commit(event("e3"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->status.ok());
}

TEST_F(SqliteStoreTest, ResolveWaitClaimsOnce) {
  auto store = Open();
  WriteBatch batch;
  batch.Add(CreateRunOp{NewRun("r"), std::chrono::hours(24), {}});
  WaitRecord wait;
  wait.id = "w";
  wait.run_id = "r";
  wait.step_key = "wait";
  wait.event_name = "e";
  wait.match_path = "data.k";
  wait.match_key = "1";
  wait.created_at = clock_.Now();
  batch.Add(RegisterWaitOp{wait});
  ASSERT_TRUE(store->Commit(std::move(batch)).ok());
  auto found = store->FindIndexedWaits("e", "data.k", "1", "", 10);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  WriteBatch first, second;
  first.Add(ResolveWaitOp{"w", Json{{"first", true}}});
  second.Add(ResolveWaitOp{"w", Json{{"second", true}}});
  std::vector<WriteBatch> both;
  both.push_back(std::move(first));
  both.push_back(std::move(second));
  auto results = store->CommitMany(std::move(both));
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].resolved_waits.size(), 1u);
  EXPECT_TRUE((*results)[1].resolved_waits.empty());
  auto journal = store->LoadJournal("r");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 1u);
  EXPECT_EQ((*journal)[0].data["output"], (Json{{"first", true}}));
}

TEST_F(SqliteStoreTest, GroupCommitSharesTransactionsAcrossThreads) {
  auto store = Open();
  constexpr int kThreads = 8, kPerThread = 50;
  int64_t before = store->TEST_transactions();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        WriteBatch batch;
        batch.Add(CreateRunOp{
            NewRun("r" + std::to_string(t) + "-" + std::to_string(i)), std::chrono::hours(24), {}});
        auto result = store->Commit(std::move(batch));
        ASSERT_TRUE(result.ok() && result->status.ok());
        // Acknowledged means committed: visible to a fresh reader.
        auto run = store->GetRun("r" + std::to_string(t) + "-" + std::to_string(i));
        ASSERT_TRUE(run.ok() && run->has_value());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  int64_t transactions = store->TEST_transactions() - before;
  EXPECT_LE(transactions, kThreads * kPerThread);
  auto runs = store->ListRuns({.limit = 1000});
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_F(SqliteStoreTest, ClaimLeasesOnceAndHonoursConcurrency) {
  auto store = Open();
  WriteBatch batch;
  for (int i = 0; i < 3; ++i) {
    RunRecord run = NewRun("r" + std::to_string(i));
    run.concurrency_key = "k";
    run.concurrency_limit = 2;
    batch.Add(CreateRunOp{run, std::chrono::hours(24), {}});
  }
  ASSERT_TRUE(store->Commit(std::move(batch)).ok());
  auto first = store->ClaimRuns("a", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->size(), 2u);
  auto second = store->ClaimRuns("b", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  ASSERT_TRUE(store->ReleaseLeases("a").ok());
  auto third = store->ClaimRuns("b", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(third->size(), 2u);
}

TEST_F(SqliteStoreTest, CorruptFileIsAClearErrorAndUntouched) {
  {
    std::ofstream out(path_, std::ios::binary);
    out << std::string(8192, 'x');
  }
  auto store = SqliteStore::Open({.path = path_});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss) << store.status().ToString();
  EXPECT_NE(store.status().message().find("not a flowrun database or is corrupt"),
            std::string::npos);
  std::ifstream in(path_, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, std::string(8192, 'x'));
}

TEST_F(SqliteStoreTest, LockedFileIsAClearError) {
  { auto store = Open(); }
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE", nullptr, nullptr,
                         nullptr),
            SQLITE_OK);
  auto store = SqliteStore::Open({.path = path_, .busy_timeout_ms = 50});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status().ToString();
  EXPECT_NE(store.status().message().find("locked"), std::string::npos);
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  auto reopened = SqliteStore::Open({.path = path_});
  EXPECT_TRUE(reopened.ok());
}

TEST_F(SqliteStoreTest, NewerSchemaIsRefused) {
  { auto store = Open(); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE schema_version SET version = 999", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = SqliteStore::Open({.path = path_});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(store.status().message().find("newer"), std::string::npos);
}

JournalEntry Entry(const std::string& run, const std::string& key, JournalKind kind, Json data) {
  return JournalEntry{.run_id = run, .step_key = key, .kind = kind, .data = std::move(data)};
}

TEST_F(SqliteStoreTest, JournalKeepsOrderAndOneCompletionPerStepAcrossReopening) {
  auto store = Open();
  WriteBatch batch;
  batch.Add(AppendJournalOp{Entry("r1", "a", JournalKind::kAttempt, {{"attempt", 1}})});
  batch.Add(AppendJournalOp{Entry("r1", "a", JournalKind::kAttempt, {{"attempt", 2}})});
  batch.Add(AppendJournalOp{Entry("r1", "a", JournalKind::kCompleted, {{"output", 1}})});
  batch.Add(AppendJournalOp{Entry("r1", "a", JournalKind::kCompleted, {{"output", 2}})});
  batch.Add(AppendJournalOp{Entry("r2", "a", JournalKind::kCompleted, {{"output", 3}})});
  ASSERT_TRUE(store->Commit(std::move(batch)).ok());
  store.reset();
  store = Open();  // the seq counter carries on where it was
  WriteBatch more;
  more.Add(AppendJournalOp{Entry("r1", "b", JournalKind::kCompleted, {{"output", 4}})});
  ASSERT_TRUE(store->Commit(std::move(more)).ok());
  auto journal = store->LoadJournal("r1");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 4u);
  EXPECT_EQ((*journal)[0].data, (Json{{"attempt", 1}}));
  EXPECT_EQ((*journal)[1].data, (Json{{"attempt", 2}}));
  EXPECT_EQ((*journal)[2].data, (Json{{"output", 1}}));  // the second completion was ignored
  EXPECT_EQ((*journal)[3].step_key, "b");
  for (size_t i = 1; i < journal->size(); ++i) EXPECT_LT((*journal)[i - 1].seq, (*journal)[i].seq);
}

TEST_F(SqliteStoreTest, MigratesAVersion4JournalKeepingItsEntriesAndOrder) {
  { auto store = Open(); }
  // Put the file back to schema version 4, with the journal as it was then.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  const char* downgrade = R"sql(
DROP TABLE journal;
DROP TABLE counters;
ALTER TABLE runs DROP COLUMN lease_token;
CREATE TABLE journal (seq INTEGER PRIMARY KEY, run_id TEXT NOT NULL, step_key TEXT NOT NULL,
  kind TEXT NOT NULL, data TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX journal_run ON journal(run_id, seq);
CREATE UNIQUE INDEX journal_completed ON journal(run_id, step_key) WHERE kind = 'completed';
INSERT INTO journal VALUES (7, 'r1', 'a', 'attempt', '{"attempt":1}', 0);
INSERT INTO journal VALUES (9, 'r1', 'a', 'completed', '{"output":1}', 0);
INSERT INTO journal VALUES (12, 'r1', 'b', 'started', '{"wake_at":5}', 0);
DROP INDEX runs_singleton;
ALTER TABLE runs DROP COLUMN events;
ALTER TABLE runs DROP COLUMN skip_reason;
ALTER TABLE runs DROP COLUMN singleton_key;
ALTER TABLE runs DROP COLUMN extra_slots;
DROP TABLE run_slots;
DROP TABLE rate_state;
DROP TABLE gathers;
DROP TABLE nodes;
DROP INDEX runs_due_unleased;
UPDATE schema_version SET version = 4;
)sql";
  char* error = nullptr;
  ASSERT_EQ(sqlite3_exec(db, downgrade, nullptr, nullptr, &error), SQLITE_OK) << error;
  sqlite3_close(db);
  auto store = Open();
  ASSERT_NE(store, nullptr);
  WriteBatch batch;
  batch.Add(AppendJournalOp{Entry("r1", "a", JournalKind::kCompleted, {{"output", 2}})});
  batch.Add(AppendJournalOp{Entry("r1", "b", JournalKind::kCompleted, {{"output", 3}})});
  ASSERT_TRUE(store->Commit(std::move(batch)).ok());
  auto journal = store->LoadJournal("r1");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 4u);
  EXPECT_EQ((*journal)[0].seq, 7);
  EXPECT_EQ((*journal)[1].data, (Json{{"output", 1}}));
  EXPECT_EQ((*journal)[2].kind, JournalKind::kStarted);
  EXPECT_EQ((*journal)[3].data, (Json{{"output", 3}}));
  EXPECT_GT((*journal)[3].seq, 12);
}

TEST_F(SqliteStoreTest, MemoryModeUsesATemporaryFile) {
  auto store = SqliteStore::Open({.path = ":memory:"});
  ASSERT_TRUE(store.ok());
  WriteBatch batch;
  batch.Add(CreateRunOp{NewRun("m"), std::chrono::hours(24), {}});
  ASSERT_TRUE((*store)->Commit(std::move(batch)).ok());
  EXPECT_TRUE((*store)->GetRun("m")->has_value());
}

}  // namespace
}  // namespace flowrun::store

namespace flowrun::store {
namespace {

class SqliteStoreRetentionTest : public ::testing::Test {
 protected:
  std::unique_ptr<SqliteStore> Open(int prune_batch) {
    auto store = SqliteStore::Open({.path = path_, .clock = &clock_, .prune_batch = prune_batch});
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  void AddEvent(SqliteStore& store, const std::string& id) {
    WriteBatch batch;
    EventRecord event;
    event.id = id;
    event.name = "e";
    event.ts = clock_.Now();
    batch.Add(InsertEventOp{event});
    ASSERT_TRUE(store.Commit(std::move(batch)).ok());
  }
  // A run of `flow` triggered by `event`, finished now with `status` unless it is unfinished.
  void AddRun(SqliteStore& store, const std::string& id, const std::string& flow,
              const std::string& event, RunStatus status) {
    RunRecord run;
    run.id = id;
    run.flow_id = flow;
    run.revision = "r1";
    run.trigger_event_id = event;
    run.created_at = clock_.Now();
    WriteBatch batch;
    batch.Add(CreateRunOp{run, std::chrono::hours(24), {}});
    batch.Add(AppendJournalOp{JournalEntry{.run_id = id,
                                           .step_key = "s",
                                           .kind = JournalKind::kCompleted,
                                           .data = Json{{"status", "completed"}},
                                           .at = clock_.Now()}});
    WaitRecord wait;
    wait.id = "w_" + id;
    wait.run_id = id;
    wait.flow_id = flow;
    wait.revision = "r1";
    wait.event_name = "never";
    wait.created_at = clock_.Now();
    batch.Add(RegisterWaitOp{wait});
    UpdateRunOp update;
    update.run_id = id;
    update.status = status;
    if (IsTerminal(status)) update.ended_at = clock_.Now();
    batch.Add(update);
    auto result = store.Commit(std::move(batch));
    ASSERT_TRUE(result.ok() && result->status.ok());
  }
  bool HasRun(SqliteStore& store, const std::string& id) {
    auto run = store.GetRun(id);
    return run.ok() && run->has_value();
  }
  bool HasEvent(SqliteStore& store, const std::string& id) {
    auto event = store.GetEvent(id);
    return event.ok() && event->has_value();
  }
  std::string path_ = flowrun::testing::MakeTempDir() + "/store.db";
  flowrun::SimulatedClock clock_;
};

TEST_F(SqliteStoreRetentionTest, PrunesOldFinishedRunsWithTheirJournalWaitsAndEvents) {
  auto store = Open(/*prune_batch=*/1);
  AddEvent(*store, "evt_done");
  AddEvent(*store, "evt_shared");
  AddRun(*store, "done", "flow", "evt_done", RunStatus::kCompleted);
  AddRun(*store, "failed", "flow", "evt_shared", RunStatus::kFailed);
  AddRun(*store, "cancelled", "flow", "", RunStatus::kCancelled);
  AddRun(*store, "still_running", "other", "evt_shared", RunStatus::kWaiting);
  const TimePoint cutoff = clock_.Now() + std::chrono::hours(1);
  clock_.Advance(std::chrono::hours(2));
  AddRun(*store, "recent", "flow", "", RunStatus::kCompleted);
  clock_.Advance(std::chrono::hours(48));

  auto pruned = store->PruneFinishedRuns(cutoff, 100);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 3);
  for (const char* id : {"done", "failed", "cancelled"}) {
    EXPECT_FALSE(HasRun(*store, id)) << id;
    auto journal = store->LoadJournal(id);
    ASSERT_TRUE(journal.ok());
    EXPECT_TRUE(journal->empty()) << id;
    auto waits = store->WaitsOfRun(id);
    ASSERT_TRUE(waits.ok());
    EXPECT_TRUE(waits->empty()) << id;
  }
  EXPECT_TRUE(HasRun(*store, "still_running"));
  EXPECT_FALSE(store->LoadJournal("still_running")->empty());
  EXPECT_TRUE(HasRun(*store, "recent"));
  EXPECT_FALSE(HasEvent(*store, "evt_done"));
  // Another flow's unfinished run still refers to it.
  EXPECT_TRUE(HasEvent(*store, "evt_shared"));

  auto again = store->PruneFinishedRuns(cutoff, 100);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
}

TEST_F(SqliteStoreRetentionTest, ListsTheNewestEventsFirstOnRequest) {
  auto store = Open(/*prune_batch=*/256);
  for (int i = 0; i < 5; ++i) AddEvent(*store, "evt_" + std::to_string(i));
  EventFilter filter;
  filter.limit = 2;
  filter.newest_first = true;
  auto newest = store->ListEvents(filter);
  ASSERT_TRUE(newest.ok()) << newest.status().ToString();
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].id, "evt_4");
  EXPECT_EQ((*newest)[1].id, "evt_3");
  filter.name = "e";
  filter.after_seq = (*newest)[0].seq - 1;
  auto named = store->ListEvents(filter);
  ASSERT_TRUE(named.ok());
  ASSERT_EQ(named->size(), 1u);
  EXPECT_EQ((*named)[0].id, "evt_4");
  filter = EventFilter();
  filter.limit = 2;
  auto oldest = store->ListEvents(filter);
  ASSERT_TRUE(oldest.ok());
  ASSERT_EQ(oldest->size(), 2u);
  EXPECT_EQ((*oldest)[0].id, "evt_0");
}

TEST_F(SqliteStoreRetentionTest, KeepsEventsInsideTheDedupeWindowAndHonoursTheLimit) {
  auto store = Open(/*prune_batch=*/2);
  for (int i = 0; i < 5; ++i) {
    AddEvent(*store, "evt_" + std::to_string(i));
    AddRun(*store, "run_" + std::to_string(i), "flow", "evt_" + std::to_string(i),
           RunStatus::kCompleted);
    clock_.Advance(std::chrono::minutes(1));
  }
  clock_.Advance(std::chrono::hours(1));
  auto pruned = store->PruneFinishedRuns(clock_.Now(), 3);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 3);
  // Oldest first.
  EXPECT_FALSE(HasRun(*store, "run_0"));
  EXPECT_FALSE(HasRun(*store, "run_2"));
  EXPECT_TRUE(HasRun(*store, "run_3"));
  // Their events are younger than 24 h: kept for deduplication.
  EXPECT_TRUE(HasEvent(*store, "evt_0"));
  auto rest = store->PruneFinishedRuns(clock_.Now(), 100);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 2);
}

TEST_F(SqliteStoreRetentionTest, PrunesOldEventsNoRunRefersToInBatches) {
  auto store = Open(/*prune_batch=*/2);
  for (int i = 0; i < 5; ++i) AddEvent(*store, "old_" + std::to_string(i));
  AddRun(*store, "live", "flow", "old_1", RunStatus::kRunning);  // still refers to old_1
  clock_.Advance(std::chrono::hours(1));
  const TimePoint cutoff = clock_.Now();
  AddEvent(*store, "young");

  auto pruned = store->PruneEvents(cutoff, 3);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 3);  // old_0, old_2, old_3: oldest first, old_1 skipped
  EXPECT_FALSE(HasEvent(*store, "old_0"));
  EXPECT_TRUE(HasEvent(*store, "old_1"));
  EXPECT_FALSE(HasEvent(*store, "old_3"));
  EXPECT_TRUE(HasEvent(*store, "old_4"));
  auto rest = store->PruneEvents(cutoff, 100);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 1);
  EXPECT_TRUE(HasEvent(*store, "old_1"));
  EXPECT_TRUE(HasEvent(*store, "young"));
  auto none = store->PruneEvents(cutoff, 100);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
}

}  // namespace
}  // namespace flowrun::store
