// Several store instances (processes, nodes) on one store: sequence numbers come from the
// database, leases are fenced by their tokens, and a node releases only its own leases.
// Parametrized over the store kinds (store_kinds.h).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "common/simulated_clock.h"
#include "testing/store_kinds.h"
#include "testing/store_records.h"

namespace flowrun::store {
namespace {

using flowrun::SimulatedClock;

class StoreNodesTest : public ::testing::TestWithParam<StoreKind> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(backend_.Prepare(GetParam())) << "the store could not be prepared";
  }
  std::unique_ptr<Store> Open() { return backend_.Open(&clock_); }
  RunRecord NewRun(const std::string& id) { return testing::QueuedRun(id, clock_.Now()); }
  void Create(Store& store, const std::vector<std::string>& ids) {
    WriteBatch batch;
    for (const std::string& id : ids)
      batch.Add(CreateRunOp{NewRun(id), std::chrono::hours(24), {}});
    auto result = store.Commit(std::move(batch));
    ASSERT_TRUE(result.ok() && result->status.ok());
  }
  static AppendJournalOp Entry(const std::string& run_id, const std::string& key, TimePoint at) {
    return AppendJournalOp{JournalEntry{.run_id = run_id,
                                        .step_key = key,
                                        .kind = JournalKind::kAttempt,
                                        .data = Json{{"by", key}},
                                        .at = at}};
  }
  // On PostgreSQL: no transaction of the test's database met a deadlock. (SQLite has none.)
  void ExpectNoDeadlocks() {
    if (GetParam() != StoreKind::kPostgres) return;
    auto db = PgConnection::Open(backend_.url(), "test");
    ASSERT_TRUE(db.ok());
    // Statistics reach pg_stat_database within a second of a transaction's end.
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    auto deadlocks =
        (*db)->Exec("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");
    ASSERT_TRUE(deadlocks.ok()) << deadlocks.status().ToString();
    EXPECT_EQ(deadlocks->Int(0, 0), 0);
  }
  StoreBackend backend_;
  SimulatedClock clock_;
};

TEST_P(StoreNodesTest, TwoInstancesHandOutDistinctJournalSeqs) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  Create(*a, {"run"});
  for (int i = 0; i < 20; ++i) {
    Store& store = i % 2 == 0 ? *a : *b;
    WriteBatch batch;
    batch.Add(Entry("run", "step-" + std::to_string(i), clock_.Now()));
    auto result = store.Commit(std::move(batch));
    ASSERT_TRUE(result.ok() && result->status.ok());
  }
  auto journal = b->LoadJournal("run");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 20u);
  for (size_t i = 0; i < journal->size(); ++i) {
    // In commit order, whichever instance wrote it.
    EXPECT_EQ((*journal)[i].step_key, "step-" + std::to_string(i));
    if (i > 0) EXPECT_GT((*journal)[i].seq, (*journal)[i - 1].seq);
  }
}

// Membership: heartbeats list the nodes with the leases each holds; a node silent for longer than
// the takeover time is taken over by the next live node's beat (its leases end, its runs are due
// at once), leaves the list, and its late writes are refused.
TEST_P(StoreNodesTest, ASilentNodeIsTakenOverAndFencedByTheNextBeat) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  auto beat = [&](Store& store, const std::string& id, Duration takeover_after) {
    WriteBatch batch;
    batch.Add(HeartbeatOp{id, clock_.Now()});
    batch.Add(TakeOverDeadNodesOp{id, clock_.Now() - takeover_after});
    auto result = store.Commit(std::move(batch));
    EXPECT_TRUE(result.ok() && result->status.ok());
    return result.ok() ? *result : BatchResult();
  };
  const Duration takeover = std::chrono::seconds(5);
  beat(*a, "node-a", takeover);
  beat(*b, "node-b", takeover);
  Create(*a, {"run-1", "run-2"});
  auto claimed = a->ClaimRuns("node-a", clock_.Now(), 10, std::chrono::minutes(10));
  ASSERT_TRUE(claimed.ok());
  ASSERT_EQ(claimed->size(), 2u);
  auto nodes = b->ListNodes();
  ASSERT_TRUE(nodes.ok()) << nodes.status().ToString();
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[0].id, "node-a");
  EXPECT_EQ((*nodes)[0].leases, 2);
  EXPECT_EQ((*nodes)[1].id, "node-b");
  EXPECT_EQ((*nodes)[1].leases, 0);

  // a falls silent (killed or paused); b keeps beating. Within the takeover time nothing moves.
  clock_.Advance(std::chrono::seconds(3));
  EXPECT_TRUE(beat(*b, "node-b", takeover).dead_nodes.empty());
  auto none = b->ClaimRuns("node-b", clock_.Now(), 10, std::chrono::minutes(10));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());  // the leases (10 min) still hold
  clock_.Advance(std::chrono::seconds(3));
  BatchResult taken = beat(*b, "node-b", takeover);
  EXPECT_EQ(taken.dead_nodes, std::vector<std::string>{"node-a"});
  EXPECT_EQ(taken.released_leases, 2);
  auto moved = b->ClaimRuns("node-b", clock_.Now(), 10, std::chrono::minutes(10));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->size(), 2u);
  nodes = b->ListNodes();
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_EQ(nodes->front().id, "node-b");
  EXPECT_EQ(nodes->front().leases, 2);

  // a resumes: its write for a run it lost is refused; its next beat makes it a member again.
  WriteBatch late;
  late.Add(RequireLeaseOp{"run-1", "node-a", claimed->front().lease_token});
  late.Add(Entry("run-1", "late", clock_.Now()));
  auto refused = a->Commit(std::move(late));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status.code(), StatusCode::kAborted);
  EXPECT_TRUE(beat(*a, "node-a", takeover).dead_nodes.empty());
  nodes = a->ListNodes();
  ASSERT_TRUE(nodes.ok());
  EXPECT_EQ(nodes->size(), 2u);
}

