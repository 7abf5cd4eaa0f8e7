// The Store contract (store.h), run against every store kind (store_kinds.h): SQLite and the real
// PostgreSQL 15 server. What one store promises, the other must too.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/simulated_clock.h"
#include "testing/store_kinds.h"
#include "testing/store_records.h"

namespace flowrun::store {
namespace {

using flowrun::SimulatedClock;
constexpr auto kDay = std::chrono::hours(24);

class StoreContractTest : public StoreKindTest {
 protected:
  Store& store() { return *store_; }
  RunRecord NewRun(const std::string& id) { return testing::QueuedRun(id, clock_.Now()); }
  EventRecord NewEvent(const std::string& id, const std::string& name = "e") {
    return testing::NamedEvent(id, name, clock_.Now());
  }
  WaitRecord NewWait(const std::string& id, const std::string& run_id, const std::string& key) {
    WaitRecord wait;
    wait.id = id;
    wait.run_id = run_id;
    wait.flow_id = "flow";
    wait.revision = "r1";
    wait.step_key = "wait";
    wait.step_id = "wait";
    wait.event_name = "e";
    wait.match_path = key.empty() ? "" : "data.k";
    wait.match_key = key;
    wait.created_at = clock_.Now();
    wait.context = Json{{"event", Json::object()}};
    return wait;
  }
  BatchResult MustCommit(WriteBatch batch) {
    auto result = store().Commit(std::move(batch));
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (!result.ok()) return BatchResult{};
    EXPECT_TRUE(result->status.ok()) << result->status.ToString();
    return *result;
  }
  template <typename Op>
  BatchResult MustCommitOp(Op op) {
    WriteBatch batch;
    batch.Add(std::move(op));
    return MustCommit(std::move(batch));
  }
  RunRecord Run(const std::string& id) {
    auto run = store().GetRun(id);
    EXPECT_TRUE(run.ok() && run->has_value()) << id;
    return run.ok() && run->has_value() ? **run : RunRecord{};
  }
};

TEST_P(StoreContractTest, CreatesRunsAndReadsThemBack) {
  RunRecord run = NewRun("r1");
  run.event = Json{{"id", "evt"}, {"data", {{"x", 1}}}};
  run.deadline = clock_.Now() + std::chrono::hours(1);
  run.concurrency_key = "k";
  run.parent_run_id = "parent";
  BatchResult result = MustCommitOp(CreateRunOp{run, kDay, {}});
  EXPECT_EQ(result.created_runs, std::vector<std::string>{"r1"});
  RunRecord back = Run("r1");
  EXPECT_EQ(back.status, RunStatus::kQueued);
  EXPECT_EQ(back.event, run.event);
  EXPECT_EQ(back.deadline, run.deadline);
  EXPECT_EQ(back.concurrency_key, "k");
  EXPECT_EQ(back.lease_owner, "");
  EXPECT_EQ(back.lease_token, 0);
  // The same id again is skipped, not an error.
  result = MustCommitOp(CreateRunOp{run, kDay, {}});
  EXPECT_EQ(result.skipped_runs, std::vector<std::string>{"r1"});
  auto missing = store().GetRun("nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(StoreContractTest, ARunCreatedLeasedHasTheFirstToken) {
  RunRecord run = NewRun("r");
  run.lease_owner = "me";
  run.lease_until = clock_.Now() + std::chrono::minutes(1);
  run.due_at = run.lease_until;
  MustCommitOp(CreateRunOp{run, kDay, {}});
  EXPECT_EQ(Run("r").lease_token, kFirstLeaseToken);
  WriteBatch batch;
  batch.Add(RequireLeaseOp{"r", "me", kFirstLeaseToken});
  batch.Add(UpdateRunOp{.run_id = "r",
                        .status = RunStatus::kCompleted,
                        .output = Json{{"done", true}},
                        .ended_at = clock_.Now(),
                        .release_lease = true});
  MustCommit(std::move(batch));
  RunRecord done = Run("r");
  EXPECT_EQ(done.status, RunStatus::kCompleted);
  EXPECT_EQ(done.output, (Json{{"done", true}}));
  EXPECT_FALSE(done.due_at.has_value());
  EXPECT_EQ(done.lease_owner, "");
}

TEST_P(StoreContractTest, ABatchFailingAfterWritingRollsBackOnlyItself) {
  std::vector<WriteBatch> batches(3);
  batches[0].Add(CreateRunOp{NewRun("before"), kDay, {}});
  batches[1].Add(CreateRunOp{NewRun("doomed"), kDay, {}});
  batches[1].Add(RequireLeaseOp{"doomed", "nobody", 1});
  batches[2].Add(CreateRunOp{NewRun("after"), kDay, {}});
  auto results = store().CommitMany(std::move(batches));
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE((*results)[0].status.ok());
  EXPECT_EQ((*results)[1].status.code(), StatusCode::kAborted);
  EXPECT_TRUE((*results)[1].created_runs.empty());
  EXPECT_TRUE((*results)[2].status.ok());
  EXPECT_TRUE(store().GetRun("before")->has_value());
  EXPECT_FALSE(store().GetRun("doomed")->has_value());
  EXPECT_TRUE(store().GetRun("after")->has_value());
}

// One commit of many batches that hold events, new runs, journal entries, run updates and lease
// checks (which PostgreSQL applies a statement per kind for all of them): each batch gets what it
// would get alone, and a batch whose lease check fails writes nothing.
TEST_P(StoreContractTest, ManyBatchesOfEveryKindCommitTogetherAndEachGetsItsOwnResult) {
  auto leased = [&](const std::string& id) {
    RunRecord run = NewRun(id);
    run.lease_owner = "me";
    run.lease_until = clock_.Now() + std::chrono::minutes(1);
    run.due_at = run.lease_until;
    return CreateRunOp{run, kDay, {}};
  };
  WriteBatch setup;
  setup.Add(leased("mine"));
  setup.Add(leased("held"));
  setup.Add(CreateRunOp{NewRun("old"), kDay, {}});
  setup.Add(InsertEventOp{NewEvent("e0")});
  setup.Add(RegisterWaitOp{NewWait("w", "old", "")});
  MustCommit(std::move(setup));
  auto step = [&](const std::string& run_id, int64_t token, const std::string& key) {
    WriteBatch batch;
    batch.Add(RequireLeaseOp{run_id, "me", token});
    batch.Add(AppendJournalOp{JournalEntry{.run_id = run_id,
                                           .step_key = key,
                                           .kind = JournalKind::kCompleted,
                                           .data = Json{{"n", 1}},
                                           .at = clock_.Now()}});
    batch.Add(UpdateRunOp{.run_id = run_id,
                          .status = RunStatus::kCompleted,
                          .output = Json{{"done", key}},
                          .ended_at = clock_.Now(),
                          .release_lease = true});
    return batch;
  };
  std::vector<WriteBatch> batches(4);
  batches[0].Add(InsertEventOp{NewEvent("e0")});  // stored already
  batches[0].Add(InsertEventOp{NewEvent("e1")});
  RunRecord fresh = NewRun("fresh");
  fresh.trigger_event_id = "e1";
  batches[0].Add(CreateRunOp{fresh, kDay, {}});
  batches[1] = step("held", kFirstLeaseToken + 1, "a");  // a token it never had
  batches[2] = step("mine", kFirstLeaseToken, "b");
  batches[3].Add(CreateRunOp{NewRun("old"), kDay, {}});  // exists
  auto results = store().CommitMany(std::move(batches));
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  ASSERT_EQ(results->size(), 4u);

  const BatchResult& events = (*results)[0];
  EXPECT_TRUE(events.status.ok());
  EXPECT_EQ(events.inserted_events, std::vector<std::string>{"e1"});
  EXPECT_EQ(events.created_runs, std::vector<std::string>{"fresh"});
  ASSERT_EQ(events.events_to_match.size(), 1u);  // a wait for "e" exists
  EXPECT_EQ(events.events_to_match[0].id, "e1");
  auto e1 = store().GetEvent("e1");
  ASSERT_TRUE(e1.ok() && e1->has_value());
  EXPECT_EQ(events.events_to_match[0].seq, (*e1)->seq);
  EXPECT_GT((*e1)->seq, (*store().GetEvent("e0"))->seq);
  EXPECT_EQ(Run("fresh").trigger_event_id, "e1");

  EXPECT_EQ((*results)[1].status.code(), StatusCode::kAborted);
  EXPECT_EQ(Run("held").status, RunStatus::kQueued);
  EXPECT_EQ(Run("held").lease_owner, "me");
  EXPECT_TRUE(store().LoadJournal("held")->empty());

  EXPECT_TRUE((*results)[2].status.ok());
  RunRecord mine = Run("mine");
  EXPECT_EQ(mine.status, RunStatus::kCompleted);
  EXPECT_EQ(mine.output, (Json{{"done", "b"}}));
  EXPECT_EQ(mine.lease_owner, "");
  EXPECT_FALSE(mine.due_at.has_value());
  ASSERT_EQ(store().LoadJournal("mine")->size(), 1u);

  EXPECT_TRUE((*results)[3].status.ok());
  EXPECT_EQ((*results)[3].skipped_runs, std::vector<std::string>{"old"});
  EXPECT_TRUE((*results)[3].created_runs.empty());
}

TEST_P(StoreContractTest, ADuplicateClientIdRollsBackOnlyItsBatchUntilTheWindowPasses) {
  auto batch_for = [&](const std::string& id, bool aborts) {
    EventRecord e = NewEvent(id);
    e.client_id = "client";
    WriteBatch batch;
    batch.Add(InsertEventOp{e, kDay, aborts});
    RunRecord run = NewRun("run-" + id);
    run.trigger_event_id = id;
    batch.Add(CreateRunOp{run, kDay, {}});
    return batch;
  };
  std::vector<WriteBatch> batches;
  batches.push_back(batch_for("e1", true));
  batches.push_back(batch_for("e2", true));
  auto results = store().CommitMany(std::move(batches));
  ASSERT_TRUE(results.ok());
  EXPECT_TRUE((*results)[0].status.ok());
  EXPECT_EQ((*results)[0].inserted_events, std::vector<std::string>{"e1"});
  EXPECT_EQ((*results)[1].status.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ((*results)[1].duplicate_of, "e1");
  EXPECT_FALSE(store().GetRun("run-e2")->has_value());
  EXPECT_FALSE(store().GetEvent("e2")->has_value());
  // Without aborting, only the insert is skipped.
  BatchResult skipped = MustCommit(batch_for("e3", false));
  EXPECT_TRUE(skipped.inserted_events.empty());
  EXPECT_FALSE(store().GetEvent("e3")->has_value());
  clock_.Advance(std::chrono::hours(25));
  BatchResult again = MustCommit(batch_for("e4", true));
  EXPECT_EQ(again.inserted_events, std::vector<std::string>{"e4"});
}

TEST_P(StoreContractTest, EventsGetIncreasingSeqsAndAreListedBothWays) {
  for (int i = 0; i < 5; ++i) {
    MustCommitOp(InsertEventOp{NewEvent("evt_" + std::to_string(i), i % 2 ? "odd" : "even")});
  }
  // The same id again is ignored.
  BatchResult again = MustCommitOp(InsertEventOp{NewEvent("evt_0", "even")});
  EXPECT_TRUE(again.inserted_events.empty());
  auto all = store().ListEvents({.limit = 10});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  for (size_t i = 1; i < all->size(); ++i) EXPECT_GT((*all)[i].seq, (*all)[i - 1].seq);
  EXPECT_EQ((*all)[0].data, (Json{{"k", "evt_0"}}));
  auto newest = store().ListEvents({.limit = 2, .newest_first = true});
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 2u);
  EXPECT_EQ((*newest)[0].id, "evt_4");
  auto odd = store().ListEvents({.name = "odd", .after_seq = (*all)[1].seq, .limit = 10});
  ASSERT_TRUE(odd.ok());
  ASSERT_EQ(odd->size(), 1u);
  EXPECT_EQ((*odd)[0].id, "evt_3");
  auto since = store().ListEvents(
      {.name = "odd", .after_seq = (*all)[4].seq, .stored_since = clock_.Now(), .limit = 10});
  ASSERT_TRUE(since.ok());
  EXPECT_EQ(since->size(), 2u);
  // A window pages by page_after_seq: the odd events seq > evt_4's or stored since now, one by one.
  auto page_after = [&](int64_t seq) {
    return store().ListEvents({.name = "odd",
                               .after_seq = (*all)[4].seq,
                               .stored_since = clock_.Now(),
                               .page_after_seq = seq,
                               .limit = 1});
  };
  std::vector<std::string> paged;
  int64_t last_seq = 0;
  for (int page = 0; page < 5; ++page) {
    auto events = page_after(last_seq);
    ASSERT_TRUE(events.ok());
    if (events->empty()) break;
    ASSERT_EQ(events->size(), 1u);
    paged.push_back((*events)[0].id);
    last_seq = (*events)[0].seq;
  }
  EXPECT_EQ(paged, (std::vector<std::string>{"evt_1", "evt_3"}));
  auto one = store().GetEvent("evt_2");
  ASSERT_TRUE(one.ok() && one->has_value());
  EXPECT_EQ((*one)->name, "even");
  EXPECT_EQ((*one)->seq, (*all)[2].seq);
}

TEST_P(StoreContractTest, AnEventThatWaitsMayWantIsReportedUntilMarkedMatched) {
  MustCommitOp(CreateRunOp{NewRun("r"), kDay, {}});
  MustCommitOp(InsertEventOp{NewEvent("unwanted")});
  EXPECT_TRUE(store().UnmatchedEvents(10)->empty());
  MustCommitOp(RegisterWaitOp{NewWait("w", "r", "\"x\"")});
  BatchResult stored = MustCommitOp(InsertEventOp{NewEvent("wanted")});
  ASSERT_EQ(stored.events_to_match.size(), 1u);
  EXPECT_EQ(stored.events_to_match[0].id, "wanted");
  auto unmatched = store().UnmatchedEvents(10);
  ASSERT_TRUE(unmatched.ok());
  ASSERT_EQ(unmatched->size(), 1u);
  auto unscanned = store().UnscannedWaits(10);
  ASSERT_TRUE(unscanned.ok());
  ASSERT_EQ(unscanned->size(), 1u);
  MustCommitOp(MarkMatchedOp{{"wanted"}, {"w"}});
  EXPECT_TRUE(store().UnmatchedEvents(10)->empty());
  EXPECT_TRUE(store().UnscannedWaits(10)->empty());
}

// Both lookups page in id order from after_id, so that a caller can read every wait of a key.
TEST_P(StoreContractTest, WaitLookupsPageInIdOrder) {
  MustCommitOp(CreateRunOp{NewRun("r"), kDay, {}});
  WriteBatch batch;
  for (const char* id : {"w3", "w1", "w2"}) {
    batch.Add(RegisterWaitOp{NewWait(std::string(id) + "-indexed", "r", "\"42\"")});
    batch.Add(RegisterWaitOp{NewWait(std::string(id) + "-scanned", "r", "")});
  }
  MustCommit(std::move(batch));
  auto ids = [](const StatusOr<std::vector<WaitRecord>>& waits) {
    std::vector<std::string> out;
    if (waits.ok()) {
      for (const WaitRecord& w : *waits) out.push_back(w.id);
    }
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids(store().FindIndexedWaits("e", "data.k", "\"42\"", "", 2)),
            (Ids{"w1-indexed", "w2-indexed"}));
  EXPECT_EQ(ids(store().FindIndexedWaits("e", "data.k", "\"42\"", "w2-indexed", 2)),
            (Ids{"w3-indexed"}));
  EXPECT_EQ(ids(store().FindIndexedWaits("e", "data.k", "\"42\"", "w3-indexed", 2)), Ids{});
  EXPECT_EQ(ids(store().ScanWaits("e", "", 2)), (Ids{"w1-scanned", "w2-scanned"}));
  EXPECT_EQ(ids(store().ScanWaits("e", "w2-scanned", 2)), (Ids{"w3-scanned"}));
}

TEST_P(StoreContractTest, WaitsAreFoundByIndexKeyOrScanAndByRun) {
  MustCommitOp(CreateRunOp{NewRun("r"), kDay, {}});
  WriteBatch batch;
  batch.Add(RegisterWaitOp{NewWait("indexed", "r", "\"42\"")});
  batch.Add(RegisterWaitOp{NewWait("scanned", "r", "")});
  MustCommit(std::move(batch));
  EXPECT_TRUE(*store().HasWaits("e"));
  EXPECT_FALSE(*store().HasWaits("other"));
  EXPECT_EQ(*store().WaitPaths("e"), std::vector<std::string>{"data.k"});
  auto found = store().FindIndexedWaits("e", "data.k", "\"42\"", "", 10);
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id, "indexed");
  EXPECT_EQ((*found)[0].context, (Json{{"event", Json::object()}}));
  EXPECT_TRUE(store().FindIndexedWaits("e", "data.k", "\"43\"", "", 10)->empty());
  auto scanned = store().ScanWaits("e", "", 10);
  ASSERT_TRUE(scanned.ok());
  ASSERT_EQ(scanned->size(), 1u);
  EXPECT_EQ((*scanned)[0].id, "scanned");
  EXPECT_EQ(store().WaitsOfRun("r")->size(), 2u);
  MustCommitOp(DeleteWaitsOp{"r"});
  EXPECT_TRUE(store().WaitsOfRun("r")->empty());
  EXPECT_FALSE(*store().HasWaits("e"));
}

TEST_P(StoreContractTest, AWaitIsResolvedOnceAndWakesItsRun) {
  RunRecord run = NewRun("r");
  run.status = RunStatus::kWaiting;
  run.due_at = clock_.Now() + std::chrono::hours(48);
  MustCommitOp(CreateRunOp{run, kDay, {}});
  MustCommitOp(RegisterWaitOp{NewWait("w", "r", "\"1\"")});
  std::vector<WriteBatch> both(2);
  both[0].Add(ResolveWaitOp{"w", Json{{"first", true}}});
  both[1].Add(ResolveWaitOp{"w", Json{{"second", true}}});
  auto results = store().CommitMany(std::move(both));
  ASSERT_TRUE(results.ok());
  EXPECT_EQ((*results)[0].resolved_waits, std::vector<std::string>{"w"});
  EXPECT_TRUE((*results)[1].resolved_waits.empty());
  auto journal = store().LoadJournal("r");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 1u);
  EXPECT_EQ((*journal)[0].kind, JournalKind::kCompleted);
  EXPECT_EQ((*journal)[0].data["output"], (Json{{"first", true}}));
  EXPECT_EQ(Run("r").due_at, clock_.Now());
  // A later update that plans a later due time does not hide the wake-up.
  MustCommitOp(UpdateRunOp{.run_id = "r",
                           .status = RunStatus::kWaiting,
                           .due_at = clock_.Now() + std::chrono::hours(1)});
  EXPECT_EQ(Run("r").due_at, clock_.Now());
}

TEST_P(StoreContractTest, ResolvingAWaitWithAnOwnerLeasesTheRunWithANewToken) {
  RunRecord run = NewRun("r");
  run.status = RunStatus::kWaiting;
  MustCommitOp(CreateRunOp{run, kDay, {}});
  MustCommitOp(RegisterWaitOp{NewWait("w", "r", "")});
  BatchResult result = MustCommitOp(ResolveWaitOp{.wait_id = "w",
                                                  .output = Json{{"ok", true}},
                                                  .lease_owner = "me",
                                                  .lease_until = clock_.Now() + kDay});
  ASSERT_EQ(result.leased_runs.size(), 1u);
  EXPECT_EQ(result.leased_runs[0].lease_owner, "me");
  EXPECT_EQ(result.leased_runs[0].lease_token, 1);
  EXPECT_EQ(Run("r").lease_token, 1);
}

TEST_P(StoreContractTest, CancelAndWakeRequestsReachUnfinishedRunsOnly) {
  RunRecord sleeping = NewRun("sleeping");
  sleeping.status = RunStatus::kSleeping;
  sleeping.due_at = clock_.Now() + std::chrono::hours(5);
  MustCommitOp(CreateRunOp{sleeping, kDay, {}});
  RunRecord done = NewRun("done");
  done.status = RunStatus::kCompleted;
  done.due_at.reset();
  done.ended_at = clock_.Now();
  MustCommitOp(CreateRunOp{done, kDay, {}});
  MustCommitOp(WakeRunOp{"sleeping"});
  EXPECT_EQ(Run("sleeping").due_at, clock_.Now());
  MustCommitOp(RequestCancelOp{"sleeping"});
  EXPECT_TRUE(Run("sleeping").cancel_requested);
  MustCommitOp(RequestCancelOp{"done"});
  EXPECT_FALSE(Run("done").cancel_requested);
  EXPECT_FALSE(Run("done").due_at.has_value());
}

TEST_P(StoreContractTest, IdempotencyKeysStartOneRunPerWindow) {
  auto keyed = [&](const std::string& id) {
    RunRecord run = NewRun(id);
    run.idempotency_key = "order-1";
    return CreateRunOp{run, std::chrono::hours(1), {}};
  };
  EXPECT_EQ(MustCommitOp(keyed("a")).created_runs, std::vector<std::string>{"a"});
  EXPECT_EQ(MustCommitOp(keyed("b")).skipped_runs, std::vector<std::string>{"b"});
  EXPECT_FALSE(store().GetRun("b")->has_value());
  // Another flow has keys of its own.
  CreateRunOp other = keyed("c");
  other.run.flow_id = "other";
  EXPECT_EQ(MustCommitOp(other).created_runs, std::vector<std::string>{"c"});
  clock_.Advance(std::chrono::hours(2));
  EXPECT_EQ(MustCommitOp(keyed("d")).created_runs, std::vector<std::string>{"d"});
}

TEST_P(StoreContractTest, ATriggerEventStartsOneRunPerFlow) {
  RunRecord first = NewRun("first");
  first.trigger_event_id = "evt";
  RunRecord second = NewRun("second");
  second.trigger_event_id = "evt";
  RunRecord other = NewRun("other");
  other.trigger_event_id = "evt";
  other.flow_id = "other-flow";
  MustCommitOp(CreateRunOp{first, kDay, {}});
  EXPECT_EQ(MustCommitOp(CreateRunOp{second, kDay, {}}).skipped_runs,
            std::vector<std::string>{"second"});
  EXPECT_EQ(MustCommitOp(CreateRunOp{other, kDay, {}}).created_runs,
            std::vector<std::string>{"other"});
}

TEST_P(StoreContractTest, ClaimsLeaseDueRunsOnceOldestFirstAndHonourConcurrency) {
  WriteBatch batch;
  for (int i = 0; i < 3; ++i) {
    RunRecord run = NewRun("limited" + std::to_string(i));
    run.concurrency_key = "k";
    run.concurrency_limit = 2;
    run.due_at = clock_.Now() - std::chrono::seconds(10 - i);
    batch.Add(CreateRunOp{run, kDay, {}});
  }
  RunRecord later = NewRun("later");
  later.due_at = clock_.Now() + std::chrono::hours(1);
  batch.Add(CreateRunOp{later, kDay, {}});
  MustCommit(std::move(batch));
  auto first = store().ClaimRuns("a", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].id, "limited0");
  EXPECT_EQ((*first)[0].lease_owner, "a");
  EXPECT_EQ((*first)[0].lease_token, 1);
  auto second = store().ClaimRuns("b", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->empty());
  // Giving a slot back makes the held run due at once.
  WriteBatch release;
  release.Add(RequireLeaseOp{"limited0", "a", 1});
  release.Add(UpdateRunOp{.run_id = "limited0",
                          .status = RunStatus::kCompleted,
                          .ended_at = clock_.Now(),
                          .release_lease = true});
  MustCommit(std::move(release));
  auto third = store().ClaimRuns("b", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(third.ok());
  ASSERT_EQ(third->size(), 1u);
  EXPECT_EQ((*third)[0].id, "limited2");
  // An expired lease is claimed again, with a new token.
  clock_.Advance(std::chrono::minutes(2));
  auto expired = store().ClaimRuns("c", clock_.Now(), 1, std::chrono::minutes(1));
  ASSERT_TRUE(expired.ok());
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ((*expired)[0].lease_token, 2);
}

// Runs without concurrency slots (leased together on PostgreSQL) and runs with them (leased one
// at a time) come back from one claim in due order, each leased once, up to the claim's maximum.
TEST_P(StoreContractTest, ClaimsRunsWithAndWithoutSlotsTogetherInDueOrder) {
  WriteBatch batch;
  const std::vector<std::string> ids = {"plain0", "keyed0", "plain1", "keyed1", "plain2", "plain3"};
  for (size_t i = 0; i < ids.size(); ++i) {
    RunRecord run = NewRun(ids[i]);
    if (ids[i].rfind("keyed", 0) == 0) {
      run.concurrency_key = "k";
      run.concurrency_limit = 1;
    }
    run.due_at = clock_.Now() - std::chrono::seconds(10 - static_cast<int>(i));
    batch.Add(CreateRunOp{run, kDay, {}});
  }
  MustCommit(std::move(batch));
  auto first = store().ClaimRuns("a", clock_.Now(), 4, std::chrono::minutes(1));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  std::vector<std::string> claimed;
  for (const RunRecord& run : *first) {
    claimed.push_back(run.id);
    EXPECT_EQ(run.lease_owner, "a") << run.id;
    EXPECT_EQ(run.lease_token, 1) << run.id;
  }
  // keyed1 waits for keyed0's slot; the fourth place goes to plain2.
  EXPECT_EQ(claimed, (std::vector<std::string>{"plain0", "keyed0", "plain1", "plain2"}));
  auto second = store().ClaimRuns("b", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].id, "plain3");
  EXPECT_EQ(Run("plain1").lease_owner, "a");
}

