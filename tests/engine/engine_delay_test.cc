// send_event with `delay`: the event commits with the sending step but joins the event log, starts
// runs and resolves waits only when due — once, across restarts.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/engine.h"
#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

store::RunFilter FlowRuns(const std::string& flow) {
  store::RunFilter filter;
  filter.flow_id = flow;
  return filter;
}

// Started by the delayed event; returns its order.
constexpr char kReminder[] = R"(
id: reminder
on: {event: reminder/due}
steps:
  - id: r
    return: "${{ event.data.order }}"
)";

TEST(EngineDelayTest, DelayedEventStartsRunsAndResolvesWaitsOnceWhenDue) {
  EngineHarness h;
  h.AddFlow(R"(
id: sender
on: {event: go}
steps:
  - id: emit
    send_event:
      - {name: reminder/due, data: {order: 7}, delay: 10m}
      - {name: order/paid, data: {order: 7}, delay: 1h}
)");
  h.AddFlow(kReminder);
  h.AddFlow(R"(
id: waiter
on: {event: order/placed}
steps:
  - id: paid
    wait_for_event: {event: order/paid, match: data.order, timeout: 2h}
  - id: out
    return: "${{ steps.paid.output.data.order }}"
)");
  const TimePoint start = h.clock().Now();
  std::string waiter = h.Send("order/placed", {{"order", 7}});
  std::string sender = h.Send("go");
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  ASSERT_EQ(h.Run(sender).status, RunStatus::kCompleted);
  ASSERT_EQ(h.Run(waiter).status, RunStatus::kWaiting);
  auto ids = h.Completion(sender, "emit")["output"]["ids"];
  ASSERT_EQ(ids.size(), 2u);
  // Not visible yet: no event, no run.
  EXPECT_FALSE(*h.store().GetEvent(ids[0].get<std::string>()));
  EXPECT_TRUE(h.engine().ListRuns(FlowRuns("reminder"))->empty());
  EXPECT_EQ(**h.engine().NextDueTime(), start + std::chrono::minutes(10));

  h.Reopen();  // a delayed event survives a restart
  h.clock().Advance(std::chrono::minutes(9));
  ASSERT_TRUE(h.engine().AdvanceReadyRuns(10).ok());
  EXPECT_TRUE(h.engine().ListRuns(FlowRuns("reminder"))->empty());

  ASSERT_TRUE(h.Drive(std::chrono::minutes(30)).ok());
  EXPECT_EQ(h.clock().Now(), start + std::chrono::minutes(10));
  auto reminders = h.engine().ListRuns(FlowRuns("reminder"));
  ASSERT_EQ(reminders->size(), 1u);
  EXPECT_EQ(reminders->front().status, RunStatus::kCompleted);
  EXPECT_EQ(reminders->front().output, 7);
  auto released = h.store().GetEvent(ids[0].get<std::string>());
  ASSERT_TRUE(released.ok() && released->has_value());
  EXPECT_EQ((*released)->ts, start + std::chrono::minutes(10));
  EXPECT_EQ(h.Run(waiter).status, RunStatus::kWaiting);

  h.Reopen();
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.clock().Now(), start + std::chrono::hours(1));
  EXPECT_EQ(h.Run(waiter).status, RunStatus::kCompleted);
  EXPECT_EQ(h.Run(waiter).output, 7);
  EXPECT_EQ(h.engine().ListRuns(FlowRuns("reminder"))->size(), 1u);
  auto next = h.engine().NextDueTime();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->has_value());
}

// The engine stops asking for due delayed events once none are left, and starts again when it
// commits a new one, whether a worker or the ingest walk ran the sending step.
TEST(EngineDelayTest, ADelayedEventSentAfterTheQueueEmptiedIsStillReleased) {
  EngineHarness h;
  h.AddFlow(R"(
id: sender
on: {event: go}
steps:
  - id: emit
    send_event: {name: reminder/due, data: {order: "${{ event.data.n }}"}, delay: 10m}
)");
  h.AddFlow(kReminder);
  for (int n = 1; n <= 2; ++n) {
    // Idle long enough for the engine to find no delayed events and stop asking.
    for (int i = 0; i < 3; ++i) {
      h.clock().Advance(std::chrono::seconds(5));
      ASSERT_TRUE(h.engine().AdvanceReadyRuns(8).ok());
    }
    h.Send("go", {{"n", n}});
    ASSERT_TRUE(h.engine().AdvanceReadyRuns(8).ok());
    h.clock().Advance(std::chrono::minutes(10));
    ASSERT_TRUE(h.engine().AdvanceReadyRuns(8).ok());
    ASSERT_TRUE(h.engine().AdvanceReadyRuns(8).ok());
    auto reminders = h.engine().ListRuns(FlowRuns("reminder"));
    ASSERT_TRUE(reminders.ok());
    ASSERT_EQ(reminders->size(), static_cast<size_t>(n)) << "round " << n;
    Json outputs = Json::array();
    for (const auto& run : *reminders) {
      EXPECT_EQ(run.status, RunStatus::kCompleted);
      outputs.push_back(run.output);
    }
    EXPECT_NE(std::find(outputs.begin(), outputs.end(), Json(n)), outputs.end()) << outputs;
  }
}

TEST(EngineDelayTest, BadDelayFailsTheStep) {
  EngineHarness h;
  h.AddFlow(R"(
id: sender
on: {event: go}
steps:
  - id: emit
    send_event: {name: x, delay: "${{ event.data.delay }}"}
)");
  std::string run = h.Send("go", {{"delay", "soon"}});
  ASSERT_TRUE(h.Drive().ok());
  auto record = h.Run(run);
  EXPECT_EQ(record.status, RunStatus::kFailed);
  EXPECT_NE(record.error.value("message", "").find("delay"), std::string::npos)
      << record.error.dump();
}

}  // namespace
}  // namespace flowrun