TEST_P(StoreNodesTest, ALeaseTakenOverFencesTheOldHolder) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  Create(*a, {"run"});
  auto claimed_a = a->ClaimRuns("node-a", clock_.Now(), 10, std::chrono::seconds(5));
  ASSERT_TRUE(claimed_a.ok());
  ASSERT_EQ(claimed_a->size(), 1u);
  const int64_t token_a = claimed_a->front().lease_token;
  EXPECT_GT(token_a, 0);
  // Node a is paused past its lease; node b takes the run over.
  clock_.Advance(std::chrono::seconds(10));
  auto claimed_b = b->ClaimRuns("node-b", clock_.Now(), 10, std::chrono::seconds(5));
  ASSERT_TRUE(claimed_b.ok());
  ASSERT_EQ(claimed_b->size(), 1u);
  const int64_t token_b = claimed_b->front().lease_token;
  EXPECT_GT(token_b, token_a);

  // a resumes: its late write is refused and leaves nothing behind.
  WriteBatch late;
  late.Add(RequireLeaseOp{"run", "node-a", token_a});
  late.Add(Entry("run", "late", clock_.Now()));
  auto refused = a->Commit(std::move(late));
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(refused->status.code(), StatusCode::kAborted);
  // The right owner with a stale token is refused too (the same node re-leased the run).
  WriteBatch stale;
  stale.Add(RequireLeaseOp{"run", "node-b", token_a});
  stale.Add(Entry("run", "stale", clock_.Now()));
  auto stale_result = b->Commit(std::move(stale));
  ASSERT_TRUE(stale_result.ok());
  EXPECT_EQ(stale_result->status.code(), StatusCode::kAborted);

  WriteBatch current;
  current.Add(RequireLeaseOp{"run", "node-b", token_b});
  current.Add(Entry("run", "current", clock_.Now()));
  auto accepted = a->Commit(std::move(current));
  ASSERT_TRUE(accepted.ok());
  EXPECT_TRUE(accepted->status.ok()) << accepted->status.ToString();
  auto journal = a->LoadJournal("run");
  ASSERT_TRUE(journal.ok());
  ASSERT_EQ(journal->size(), 1u);
  EXPECT_EQ(journal->front().step_key, "current");
}

TEST_P(StoreNodesTest, ReleasingLeavesOtherNodesLeasesAlone) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  Create(*a, {"run-1"});
  auto claimed_a = a->ClaimRuns("node-a", clock_.Now(), 10, std::chrono::minutes(5));
  ASSERT_TRUE(claimed_a.ok() && claimed_a->size() == 1u);
  Create(*b, {"run-2"});
  auto claimed_b = b->ClaimRuns("node-b", clock_.Now(), 10, std::chrono::minutes(5));
  ASSERT_TRUE(claimed_b.ok() && claimed_b->size() == 1u);
  EXPECT_EQ(claimed_b->front().id, "run-2");

  // Node a restarts: its recovery releases its own lease only.
  ASSERT_TRUE(a->ReleaseLeases("node-a").ok());
  auto run1 = b->GetRun("run-1");
  auto run2 = b->GetRun("run-2");
  ASSERT_TRUE(run1.ok() && run1->has_value() && run2.ok() && run2->has_value());
  EXPECT_EQ((*run1)->lease_owner, "");
  EXPECT_EQ((*run2)->lease_owner, "node-b");
  auto again = a->ClaimRuns("node-a2", clock_.Now(), 10, std::chrono::minutes(5));
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ(again->front().id, "run-1");
}