// A claim moves the run's due time to its lease's end, so that the runs being worked on are not
// among the due runs a claim or its probe walks; a wake-up while leased and a lease that runs out
// still make the run claimable.
TEST_P(StoreContractTest, AClaimMovesTheDueTimeToTheLeasesEnd) {
  RunRecord run = NewRun("r");
  run.due_at = clock_.Now() - std::chrono::seconds(5);
  MustCommitOp(CreateRunOp{run, kDay, {}});
  auto claimed = store().ClaimRuns("a", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1u);
  const TimePoint lease_end = clock_.Now() + std::chrono::minutes(1);
  EXPECT_EQ((*claimed)[0].due_at, lease_end);
  EXPECT_EQ(Run("r").due_at, lease_end);
  EXPECT_EQ(Run("r").lease_until, lease_end);
  // Woken while leased: due now, but still the holder's until the lease runs out.
  MustCommitOp(WakeRunOp{"r"});
  EXPECT_EQ(Run("r").due_at, clock_.Now());
  auto held = store().ClaimRuns("b", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(held->empty());
  clock_.Advance(std::chrono::minutes(2));
  auto taken = store().ClaimRuns("b", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(taken.ok());
  ASSERT_EQ(taken->size(), 1u);
  EXPECT_EQ((*taken)[0].lease_token, 2);
  EXPECT_EQ((*taken)[0].due_at, clock_.Now() + std::chrono::minutes(1));
}

// A claim marks a queued run running (a node has taken it) and returns each run with the status
// it was found in: the claimer knows a queued one has no journal to load. Other states are kept.
TEST_P(StoreContractTest, AClaimMarksQueuedRunsRunningAndReturnsTheStatusItFound) {
  WriteBatch batch;
  const std::vector<std::pair<std::string, RunStatus>> found = {{"queued", RunStatus::kQueued},
                                                                {"running", RunStatus::kRunning},
                                                                {"sleeping", RunStatus::kSleeping},
                                                                {"waiting", RunStatus::kWaiting}};
  for (size_t i = 0; i < found.size(); ++i) {
    RunRecord run = NewRun(found[i].first);
    run.status = found[i].second;
    run.due_at = clock_.Now() - std::chrono::seconds(10 - static_cast<int>(i));
    batch.Add(CreateRunOp{run, kDay, {}});
  }
  MustCommit(std::move(batch));
  auto claimed = store().ClaimRuns("a", clock_.Now(), 10, std::chrono::minutes(1));
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_EQ(claimed->size(), found.size());
  for (size_t i = 0; i < found.size(); ++i) {
    const RunRecord& run = (*claimed)[i];
    EXPECT_EQ(run.id, found[i].first);
    EXPECT_EQ(run.status, found[i].second) << run.id;
    EXPECT_EQ(run.lease_owner, "a") << run.id;
    const RunStatus stored =
        found[i].second == RunStatus::kQueued ? RunStatus::kRunning : found[i].second;
    EXPECT_EQ(Run(run.id).status, stored) << run.id;
  }
}

TEST_P(StoreContractTest, ReleasingLeasesMakesTheRunsDueNow) {
  RunRecord run = NewRun("r");
  run.due_at = clock_.Now();
  MustCommitOp(CreateRunOp{run, kDay, {}});
  auto claimed = store().ClaimRuns("node", clock_.Now(), 10, std::chrono::hours(1));
  ASSERT_TRUE(claimed.ok() && claimed->size() == 1u);
  auto next = store().NextDueTime();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());  // leased runs are not idle work
  ASSERT_TRUE(store().ReleaseLeases("node").ok());
  EXPECT_EQ(Run("r").lease_owner, "");
  EXPECT_EQ(*store().NextDueTime(), clock_.Now());
}

TEST_P(StoreContractTest, TheJournalKeepsOrderAndOneCompletionPerStep) {
  MustCommitOp(CreateRunOp{NewRun("r"), kDay, {}});
  auto entry = [&](const std::string& key, JournalKind kind, Json data) {
    return AppendJournalOp{JournalEntry{
        .run_id = "r", .step_key = key, .kind = kind, .data = std::move(data), .at = clock_.Now()}};
  };
  WriteBatch batch;
  batch.Add(entry("a", JournalKind::kAttempt, Json{{"attempt", 1}}));
  batch.Add(entry("a", JournalKind::kCompleted, Json{{"output", 1}}));
  batch.Add(entry("a", JournalKind::kCompleted, Json{{"output", 2}}));
  batch.Add(entry("b", JournalKind::kStarted, Json{{"wake_at", 5}}));
  batch.Add(entry("b", JournalKind::kNondet, Json{{"values", {1}}}));
  MustCommit(std::move(batch));
  auto journal = store().LoadJournal("r");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 4u);
  EXPECT_EQ((*journal)[0].kind, JournalKind::kAttempt);
  EXPECT_EQ((*journal)[1].data, (Json{{"output", 1}}));
  EXPECT_EQ((*journal)[2].kind, JournalKind::kStarted);
  EXPECT_EQ((*journal)[3].kind, JournalKind::kNondet);
  EXPECT_EQ((*journal)[3].at, clock_.Now());
}

