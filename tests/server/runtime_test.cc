#include "server/runtime.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>

#include "testing/loopback_http_server.h"
#include "testing/runtime_test_util.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::Eventually;
using testing::RuntimeFixture;
using testing::WriteFile;

class RuntimeTest : public ::testing::Test {
 protected:
  void AddFlow(const std::string& name, const std::string& yaml) {
    WriteFile(fixture_.flows_dir() + "/" + name + ".yaml", yaml);
  }
  RuntimeFixture fixture_;
};

TEST_F(RuntimeTest, WorkersRunIngestedEventsToCompletion) {
  AddFlow("double", R"(id: double
on:
  - event: number/given
steps:
  - id: twice
    set: {value: "${{ event.data.n * 2 }}"}
  - id: done
    return: "${{ vars.value }}"
)");
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  EXPECT_TRUE(runtime->Ready());
  std::vector<Json> events;
  for (int i = 0; i < 50; ++i) events.push_back({{"name", "number/given"}, {"data", {{"n", i}}}});
  auto ingested = runtime->IngestEvents(events);
  ASSERT_TRUE(ingested.ok()) << ingested.status().ToString();
  ASSERT_EQ(ingested->size(), 50u);
  for (int i = 0; i < 50; ++i) {
    const std::string id = (*ingested)[i].runs.at(0);
    ASSERT_TRUE(
        Eventually([&] { return RuntimeFixture::HasStatus(*runtime, id, RunStatus::kCompleted); }));
    EXPECT_EQ(RuntimeFixture::GetRun(*runtime, id)->output, Json(2 * i));
  }
  auto detail = runtime->GetRun((*ingested)[3].runs.at(0));
  ASSERT_TRUE(detail.ok() && detail->has_value());
  EXPECT_GE((*detail)->journal.size(), 2u);
  auto listed = runtime->ListEvents({});
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 50u);
  auto event = runtime->GetEvent((*ingested)[0].id);
  ASSERT_TRUE(event.ok() && event->has_value());
  EXPECT_EQ((*event)->name, "number/given");
  EXPECT_NE(runtime->metrics().Render().find("flowrun_events_received_total 50"),
            std::string::npos);
}

TEST_F(RuntimeTest, TheTimerDeletesFinishedRunsPastRetention) {
  AddFlow("quick", "id: quick\non:\n  - event: quick/go\nsteps:\n  - id: done\n    return: ok\n");
  AddFlow("nap",
          "id: nap\non:\n  - event: nap/start\nsteps:\n  - id: nap\n    sleep: 720h\n"
          "  - id: done\n    return: rested\n");
  RuntimeOptions options = fixture_.Options();
  options.config.retention.runs = std::chrono::hours(24 * 7);
  auto runtime = fixture_.Start(std::move(options));
  ASSERT_TRUE(runtime);
  std::string finished = RuntimeFixture::Send(*runtime, "quick/go");
  std::string sleeping = RuntimeFixture::Send(*runtime, "nap/start");
  ASSERT_TRUE(Eventually(
      [&] { return RuntimeFixture::HasStatus(*runtime, finished, RunStatus::kCompleted); }));
  ASSERT_TRUE(Eventually(
      [&] { return RuntimeFixture::HasStatus(*runtime, sleeping, RunStatus::kSleeping); }));
  // Eight days later the next pass deletes the finished run and leaves the sleeping one.
  fixture_.clock().Advance(std::chrono::hours(24 * 8));
  runtime->Wake();
  EXPECT_TRUE(Eventually([&] {
    auto run = runtime->GetRun(finished);
    return run.ok() && !run->has_value();
  }));
  EXPECT_TRUE(RuntimeFixture::HasStatus(*runtime, sleeping, RunStatus::kSleeping));
}

