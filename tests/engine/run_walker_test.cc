// RunWalker on its own: a compiled flow, a run record and a journal in memory, and no store. Each
// test walks, reads the batch the walk would commit, and walks again as the engine would.
#include "engine/run_walker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "flow/compiler.h"
#include "flow/yaml_loader.h"

namespace flowrun {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using store::JournalEntry;
using store::JournalKind;
using store::RunStatus;

const TimePoint kStart = FromUnixMillis(1'700'000'000'000);

std::shared_ptr<const Program> Compile(const std::string& yaml) {
  CompiledFlow compiled = CompileFlow(LoadYaml("run_walker_test.yaml", yaml));
  std::string errors;
  for (const Diagnostic& d : compiled.diagnostics) errors += d.message + "\n";
  EXPECT_TRUE(compiled.program) << errors;
  return compiled.program;
}

// A run of `program` leased to "node", started at kStart by an event with `data`.
store::RunRecord NewRun(const Program& program, Json data = Json::object()) {
  store::RunRecord run;
  run.id = "run_1";
  run.flow_id = program.flow_id;
  run.revision = program.revision;
  run.status = RunStatus::kRunning;
  run.event = Json{{"id", "evt_1"}, {"name", "go"}, {"data", std::move(data)}};
  run.created_at = kStart;
  run.updated_at = kStart;
  run.lease_owner = "node";
  run.lease_token = store::kFirstLeaseToken;
  run.lease_until = kStart + minutes(10);
  return run;
}

// The journal entries a batch appends, as the store would give them back to a new walker.
std::vector<JournalEntry> JournalOf(const store::WriteBatch& batch) {
  std::vector<JournalEntry> journal;
  for (const store::WriteOp& op : batch.ops) {
    if (const auto* append = std::get_if<store::AppendJournalOp>(&op)) {
      journal.push_back(append->entry);
    }
  }
  return journal;
}

// The run's new state in a batch (each walk ends with one).
store::UpdateRunOp UpdateOf(const store::WriteBatch& batch) {
  for (const store::WriteOp& op : batch.ops) {
    if (const auto* update = std::get_if<store::UpdateRunOp>(&op)) return *update;
  }
  ADD_FAILURE() << "the batch has no UpdateRunOp";
  return {};
}

class RunWalkerTest : public ::testing::Test {
 protected:
  RunWalkerTest() {
    env_.log = [this](const std::string& run, const std::string& key, const std::string& line) {
      logs_.emplace_back(run, key, line);
    };
    env_.uniform = [] { return 0.5; };
  }