TEST_P(StoreContractTest, RunsAreListedNewestFirstFilteredAndCounted) {
  for (int i = 0; i < 5; ++i) {
    RunRecord run = NewRun("r" + std::to_string(i));
    run.flow_id = i < 3 ? "a" : "b";
    run.status = i % 2 ? RunStatus::kWaiting : RunStatus::kQueued;
    if (i == 4) run.parent_run_id = "r0";
    MustCommitOp(CreateRunOp{run, kDay, {}});
  }
  auto all = store().ListRuns({.limit = 10});
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].id, "r4");
  auto page = store().ListRuns({.limit = 2, .before_id = "r3"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, "r2");
  EXPECT_EQ((*page)[1].id, "r1");
  EXPECT_EQ(store().ListRuns({.flow_id = "b"})->size(), 2u);
  EXPECT_EQ(store().ListRuns({.status = RunStatus::kWaiting})->size(), 2u);
  EXPECT_EQ(store().ListRuns({.parent_run_id = "r0"})->size(), 1u);
  EXPECT_EQ(*store().CountRuns(RunStatus::kQueued), 3);
  EXPECT_EQ(*store().CountRuns(RunStatus::kFailed), 0);
  auto active = store().ActiveRevisions();
  ASSERT_TRUE(active.ok());
  ASSERT_EQ(active->size(), 2u);
  EXPECT_EQ((*active)[0], std::make_pair(std::string("a"), std::string("r1")));
}