TEST_F(RuntimeTest, RetentionPrunesEventsAndOutboxAndCountsThem) {
  AddFlow("mail", R"(id: mail
on:
  - event: mail/send
steps:
  - id: send
    email: {to: "a@example.com", subject: "hi", text: "hello"}
)");
  RuntimeOptions options = fixture_.Options();
  options.config.retention.runs = std::chrono::hours(24 * 3);
  options.config.retention.events = std::chrono::hours(24 * 2);
  options.config.retention.outbox = std::chrono::hours(24);
  auto runtime = fixture_.Start(std::move(options));
  ASSERT_TRUE(runtime);
  std::string mailed = RuntimeFixture::Send(*runtime, "mail/send");
  auto lone = runtime->IngestEvents({Json{{"name", "nobody/listens"}}});  // starts no run
  ASSERT_TRUE(lone.ok());
  const std::string lone_id = lone->front().id;
  ASSERT_TRUE(Eventually(
      [&] { return RuntimeFixture::HasStatus(*runtime, mailed, RunStatus::kCompleted); }));
  ASSERT_EQ(runtime->Outbox(10)->size(), 1u);

  // A day and a half later only the outbox message is past its retention.
  fixture_.clock().Advance(std::chrono::hours(36));
  runtime->Wake();
  EXPECT_TRUE(Eventually([&] { return runtime->Outbox(10)->empty(); }));
  EXPECT_TRUE(runtime->GetEvent(lone_id)->has_value());
  EXPECT_TRUE(RuntimeFixture::HasStatus(*runtime, mailed, RunStatus::kCompleted));

  // Four days later the run goes, then the events (its trigger once it is gone, the lone one).
  fixture_.clock().Advance(std::chrono::hours(24 * 4));
  runtime->Wake();
  EXPECT_TRUE(Eventually([&] {
    auto run = runtime->GetRun(mailed);
    return run.ok() && !run->has_value();
  }));
  EXPECT_TRUE(Eventually([&] { return !runtime->GetEvent(lone_id)->has_value(); }));
  const std::string text = runtime->metrics().Render();
  for (const char* line :
       {"flowrun_pruned_total{kind=\"outbox\"} 1\n", "flowrun_pruned_total{kind=\"runs\"} 1\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << text;
  }
  EXPECT_NE(text.find("flowrun_pruned_total{kind=\"events\"}"), std::string::npos) << text;
}

TEST_F(RuntimeTest, MetricsCountRunsAndStepsAfterTheyCommit) {
  AddFlow("mail", R"(id: mail
on:
  - event: mail/send
steps:
  - id: send
    email: {to: "a@example.com", subject: "hi", text: "hello"}
)");
  AddFlow("broken",
          "id: broken\non:\n  - event: broken/go\nsteps:\n  - id: stop\n"
          "    fail: {message: no}\n");
  AddFlow("nap", "id: nap\non:\n  - event: nap/start\nsteps:\n  - id: nap\n    sleep: 72h\n");
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  std::string sent = RuntimeFixture::Send(*runtime, "mail/send");
  std::string broken = RuntimeFixture::Send(*runtime, "broken/go");
  std::string napping = RuntimeFixture::Send(*runtime, "nap/start");
  ASSERT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, sent, RunStatus::kCompleted); }));
  ASSERT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, broken, RunStatus::kFailed); }));
  ASSERT_TRUE(Eventually(
      [&] { return RuntimeFixture::HasStatus(*runtime, napping, RunStatus::kSleeping); }));
  auto invoked = runtime->InvokeFlow("mail", Json::object());
  ASSERT_TRUE(invoked.ok());
  ASSERT_TRUE(Eventually(
      [&] { return RuntimeFixture::HasStatus(*runtime, *invoked, RunStatus::kCompleted); }));
  const std::string text = runtime->metrics().Render();
  for (const char* line : {
           "flowrun_runs_started_total{flow=\"mail\"} 2\n",
           "flowrun_runs_started_total{flow=\"broken\"} 1\n",
           "flowrun_runs_started_total{flow=\"nap\"} 1\n",
           "flowrun_runs_completed_total{flow=\"mail\"} 2\n",
           "flowrun_runs_failed_total{flow=\"broken\"} 1\n",
           "flowrun_step_duration_seconds_count{action=\"email\"} 2\n",
           "flowrun_timers_pending 1\n",
           "flowrun_queue_depth 0\n",
           "flowrun_waits_pending 0\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  EXPECT_EQ(text.find("flowrun_runs_completed_total{flow=\"broken\"}"), std::string::npos);
}

TEST_F(RuntimeTest, TheTimerWakesSleepingRunsWhenTheirTimeComes) {
  AddFlow("nap",
          "id: nap\non:\n  - event: nap/start\nsteps:\n  - id: nap\n    sleep: 72h\n"
          "  - id: done\n    return: rested\n");
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  std::string run = RuntimeFixture::Send(*runtime, "nap/start");
  ASSERT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, run, RunStatus::kSleeping); }));
  fixture_.clock().Advance(std::chrono::hours(71));
  runtime->Wake();
  // An hour early the run is still asleep (the workers were woken and found nothing due).
  EXPECT_TRUE(RuntimeFixture::HasStatus(*runtime, run, RunStatus::kSleeping));
  fixture_.clock().Advance(std::chrono::hours(1));
  runtime->Wake();
  EXPECT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, run, RunStatus::kCompleted); }));
}