  WalkEnvironment env_;
  std::vector<std::tuple<std::string, std::string, std::string>> logs_;
};

TEST_F(RunWalkerTest, SetLogAndReturnFinishTheRunInOneWalk) {
  auto program = Compile(R"(
id: greeter
on: {event: go}
steps:
  - id: name
    set: {who: "${{ event.data.first }}", count: 2}
  - id: say
    log: "hello ${{ vars.who }}"
  - id: answer
    return: {greetings: "${{ vars.count * 3 }}"}
)");
  ASSERT_TRUE(program);
  RunWalker walker(program, NewRun(*program, {{"first", "ada"}}), {}, env_, "node");

  WalkResult result = walker.Walk(kStart);
  EXPECT_EQ(result.state, WalkResult::State::kCompleted);
  EXPECT_EQ(result.status, RunStatus::kCompleted);
  EXPECT_TRUE(result.actions.empty());
  EXPECT_EQ(logs_, (decltype(logs_){{"run_1", "say", "hello ada"}}));

  store::WriteBatch batch = walker.TakeBatch();
  ASSERT_FALSE(batch.ops.empty());
  const auto* lease = std::get_if<store::RequireLeaseOp>(&batch.ops.front());
  ASSERT_NE(lease, nullptr) << "a walker's batch starts with its lease check";
  EXPECT_EQ(lease->token, store::kFirstLeaseToken);
  std::vector<JournalEntry> journal = JournalOf(batch);
  ASSERT_EQ(journal.size(), 3u);
  EXPECT_EQ(journal[0].step_key, "name");
  EXPECT_EQ(journal[0].data["output"], (Json{{"who", "ada"}, {"count", 2}}));
  EXPECT_EQ(journal[2].step_key, "answer");
  store::UpdateRunOp update = UpdateOf(batch);
  EXPECT_EQ(update.status, RunStatus::kCompleted);
  EXPECT_EQ(update.output, (Json{{"greetings", 6}}));
  EXPECT_TRUE(update.release_lease);
}

TEST_F(RunWalkerTest, SleepYieldsATimerThatAReplayKeeps) {
  auto program = Compile(R"(
id: sleeper
on: {event: go}
steps:
  - id: nap
    sleep: 10m
  - id: done
    return: {ok: true}
)");
  ASSERT_TRUE(program);
  RunWalker walker(program, NewRun(*program), {}, env_, "node");

  WalkResult first = walker.Walk(kStart);
  EXPECT_EQ(first.state, WalkResult::State::kSuspended);
  EXPECT_EQ(first.status, RunStatus::kSleeping);
  store::WriteBatch batch = walker.TakeBatch();
  store::UpdateRunOp update = UpdateOf(batch);
  EXPECT_EQ(update.status, RunStatus::kSleeping);
  EXPECT_EQ(update.due_at, kStart + minutes(10));
  EXPECT_TRUE(update.release_lease);

  // A walker rebuilt from the journal halfway through keeps the wake time it recorded.
  RunWalker replayed(program, NewRun(*program), JournalOf(batch), env_, "node");
  WalkResult early = replayed.Walk(kStart + minutes(5));
  EXPECT_EQ(early.status, RunStatus::kSleeping);
  EXPECT_EQ(UpdateOf(replayed.TakeBatch()).due_at, kStart + minutes(10));

  WalkResult woken = replayed.Walk(kStart + minutes(10));
  EXPECT_EQ(woken.state, WalkResult::State::kCompleted);
  EXPECT_EQ(UpdateOf(replayed.TakeBatch()).output, (Json{{"ok", true}}));
}

TEST_F(RunWalkerTest, AReplayedJournalSkipsCompletedSteps) {
  auto program = Compile(R"(
id: fetcher
on: {event: go}
steps:
  - id: fetch
    http: {method: GET, url: "https://example.com"}
  - id: out
    return: "${{ steps.fetch.output.body }}"
)");
  ASSERT_TRUE(program);
  // Without a journal, the walk stops at the action.
  RunWalker fresh(program, NewRun(*program), {}, env_, "node");
  WalkResult reached = fresh.Walk(kStart);
  ASSERT_EQ(reached.actions.size(), 1u);
  EXPECT_EQ(reached.actions[0].step_key, "fetch");

  std::vector<JournalEntry> journal = {JournalEntry{.run_id = "run_1",
                                                    .step_key = "fetch",
                                                    .kind = JournalKind::kCompleted,
                                                    .data = Json{{"status", "completed"},
                                                                 {"outcome", "next"},
                                                                 {"output", {{"body", "hello"}}},
                                                                 {"attempts", 1}},
                                                    .at = kStart}};
  RunWalker replayed(program, NewRun(*program), journal, env_, "node");
  WalkResult result = replayed.Walk(kStart + seconds(1));
  EXPECT_TRUE(result.actions.empty());
  EXPECT_EQ(result.state, WalkResult::State::kCompleted);
  store::WriteBatch batch = replayed.TakeBatch();
  EXPECT_EQ(UpdateOf(batch).output, "hello");
  // Only the step that ran now is journaled again.
  std::vector<JournalEntry> appended = JournalOf(batch);
  ASSERT_EQ(appended.size(), 1u);
  EXPECT_EQ(appended[0].step_key, "out");
}

// A walker keeps the steps' scope entries of its last walk and moves back those replayed from
// the same journal record; each walk must still see every step as its own journal says, inside a
// loop (one step id, a record per item, finishing out of order) as much as outside.
TEST_F(RunWalkerTest, EveryWalkSeesEachStepAsTheJournalSaysInsideAndOutsideALoop) {
  auto program = Compile(R"(
id: looper
on: {event: go}
steps:
  - id: fetch
    http: {method: GET, url: "https://example.com/0"}
  - id: loop
    foreach:
      items: event.data.items
      concurrency: 3
      steps:
        - id: call
          http: {method: GET, url: "https://example.com/${{ item }}"}
        - id: note
          set: {seen: "${{ steps.call.output.n }}", first: "${{ steps.fetch.output.n }}"}
  - id: answer
    return: {first: "${{ steps.fetch.output.n }}", all: "${{ steps.loop.output }}"}
)");
  ASSERT_TRUE(program);
  RunWalker walker(program, NewRun(*program, {{"items", {1, 2, 3}}}), {}, env_, "node");
  // Started actions by the item in their URL (0 for fetch); each answers {n: 10 * item}.
  std::map<int, PendingAction> started;
  store::WriteBatch batch;
  auto walk = [&] {
    WalkResult result = walker.Walk(kStart);
    for (PendingAction& action : result.actions) {
      const std::string url = action.arguments["url"].get<std::string>();
      walker.MarkInFlight(action.step_key);
      started.emplace(std::stoi(url.substr(url.rfind('/') + 1)), std::move(action));
    }
    batch = walker.TakeBatch();
    return result.state;
  };
  ASSERT_EQ(walk(), WalkResult::State::kSuspended);
  for (int item : {0, 3, 1, 2}) {
    ASSERT_EQ(started.count(item), 1u) << item;
    PendingAction action = std::move(started.at(item));
    started.erase(item);
    walker.RecordActionResult(std::move(action), Json{{"n", 10 * item}}, kStart);
    const WalkResult::State state = walk();
    if (item != 2) ASSERT_EQ(state, WalkResult::State::kSuspended) << item;
  }
  EXPECT_TRUE(started.empty());
  store::UpdateRunOp update = UpdateOf(batch);
  EXPECT_EQ(update.status, RunStatus::kCompleted);
  EXPECT_EQ(update.output, (Json{{"first", 0},
                                 {"all",
                                  {{{"seen", 10}, {"first", 0}},
                                   {{"seen", 20}, {"first", 0}},
                                   {{"seen", 30}, {"first", 0}}}}}));
}

TEST_F(RunWalkerTest, AFailedAttemptIsRetriedAsThePolicySays) {
  auto program = Compile(R"(
id: retrier
on: {event: go}
steps:
  - id: fetch
    retry: {attempts: 2, delay: 1m, backoff: constant, jitter: false}
    http: {method: GET, url: "https://example.com"}
)");
  ASSERT_TRUE(program);
  RunWalker walker(program, NewRun(*program), {}, env_, "node");

  WalkResult first = walker.Walk(kStart);
  ASSERT_EQ(first.actions.size(), 1u);
  EXPECT_EQ(first.actions[0].attempt, 1);
  (void)walker.TakeBatch();
  walker.RecordActionResult(std::move(first.actions[0]), UnavailableError("down"), kStart);

  // Before the delay is up the step waits, and the run falls due when it is.
  WalkResult waiting = walker.Walk(kStart + seconds(30));
  EXPECT_EQ(waiting.state, WalkResult::State::kSuspended);
  EXPECT_TRUE(waiting.actions.empty());
  store::WriteBatch batch = walker.TakeBatch();
  std::vector<JournalEntry> journal = JournalOf(batch);
  ASSERT_EQ(journal.size(), 1u);
  EXPECT_EQ(journal[0].kind, JournalKind::kAttempt);
  EXPECT_EQ(UpdateOf(batch).due_at, kStart + minutes(1));

  WalkResult second = walker.Walk(kStart + minutes(1));
  ASSERT_EQ(second.actions.size(), 1u);
  EXPECT_EQ(second.actions[0].attempt, 2);
  (void)walker.TakeBatch();
  walker.RecordActionResult(std::move(second.actions[0]), UnavailableError("still down"),
                            kStart + minutes(1));

  // The policy allows two attempts: the second failure is final.
  WalkResult last = walker.Walk(kStart + minutes(2));
  EXPECT_EQ(last.state, WalkResult::State::kFailed);
  EXPECT_EQ(last.status, RunStatus::kFailed);
  store::UpdateRunOp failed = UpdateOf(walker.TakeBatch());
  EXPECT_EQ(failed.error["code"], "UNAVAILABLE");
  EXPECT_EQ(failed.error["message"], "still down");
}

}  // namespace
}  // namespace flowrun