TEST_P(StoreContractTest, FlowRevisionsAreKeptOncePerRevision) {
  MustCommitOp(PutFlowRevisionOp{{"flow", "r1", Json{{"id", "flow"}}, clock_.Now()}});
  clock_.Advance(std::chrono::seconds(1));
  MustCommitOp(PutFlowRevisionOp{{"flow", "r2", Json{{"id", "flow"}, {"v", 2}}, clock_.Now()}});
  MustCommitOp(PutFlowRevisionOp{{"flow", "r1", Json{{"changed", true}}, clock_.Now()}});
  auto r1 = store().GetFlowRevision("flow", "r1");
  ASSERT_TRUE(r1.ok() && r1->has_value());
  EXPECT_EQ((*r1)->document, (Json{{"id", "flow"}}));
  auto list = store().ListFlowRevisions("flow");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].revision, "r2");
  EXPECT_FALSE(store().GetFlowRevision("flow", "r9")->has_value());
}

TEST_P(StoreContractTest, EachCronTickIsClaimedOnce) {
  const TimePoint tick = clock_.Now();
  EXPECT_FALSE(store().LastCronTick("flow")->has_value());
  EXPECT_TRUE(MustCommitOp(ClaimCronTickOp{"flow", tick}).cron_tick_claimed);
  EXPECT_FALSE(MustCommitOp(ClaimCronTickOp{"flow", tick}).cron_tick_claimed);
  EXPECT_TRUE(MustCommitOp(ClaimCronTickOp{"other", tick}).cron_tick_claimed);
  // A second instance (another node) cannot claim it either.
  auto node2 = backend_.Open(&clock_);
  ASSERT_NE(node2, nullptr);
  WriteBatch batch;
  batch.Add(ClaimCronTickOp{"flow", tick});
  auto result = node2->Commit(std::move(batch));
  ASSERT_TRUE(result.ok());
  EXPECT_FALSE(result->cron_tick_claimed);
  EXPECT_EQ(*store().LastCronTick("flow"), tick);
}