TEST_F(RuntimeTest, CronTicksStartRunsThroughTheTimerThread) {
  AddFlow("hourly",
          "id: hourly\non:\n  - cron: \"0 * * * *\"\nsteps:\n  - id: done\n"
          "    return: ticked\n");
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  fixture_.clock().Advance(std::chrono::hours(1));
  runtime->Wake();
  store::RunFilter filter;
  filter.flow_id = "hourly";
  ASSERT_TRUE(Eventually([&] {
    auto runs = runtime->ListRuns(filter);
    return runs.ok() && runs->size() == 1 && runs->front().status == RunStatus::kCompleted;
  }));
}

TEST_F(RuntimeTest, InvokeCancelAndRerun) {
  AddFlow("waiter", R"(id: waiter
on:
  - event: waiter/start
steps:
  - id: wait
    wait_for_event: {event: waiter/go, timeout: 1h}
  - id: done
    return: "${{ event.data.tag }}"
)");
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  auto run = runtime->InvokeFlow("waiter", Json{{"tag", "by hand"}});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, *run, RunStatus::kWaiting); }));
  ASSERT_TRUE(runtime->CancelRun(*run).ok());
  EXPECT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, *run, RunStatus::kCancelled); }));
  EXPECT_EQ(runtime->CancelRun(*run).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(runtime->CancelRun("run_missing").code(), StatusCode::kNotFound);
  EXPECT_EQ(runtime->InvokeFlow("nope", Json::object()).status().code(), StatusCode::kNotFound);

  auto rerun = runtime->RerunRun(*run);
  ASSERT_TRUE(rerun.ok()) << rerun.status().ToString();
  EXPECT_NE(*rerun, *run);
  ASSERT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, *rerun, RunStatus::kWaiting); }));
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, *rerun)->event["data"]["tag"], "by hand");
  RuntimeFixture::Send(*runtime, "waiter/go");
  EXPECT_TRUE(Eventually(
      [&] { return RuntimeFixture::HasStatus(*runtime, *rerun, RunStatus::kCompleted); }));
  EXPECT_EQ(runtime->RerunRun("run_missing").status().code(), StatusCode::kNotFound);
}

TEST_F(RuntimeTest, EmailWithoutSmtpGoesToTheDurableOutbox) {
  AddFlow("mail", R"(id: mail
on:
  - event: mail/send
steps:
  - id: send
    email: {to: someone@example.com, subject: "Hello ${{ event.data.who }}", text: hi}
)");
  std::string run;
  {
    auto runtime = fixture_.Start();
    ASSERT_TRUE(runtime);
    run = RuntimeFixture::Send(*runtime, "mail/send", {{"who", "Ann"}});
    ASSERT_TRUE(Eventually(
        [&] { return RuntimeFixture::HasStatus(*runtime, run, RunStatus::kCompleted); }));
    runtime->Shutdown(std::chrono::seconds(5));
  }
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  auto outbox = runtime->Outbox(10);
  ASSERT_TRUE(outbox.ok());
  ASSERT_EQ(outbox->size(), 1u);
  EXPECT_EQ((*outbox)[0].subject, "Hello Ann");
  EXPECT_EQ((*outbox)[0].run_id, run);
}

TEST_F(RuntimeTest, ShutdownStopsIntakeAndIsIdempotent) {
  AddFlow("noop", "id: noop\non:\n  - event: a/b\nsteps:\n  - id: done\n    return: 1\n");
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  runtime->Shutdown(std::chrono::seconds(5));
  EXPECT_FALSE(runtime->Ready());
  EXPECT_EQ(runtime->IngestEvents({Json{{"name", "a/b"}}}).status().code(),
            StatusCode::kUnavailable);
  EXPECT_EQ(runtime->InvokeFlow("noop", Json::object()).status().code(), StatusCode::kUnavailable);
  runtime->Shutdown(std::chrono::seconds(5));
  EXPECT_EQ(runtime->Start().code(), StatusCode::kFailedPrecondition);
}