// Processes, not threads: each child opens its own store, claims runs under its own node id and
// journals them, while the others do the same.
TEST_P(StoreNodesTest, ForkedProcessesClaimEachRunOnceAndNeverReuseASeq) {
  constexpr int kRuns = 60;
  constexpr int kChildren = 3;
  {
    auto store = Open();
    ASSERT_TRUE(store);
    std::vector<std::string> ids;
    for (int i = 0; i < kRuns; ++i) ids.push_back("run-" + std::to_string(i));
    Create(*store, ids);
  }
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 0;
      {
        auto store = backend_.Open(&clock_);
        const std::string owner = "node-" + std::to_string(c);
        for (int round = 0; round < 200 && store; ++round) {
          auto claimed = store->ClaimRuns(owner, clock_.Now(), 4, std::chrono::hours(1));
          if (!claimed.ok()) {
            code = 2;
            break;
          }
          if (claimed->empty()) break;
          for (const RunRecord& run : *claimed) {
            WriteBatch batch;
            batch.Add(RequireLeaseOp{run.id, owner, run.lease_token});
            batch.Add(Entry(run.id, "claimed-by-" + owner, clock_.Now()));
            batch.Add(Entry(run.id, "second-" + owner, clock_.Now()));
            batch.Add(UpdateRunOp{.run_id = run.id,
                                  .status = RunStatus::kCompleted,
                                  .ended_at = clock_.Now(),
                                  .release_lease = true});
            auto result = store->Commit(std::move(batch));
            if (!result.ok() || !result->status.ok()) code = 3;
          }
        }
        if (!store) code = 1;
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  auto store = Open();
  ASSERT_TRUE(store);
  std::set<int64_t> seqs;
  for (int i = 0; i < kRuns; ++i) {
    const std::string id = "run-" + std::to_string(i);
    auto run = store->GetRun(id);
    ASSERT_TRUE(run.ok() && run->has_value());
    EXPECT_EQ((*run)->status, RunStatus::kCompleted) << id;
    auto journal = store->LoadJournal(id);
    ASSERT_TRUE(journal.ok());
    // Claimed and journaled by exactly one process.
    ASSERT_EQ(journal->size(), 2u) << id;
    for (const JournalEntry& e : *journal) {
      EXPECT_TRUE(seqs.insert(e.seq).second) << "seq " << e.seq << " handed out twice";
    }
  }
}

// Two instances create runs whose throttle keys they take in opposite orders (each batch holds
// runs of every key), and runs limited to two at a time per key, while both claim. Every batch
// commits; each key's throttled runs are due one interval apart, each at a slot of its own (no
// token handed out twice); no key has more than two runs leased; and on PostgreSQL the server
// saw no deadlock: each transaction takes its flow-control locks in one sorted order, and claims
// never wait for a lock.
TEST_P(StoreNodesTest, FlowControlLocksOfManyKeysNeverDeadlock) {
  auto a = Open();
  auto b = Open();
  ASSERT_TRUE(a && b);
  constexpr int kThreads = 3;
  constexpr int kBatches = 20;
  const std::vector<std::string> keys = {"k1", "k2", "k3"};
  std::atomic<int> failures{0};
  auto work = [&](Store& store, int node, int thread) {
    for (int i = 0; i < kBatches; ++i) {
      const std::string prefix =
          std::to_string(node) + "-" + std::to_string(thread) + "-" + std::to_string(i) + "-";
      WriteBatch batch;
      for (size_t k = 0; k < keys.size(); ++k) {
        const std::string& key = node == 0 ? keys[k] : keys[keys.size() - 1 - k];
        CreateRunOp throttled{NewRun("t-" + prefix + key), std::chrono::hours(24), {}};
        throttled.throttle = RateSpec{key, std::chrono::seconds(1), Duration{}};
        throttled.run.flow_id = "throttled";
        batch.Add(std::move(throttled));
        CreateRunOp limited{NewRun("c-" + prefix + key), std::chrono::hours(24), {}};
        limited.run.concurrency_key = key;
        limited.run.concurrency_limit = 2;
        limited.extra_slots.push_back(ConcurrencySlot{"*", 5});
        batch.Add(std::move(limited));
      }
      auto result = store.Commit(std::move(batch));
      Status status = result.ok() ? result->status : result.status();
      EXPECT_TRUE(status.ok()) << status.ToString();
      if (!status.ok()) ++failures;
      auto claimed = store.ClaimRuns(node == 0 ? "a" : "b", clock_.Now(), 4, std::chrono::hours(1));
      EXPECT_TRUE(claimed.ok()) << claimed.status().ToString();
      if (!claimed.ok()) ++failures;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(work, std::ref(*a), 0, t);
    threads.emplace_back(work, std::ref(*b), 1, t);
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  ExpectNoDeadlocks();
  // The throttled runs' due times, read before the last claim moves any of them to its lease's
  // end. The threads' claims leased only runs due at the fixed clock's time, each for an hour.
  RunFilter filter;
  filter.limit = 100000;
  auto runs = a->ListRuns(filter);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u * 2 * kThreads * kBatches * keys.size());
  std::map<std::string, std::set<int64_t>> due;  // throttled runs: due times per key
  for (const RunRecord& run : *runs) {
    if (run.flow_id != "throttled") continue;
    const std::string key = run.id.substr(run.id.rfind('-') + 1);
    due[key].insert(ToUnixMillis(
        run.lease_owner.empty() ? *run.due_at : *run.lease_until - std::chrono::hours(1)));
  }
  // Runs set aside for a full slot are due again; one more claim, alone, fills the free places.
  clock_.Advance(std::chrono::seconds(3));
  ASSERT_TRUE(a->ClaimRuns("a", clock_.Now(), 1000, std::chrono::hours(1)).ok());
  runs = a->ListRuns(filter);
  ASSERT_TRUE(runs.ok());
  std::map<std::string, int> leased;  // limited runs: leased per key
  int leased_flow = 0;
  for (const RunRecord& run : *runs) {
    const std::string key = run.id.substr(run.id.rfind('-') + 1);
    if (run.flow_id != "throttled" && !run.lease_owner.empty()) {
      ++leased[key];
      ++leased_flow;
    }
  }
  const int per_key = 2 * kThreads * kBatches;
  for (const std::string& key : keys) {
    ASSERT_EQ(due[key].size(), static_cast<size_t>(per_key)) << key;
    EXPECT_EQ(*due[key].rbegin() - *due[key].begin(), (per_key - 1) * 1000) << key;
    EXPECT_LE(leased[key], 2) << key;
  }
  EXPECT_EQ(leased_flow, 5);  // the extra slot "*" of the whole flow
}

// Two nodes commit, from several threads each, what a busy cluster commits at once: events with
// the runs they start and those runs' first journal entries, steps of runs each holds (lease
// check, journal, update), waits registered and resolved. No commit fails, and on PostgreSQL no
// transaction meets a deadlock: every one takes its locks in one order (flow-control keys, the
// event lock, rows), however its group mixes these batches.
TEST_P(StoreNodesTest, GroupsMixingEventsStepsAndWaitsNeverDeadlock) {
  std::unique_ptr<Store> nodes[2] = {Open(), Open()};
  ASSERT_TRUE(nodes[0] && nodes[1]);
  constexpr int kThreads = 3;
  constexpr int kRounds = 15;
  std::atomic<int> failures{0};
  auto check = [&](const StatusOr<BatchResult>& result) {
    Status status = result.ok() ? result->status : result.status();
    EXPECT_TRUE(status.ok()) << status.ToString();
    if (!status.ok()) ++failures;
  };
  auto work = [&](int node, int thread) {
    Store& store = *nodes[node];
    const std::string owner = node == 0 ? "a" : "b";
    for (int i = 0; i < kRounds; ++i) {
      const std::string id = owner + std::to_string(thread) + "-" + std::to_string(i);
      // An ingest: the event, its run created leased, the run's first step journaled.
      EventRecord event;
      event.id = "e-" + id;
      event.name = "go";
      event.data = Json{{"k", id}};
      event.ts = clock_.Now();
      RunRecord run = NewRun("r-" + id);
      run.trigger_event_id = event.id;
      run.lease_owner = owner;
      run.lease_until = clock_.Now() + std::chrono::hours(1);
      run.due_at = run.lease_until;
      WriteBatch ingest;
      ingest.Add(InsertEventOp{event});
      ingest.Add(CreateRunOp{run, std::chrono::hours(24), {}});
      ingest.Add(Entry(run.id, "first", clock_.Now()));
      check(store.Commit(std::move(ingest)));
      // A step of that run, fenced by its lease, and a wait it registers.
      WriteBatch step;
      step.Add(RequireLeaseOp{run.id, owner, kFirstLeaseToken});
      step.Add(Entry(run.id, "second", clock_.Now()));
      step.Add(UpdateRunOp{.run_id = run.id,
                           .status = RunStatus::kWaiting,
                           .due_at = clock_.Now() + std::chrono::hours(1),
                           .release_lease = true});
      WaitRecord wait;
      wait.id = "w-" + id;
      wait.run_id = run.id;
      wait.flow_id = "flow";
      wait.revision = "r1";
      wait.step_key = "wait";
      wait.step_id = "wait";
      wait.event_name = "go";
      wait.created_at = clock_.Now();
      wait.context = Json{{"event", Json::object()}};
      step.Add(RegisterWaitOp{wait});
      check(store.Commit(std::move(step)));
      // The other node's thread resolves a wait this one registered a round before.
      if (i > 0) {
        const std::string other =
            (node == 0 ? "b" : "a") + std::to_string(thread) + "-" + std::to_string(i - 1);
        WriteBatch resolve;
        resolve.Add(ResolveWaitOp{"w-" + other, Json{{"ok", true}}, owner,
                                  clock_.Now() + std::chrono::hours(1)});
        check(store.Commit(std::move(resolve)));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back(work, 0, t);
    threads.emplace_back(work, 1, t);
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  RunFilter filter;
  filter.limit = 1000;
  auto runs = nodes[0]->ListRuns(filter);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 2u * kThreads * kRounds);
  ExpectNoDeadlocks();
}

// The sharpest case of the lock order: one node commits steps of a run it holds that also store
// an event (its lease check locks the run's row, and the event needs the event lock) while the
// other node stores events and wakes that run in the same commits (event lock, then the row).
// Taken in two orders, the two would wait on each other.
TEST_P(StoreNodesTest, StepsThatStoreEventsAndWakesOfTheirRunNeverDeadlock) {
  std::unique_ptr<Store> holder = Open();
  std::unique_ptr<Store> waker = Open();
  ASSERT_TRUE(holder && waker);
  RunRecord run = NewRun("held");
  run.lease_owner = "a";
  run.lease_until = clock_.Now() + std::chrono::hours(1);
  run.due_at = run.lease_until;
  WriteBatch create;
  create.Add(CreateRunOp{run, std::chrono::hours(24), {}});
  ASSERT_TRUE(holder->Commit(std::move(create)).ok());
  constexpr int kThreads = 2;
  constexpr int kRounds = 40;
  std::atomic<int> failures{0};
  auto event = [&](const std::string& id) {
    EventRecord e;
    e.id = id;
    e.name = "sent";
    e.data = Json::object();
    e.ts = clock_.Now();
    return InsertEventOp{e};
  };
  auto commit = [&](Store& store, WriteBatch batch) {
    auto result = store.Commit(std::move(batch));
    Status status = result.ok() ? result->status : result.status();
    EXPECT_TRUE(status.ok()) << status.ToString();
    if (!status.ok()) ++failures;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        const std::string id = std::to_string(t) + "-" + std::to_string(i);
        WriteBatch step;
        step.Add(RequireLeaseOp{"held", "a", kFirstLeaseToken});
        step.Add(Entry("held", "step-" + id, clock_.Now()));
        step.Add(event("step-" + id));
        step.Add(UpdateRunOp{.run_id = "held",
                             .status = RunStatus::kRunning,
                             .due_at = clock_.Now() + std::chrono::hours(1)});
        commit(*holder, std::move(step));
      }
    });
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        WriteBatch wake;
        wake.Add(event("wake-" + std::to_string(t) + "-" + std::to_string(i)));
        wake.Add(WakeRunOp{"held"});
        commit(*waker, std::move(wake));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(holder->LoadJournal("held")->size(), static_cast<size_t>(kThreads * kRounds));
  ExpectNoDeadlocks();
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreNodesTest, ::testing::ValuesIn(AllStoreKinds()),
                         [](const auto& info) { return std::string(StoreKindName(info.param)); });

}  // namespace
}  // namespace flowrun::store