TEST_P(StoreContractTest, ScheduledEventsFallDueAndAreReleased) {
  EventRecord e = NewEvent("later");
  MustCommitOp(ScheduleEventOp{e, clock_.Now() + std::chrono::minutes(5)});
  MustCommitOp(ScheduleEventOp{e, clock_.Now() + std::chrono::minutes(5)});  // idempotent
  EXPECT_TRUE(store().DueScheduledEvents(clock_.Now(), 10)->empty());
  EXPECT_EQ(*store().NextDueTime(), clock_.Now() + std::chrono::minutes(5));
  clock_.Advance(std::chrono::minutes(6));
  auto due = store().DueScheduledEvents(clock_.Now(), 10);
  ASSERT_TRUE(due.ok());
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].data, e.data);
  EXPECT_FALSE(store().GetEvent("later")->has_value());
  WriteBatch batch;
  batch.Add(InsertEventOp{(*due)[0]});
  batch.Add(ReleaseScheduledEventOp{"later"});
  MustCommit(std::move(batch));
  EXPECT_TRUE(store().DueScheduledEvents(clock_.Now(), 10)->empty());
  EXPECT_TRUE(store().GetEvent("later")->has_value());
}

TEST_P(StoreContractTest, PruningDeletesOldFinishedRunsWithTheirJournalAndWaits) {
  MustCommitOp(InsertEventOp{NewEvent("evt_old")});
  for (const char* id : {"old", "running"}) {
    RunRecord run = NewRun(id);
    run.trigger_event_id = std::string(id) == "old" ? "evt_old" : "";
    WriteBatch batch;
    batch.Add(CreateRunOp{run, kDay, {}});
    batch.Add(AppendJournalOp{JournalEntry{.run_id = id,
                                           .step_key = "s",
                                           .kind = JournalKind::kCompleted,
                                           .data = Json::object(),
                                           .at = clock_.Now()}});
    batch.Add(RegisterWaitOp{NewWait(std::string("w_") + id, id, "")});
    if (std::string(id) == "old") {
      batch.Add(
          UpdateRunOp{.run_id = id, .status = RunStatus::kCompleted, .ended_at = clock_.Now()});
    }
    MustCommit(std::move(batch));
  }
  clock_.Advance(std::chrono::hours(48));
  auto pruned = store().PruneFinishedRuns(clock_.Now() - std::chrono::hours(1), 10);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 1);
  EXPECT_FALSE(store().GetRun("old")->has_value());
  EXPECT_TRUE(store().LoadJournal("old")->empty());
  EXPECT_TRUE(store().WaitsOfRun("old")->empty());
  EXPECT_FALSE(store().GetEvent("evt_old")->has_value());
  EXPECT_TRUE(store().GetRun("running")->has_value());
  EXPECT_EQ(*store().PruneFinishedRuns(clock_.Now(), 10), 0);
}

