// Engine::RerunRun: a new run of the same revision with the same trigger event; from a step, the
// earlier steps' completions are taken over and not executed again.
#include <gtest/gtest.h>

#include "testing/engine_harness.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;

constexpr char kCheckout[] = R"(
id: checkout
on: {event: order/paid}
idempotency: event.data.order
steps:
  - id: stamp
    set: {token: "${{ uuid() }}"}
  - id: lines
    foreach:
      items: event.data.items
      as: item
      steps:
        - id: reserve
          http: {method: POST, url: "https://stock.example/reserve/${{ item }}"}
  - id: charge
    http: {method: POST, url: "https://pay.example/charge"}
  - id: receipt
    email: {to: "a@example.com", subject: "paid", text: "${{ vars.token }}"}
  - id: done
    return:
      token: "${{ vars.token }}"
      charge: "${{ steps.charge.output.key }}"
)";

TEST(EngineRerunTest, RerunFromAStepTakesOverTheEarlierStepsAndRunsTheRest) {
  EngineHarness h;
  auto first_revision = h.AddFlow(kCheckout);
  std::string original = h.Send("order/paid", {{"order", "o1"}, {"items", {"a", "b"}}});
  ASSERT_TRUE(h.Drive().ok());
  store::RunRecord done = h.Run(original);
  ASSERT_EQ(done.status, RunStatus::kCompleted) << done.error.dump();
  ASSERT_EQ(h.action("http").calls(), 3);
  ASSERT_EQ(h.action("email").calls(), 1);

  // A newer revision must not be used by the rerun.
  h.AddFlow(std::string(kCheckout) + "  - id: extra\n    return: new\n");

  auto rerun = h.engine().RerunRun(original, std::string("receipt"));
  ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
  EXPECT_NE(*rerun, original);
  ASSERT_TRUE(h.Drive().ok());
  store::RunRecord again = h.Run(*rerun);
  ASSERT_EQ(again.status, RunStatus::kCompleted) << again.error.dump();
  EXPECT_EQ(again.revision, first_revision->revision);
  EXPECT_EQ(again.event, done.event);
  EXPECT_TRUE(again.trigger_event_id.empty());
  // stamp, reserve[0], reserve[1] and charge were not executed again; receipt was.
  EXPECT_EQ(h.action("http").calls(), 3);
  EXPECT_EQ(h.action("email").calls(), 2);
  EXPECT_EQ(h.action("email").requests().back().idempotency_key, *rerun + "/receipt");
  // What the earlier steps produced is in scope as it was: the same uuid() and charge output.
  EXPECT_EQ(again.output, done.output);
  for (const char* key : {"stamp", "lines", "reserve[0]", "reserve[1]", "charge"}) {
    Json record = h.Completion(*rerun, key);
    ASSERT_TRUE(record.is_object()) << key;
    EXPECT_EQ(record["copied_from"], original) << key;
  }
  EXPECT_FALSE(h.Completion(*rerun, "receipt").contains("copied_from"));
}

TEST(EngineRerunTest, PlainRerunExecutesEveryStepAgainDespiteIdempotency) {
  EngineHarness h;
  h.AddFlow(kCheckout);
  std::string original = h.Send("order/paid", {{"order", "o2"}, {"items", {"a"}}});
  ASSERT_TRUE(h.Drive().ok());
  ASSERT_EQ(h.action("http").calls(), 2);

  auto rerun = h.engine().RerunRun(original);
  ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
  ASSERT_TRUE(h.Drive().ok());
  store::RunRecord again = h.Run(*rerun);
  ASSERT_EQ(again.status, RunStatus::kCompleted) << again.error.dump();
  EXPECT_EQ(again.event, h.Run(original).event);
  EXPECT_EQ(h.action("http").calls(), 4);
  EXPECT_EQ(h.action("email").calls(), 2);
  EXPECT_NE(again.output["token"], h.Run(original).output["token"]);
  EXPECT_FALSE(h.Completion(*rerun, "stamp").contains("copied_from"));
}

TEST(EngineRerunTest, UnknownRunOrStepIsRefused) {
  EngineHarness h;
  h.AddFlow(kCheckout);
  std::string original = h.Send("order/paid", {{"order", "o3"}, {"items", Json::array()}});
  ASSERT_TRUE(h.Drive().ok());
  EXPECT_EQ(h.engine().RerunRun("run_missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(h.engine().RerunRun(original, std::string("nope")).status().code(),
            StatusCode::kInvalidArgument);
  // A nested step is not a place to rerun from.
  EXPECT_EQ(h.engine().RerunRun(original, std::string("reserve")).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace flowrun