TEST_F(RuntimeTest, RefusesACorruptStoreWithAClearError) {
  AddFlow("noop", "id: noop\non:\n  - event: a/b\nsteps:\n  - id: done\n    return: 1\n");
  {
    std::ofstream out(fixture_.store_path());
    out << std::string(8192, 'x');
  }
  auto runtime = Runtime::Open(fixture_.Options());
  ASSERT_FALSE(runtime.ok());
  EXPECT_EQ(runtime.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(runtime.status().message().find("opening the store"), std::string::npos)
      << runtime.status().ToString();
}

TEST_F(RuntimeTest, RefusesAMissingFlowsDirectory) {
  RuntimeOptions options = fixture_.Options();
  options.config.flows = fixture_.dir() + "/no-such-dir";
  auto runtime = Runtime::Open(std::move(options));
  ASSERT_FALSE(runtime.ok());
  EXPECT_EQ(runtime.status().code(), StatusCode::kNotFound);
}

TEST_F(RuntimeTest, APostgresStoreThatCannotBeReachedIsUnavailable) {
  RuntimeOptions options = fixture_.Options();
  // Port 1 on loopback: nothing listens there.
  options.config.store = "postgres://flowrun@127.0.0.1:1/flowrun?connect_timeout=2";
  auto runtime = Runtime::Open(std::move(options));
  ASSERT_FALSE(runtime.ok());
  EXPECT_EQ(runtime.status().code(), StatusCode::kUnavailable) << runtime.status().ToString();
}

// A flow whose one step calls `url`; its result is the run's output.
std::string SlowCallFlow(const std::string& url) {
  return "id: slow-call\non: {event: call/slow}\nsteps:\n  - id: call\n    timeout: 1h\n"
         "    http: {url: \"" +
         url + "\"}\n";
}

TEST_F(RuntimeTest, ShutdownWaitsForActionsInFlightAndRecordsTheirResults) {
  auto api = testing::LoopbackHttpServer::Start();
  api->Script("/slow",
              {testing::HttpReply{
                  200, "{\"ok\":true}", "application/json", {}, std::chrono::milliseconds(300)}});
  AddFlow("slow-call", SlowCallFlow(api->Url("/slow")));
  RuntimeOptions options = fixture_.Options();
  options.secrets = std::map<std::string, std::string>{};
  auto runtime = fixture_.Start(options);
  ASSERT_TRUE(runtime);
  const std::string run = RuntimeFixture::Send(*runtime, "call/slow");
  ASSERT_TRUE(Eventually([&] { return api->Requests("/slow").size() == 1; }));
  runtime->Shutdown(std::chrono::seconds(10));
  // The result came back during the grace period and is in the journal.
  auto reopened = fixture_.Start(options);
  ASSERT_TRUE(reopened);
  auto detail = reopened->GetRun(run);
  ASSERT_TRUE(detail.ok() && detail->has_value());
  EXPECT_EQ((*detail)->run.status, RunStatus::kCompleted);
  EXPECT_EQ(api->Requests("/slow").size(), 1u);
}

TEST_F(RuntimeTest, ShutdownReleasesRunsWhoseActionsOutlastTheGracePeriod) {
  auto api = testing::LoopbackHttpServer::Start();
  std::atomic<int> calls{0};
  api->Handle("/slow", [&](const testing::RecordedRequest&) {
    // The first attempt outlasts the grace period; the one after the restart answers at once.
    const bool first = calls++ == 0;
    return testing::HttpReply{
        200, "{\"ok\":true}", "application/json", {}, std::chrono::milliseconds(first ? 1500 : 0)};
  });
  AddFlow("slow-call", SlowCallFlow(api->Url("/slow")));
  RuntimeOptions options = fixture_.Options();
  auto runtime = fixture_.Start(options);
  ASSERT_TRUE(runtime);
  const std::string run = RuntimeFixture::Send(*runtime, "call/slow");
  ASSERT_TRUE(Eventually([&] { return calls.load() == 1; }));
  const auto began = std::chrono::steady_clock::now();
  runtime->Shutdown(std::chrono::milliseconds(200));
  EXPECT_LT(std::chrono::steady_clock::now() - began, std::chrono::seconds(1));
  runtime.reset();
  // The next start resumes the step at once (its lease was released), with the same key.
  auto reopened = fixture_.Start(options);
  ASSERT_TRUE(reopened);
  ASSERT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*reopened, run, RunStatus::kCompleted); }));
  std::vector<testing::RecordedRequest> requests = api->Requests("/slow");
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("idempotency-key"), requests[1].Header("idempotency-key"));
}

}  // namespace
}  // namespace flowrun