TEST_P(StoreContractTest, PruningEventsDeletesOldOnesNoRunOrWaitNeedsOldestFirst) {
  for (int i = 0; i < 5; ++i) MustCommitOp(InsertEventOp{NewEvent("old_" + std::to_string(i))});
  RunRecord live = NewRun("live");
  live.trigger_event_id = "old_1";  // still refers to old_1
  MustCommitOp(CreateRunOp{live, kDay, {}});
  // A pending wait makes the next event wanted: it is kept until matched.
  MustCommitOp(RegisterWaitOp{NewWait("w", "live", "")});
  BatchResult wanted = MustCommitOp(InsertEventOp{NewEvent("old_wanted")});
  ASSERT_EQ(wanted.events_to_match.size(), 1u);
  clock_.Advance(std::chrono::hours(1));
  const TimePoint cutoff = clock_.Now();
  MustCommitOp(InsertEventOp{NewEvent("young")});

  auto pruned = store().PruneEvents(cutoff, 3);
  ASSERT_TRUE(pruned.ok()) << pruned.status().ToString();
  EXPECT_EQ(*pruned, 3);  // old_0, old_2, old_3: oldest first, old_1 skipped
  EXPECT_FALSE(store().GetEvent("old_0")->has_value());
  EXPECT_TRUE(store().GetEvent("old_1")->has_value());
  EXPECT_FALSE(store().GetEvent("old_3")->has_value());
  EXPECT_TRUE(store().GetEvent("old_4")->has_value());
  EXPECT_EQ(*store().PruneEvents(cutoff, 100), 1);  // old_4
  EXPECT_TRUE(store().GetEvent("old_wanted")->has_value());
  MustCommitOp(MarkMatchedOp{{"old_wanted"}, {}});
  EXPECT_EQ(*store().PruneEvents(cutoff, 100), 1);
  EXPECT_FALSE(store().GetEvent("old_wanted")->has_value());
  EXPECT_TRUE(store().GetEvent("old_1")->has_value());
  EXPECT_TRUE(store().GetEvent("young")->has_value());
  EXPECT_EQ(*store().PruneEvents(cutoff, 100), 0);
}

