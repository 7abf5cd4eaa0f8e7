// Every action attempt journals when the engine sent it (`started_at`, Unix ms) beside the entry's
// own time (when its result was recorded): what the dashboard's waterfall draws each attempt from.
#include <gtest/gtest.h>

#include <vector>

#include "common/timestamp.h"
#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::JournalKind;
using store::RunStatus;
using testing::EngineHarness;

TEST(EngineAttemptTimeTest, FailedAndFinalAttemptsCarryWhenTheyWereSent) {
  EngineHarness h;
  h.AddFlow(R"(
id: retry
on: {event: go}
steps:
  - id: first
    set: {x: 1}
  - id: call
    retry: {attempts: 3, delay: 10s, backoff: constant, jitter: false}
    http: {method: GET, url: "https://x"}
)");
  h.action("http").Script(UnavailableError("connection refused"));
  std::string run = h.Send("go");
  const long long sent_first = ToUnixMillis(h.clock().Now());
  ASSERT_TRUE(h.Drive().ok());
  ASSERT_EQ(h.Run(run).status, RunStatus::kCompleted);

  std::vector<store::JournalEntry> attempts;
  for (const store::JournalEntry& e : h.Journal(run)) {
    if (e.step_key == "call") attempts.push_back(e);
  }
  ASSERT_EQ(attempts.size(), 2u);
  ASSERT_EQ(attempts[0].kind, JournalKind::kAttempt);
  ASSERT_EQ(attempts[1].kind, JournalKind::kCompleted);
  // The first attempt went out as the run was first walked; the retry when its delay was up.
  EXPECT_EQ(attempts[0].data["started_at"], sent_first);
  const long long retry_at = attempts[0].data["retry_at"].get<long long>();
  EXPECT_EQ(retry_at, sent_first + 10000);
  EXPECT_EQ(attempts[1].data["started_at"], retry_at);
  for (const store::JournalEntry& e : attempts) {
    EXPECT_LE(e.data["started_at"].get<long long>(), ToUnixMillis(e.at)) << e.data.dump();
  }
  // Steps that are not actions send nothing and journal no start.
  EXPECT_FALSE(h.Completion(run, "first").contains("started_at"));
}

}  // namespace
}  // namespace flowrun