TEST_P(StoreContractTest, ManyThreadsCommitAndEveryAcknowledgedWriteIsVisible) {
  constexpr int kThreads = 6, kPerThread = 30;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const std::string id = "r" + std::to_string(t) + "-" + std::to_string(i);
        WriteBatch batch;
        batch.Add(CreateRunOp{NewRun(id), kDay, {}});
        auto result = store().Commit(std::move(batch));
        ASSERT_TRUE(result.ok() && result->status.ok());
        auto run = store().GetRun(id);
        ASSERT_TRUE(run.ok() && run->has_value());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(store().ListRuns({.limit = 1000})->size(), static_cast<size_t>(kThreads * kPerThread));
}

TEST_P(StoreContractTest, TheOutboxKeepsOneCopyPerMessage) {
  auto opened = backend_.OpenAll(&clock_);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ASSERT_NE(opened->outbox, nullptr);
  OutboxMessage message;
  message.message_id = "<m1@flowrun>";
  message.run_id = "r";
  message.step_key = "email";
  message.from = "a@example.com";
  message.recipients = {"b@example.com", "c@example.com"};
  message.subject = "Hi ünïcode";
  message.mime = "Subject: Hi\r\n\r\nbody";
  message.created_at = clock_.Now();
  ASSERT_TRUE(opened->outbox->Put(message).ok());
  ASSERT_TRUE(opened->outbox->Put(message).ok());
  message.message_id = "<m2@flowrun>";
  ASSERT_TRUE(opened->outbox->Put(message).ok());
  auto list = opened->outbox->List(10);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].message_id, "<m2@flowrun>");
  EXPECT_EQ((*list)[1].recipients, message.recipients);
  EXPECT_EQ((*list)[1].subject, "Hi ünïcode");
}

TEST_P(StoreContractTest, HostileTextIsStoredAsDataNotSql) {
  const std::string hostile = "x'); DROP TABLE runs; --\\\"$1 ünï";
  RunRecord run = NewRun(hostile);
  run.flow_id = hostile;
  run.idempotency_key = hostile;
  run.event = Json{{"data", hostile}};
  MustCommitOp(CreateRunOp{run, kDay, {}});
  RunRecord back = Run(hostile);
  EXPECT_EQ(back.flow_id, hostile);
  EXPECT_EQ(back.event["data"], hostile);
  EXPECT_EQ(store().ListRuns({.flow_id = hostile})->size(), 1u);
  EventRecord e = NewEvent(hostile, hostile);
  e.client_id = hostile;
  MustCommitOp(InsertEventOp{e});
  EXPECT_EQ(store().ListEvents({.name = hostile})->size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreContractTest, ::testing::ValuesIn(AllStoreKinds()),
                         [](const auto& info) { return std::string(StoreKindName(info.param)); });

// Cross-node wake-ups: a node that makes a run due notifies the others.
TEST(PostgresWakeTest, AnotherNodesWakeUpArrivesWithoutPolling) {
  StoreBackend backend;
  ASSERT_TRUE(backend.Prepare(StoreKind::kPostgres));
  SimulatedClock clock;
  auto listener_node = backend.OpenAll(&clock);
  ASSERT_TRUE(listener_node.ok()) << listener_node.status().ToString();
  ASSERT_NE(listener_node->wakes, nullptr);
  std::mutex mu;
  std::condition_variable cv;
  int wakes = 0;
  listener_node->wakes->Subscribe([&] {
    std::lock_guard lock(mu);
    ++wakes;
    cv.notify_all();
  });
  auto writer_node = backend.Open(&clock);
  ASSERT_NE(writer_node, nullptr);
  RunRecord run;
  run.id = "r";
  run.flow_id = "flow";
  run.revision = "r1";
  run.created_at = clock.Now();
  run.due_at = clock.Now();
  WriteBatch batch;
  batch.Add(CreateRunOp{run, kDay, {}});
  ASSERT_TRUE(writer_node->Commit(std::move(batch)).ok());
  std::unique_lock lock(mu);
  // Generous: the machine is loaded. The bench measures the latency.
  EXPECT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return wakes > 0; }));
  // The listener's own node does not wake itself.
  lock.unlock();
  const int before = wakes;
  WriteBatch own;
  own.Add(WakeRunOp{"r"});
  ASSERT_TRUE(listener_node->store->Commit(std::move(own)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  lock.lock();
  EXPECT_EQ(wakes, before);
}

}  // namespace
}  // namespace flowrun::store
