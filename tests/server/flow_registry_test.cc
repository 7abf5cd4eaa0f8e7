#include "server/flow_registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "testing/runtime_test_util.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::Eventually;
using testing::RuntimeFixture;
using testing::WriteFile;

std::string Greet(int version, const std::string& nap = "1h") {
  return "id: greet\non:\n  - event: user/signup\nsteps:\n  - id: nap\n    sleep: " + nap +
         "\n  - id: done\n    return: {version: " + std::to_string(version) + "}\n";
}

// An edit the compiler rejects: a step with an unknown action key.
const char* kBrokenGreet =
    "id: greet\non:\n  - event: user/signup\nsteps:\n  - id: nap\n    slep: 1h\n";

class FlowRegistryTest : public ::testing::Test {
 protected:
  std::string FlowFile() const { return fixture_.flows_dir() + "/greet.yaml"; }

  std::string CurrentRevision(Runtime& runtime) {
    for (const FlowStatus& flow : runtime.Flows().flows) {
      if (flow.flow_id == "greet" && flow.current) return flow.current->revision;
    }
    return "";
  }

  RuntimeFixture fixture_;
};

TEST_F(FlowRegistryTest, EditUnderARunningRuntime) {
  WriteFile(FlowFile(), Greet(1));
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  const std::string rev1 = CurrentRevision(*runtime);
  ASSERT_FALSE(rev1.empty());

  std::string old_run = RuntimeFixture::Send(*runtime, "user/signup");
  ASSERT_FALSE(old_run.empty());
  ASSERT_TRUE(Eventually(
      [&] { return RuntimeFixture::HasStatus(*runtime, old_run, RunStatus::kSleeping); }));

  // A valid edit becomes the current revision; new runs start on it.
  WriteFile(FlowFile(), Greet(2));
  auto report = runtime->ReloadFlows();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->updated.size(), 1u);
  const std::string rev2 = CurrentRevision(*runtime);
  EXPECT_NE(rev2, rev1);
  std::string new_run = RuntimeFixture::Send(*runtime, "user/signup");
  ASSERT_FALSE(new_run.empty());
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, new_run)->revision, rev2);

  // An invalid edit is reported and the last good revision keeps serving.
  WriteFile(FlowFile(), kBrokenGreet);
  report = runtime->ReloadFlows();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->updated.empty());
  ASSERT_EQ(report->invalid.size(), 1u);
  FlowRegistryStatus status = runtime->Flows();
  ASSERT_EQ(status.flows.size(), 1u);
  EXPECT_FALSE(status.flows[0].valid);
  EXPECT_FALSE(status.flows[0].errors.empty());
  EXPECT_EQ(status.flows[0].current->revision, rev2);
  ASSERT_EQ(status.files.size(), 1u);
  EXPECT_FALSE(status.files[0].valid);
  EXPECT_NE(status.files[0].messages.at(0).find("greet.yaml:"), std::string::npos)
      << status.files[0].messages[0];
  std::string third_run = RuntimeFixture::Send(*runtime, "user/signup");
  ASSERT_FALSE(third_run.empty());
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, third_run)->revision, rev2);

  // Every run finishes on the revision it started on.
  for (const std::string& id : {new_run, third_run}) {
    ASSERT_TRUE(
        Eventually([&] { return RuntimeFixture::HasStatus(*runtime, id, RunStatus::kSleeping); }));
  }
  fixture_.clock().Advance(std::chrono::hours(2));
  runtime->Wake();
  for (const std::string& id : {old_run, new_run, third_run}) {
    ASSERT_TRUE(Eventually([&] {
      return RuntimeFixture::HasStatus(*runtime, id, RunStatus::kCompleted);
    })) << id
        << " is " << store::RunStatusName(RuntimeFixture::GetRun(*runtime, id)->status) << ", due "
        << FormatTimestamp(RuntimeFixture::GetRun(*runtime, id)->due_at.value_or(TimePoint()))
        << ", now " << FormatTimestamp(fixture_.clock().Now());
  }
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, old_run)->output, (Json{{"version", 1}}));
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, old_run)->revision, rev1);
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, new_run)->output, (Json{{"version", 2}}));
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, third_run)->output, (Json{{"version", 2}}));

  // Both revisions are stored for the API.
  auto revisions = runtime->FlowRevisions("greet");
  ASSERT_TRUE(revisions.ok());
  EXPECT_EQ(revisions->size(), 2u);
}

TEST_F(FlowRegistryTest, TheWatcherPicksUpAnEditByItself) {
  WriteFile(FlowFile(), Greet(1, "1s"));
  RuntimeOptions options = fixture_.Options();
  options.reload_interval = std::chrono::milliseconds(20);
  auto runtime = fixture_.Start(std::move(options));
  ASSERT_TRUE(runtime);
  const std::string rev1 = CurrentRevision(*runtime);
  WriteFile(FlowFile(), Greet(2, "1s"));
  EXPECT_TRUE(Eventually([&] { return CurrentRevision(*runtime) != rev1; }));
}

TEST_F(FlowRegistryTest, WithWatchFlowsOffOnlyAnExplicitReloadTakesAnEdit) {
  WriteFile(FlowFile(), Greet(1, "1s"));
  RuntimeOptions options = fixture_.Options();
  options.reload_interval = std::chrono::milliseconds(20);
  options.config.watch_flows = false;
  auto runtime = fixture_.Start(std::move(options));
  ASSERT_TRUE(runtime);
  const std::string rev1 = CurrentRevision(*runtime);
  WriteFile(FlowFile(), Greet(2, "1s"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // 15 polls, were there a watcher
  EXPECT_EQ(CurrentRevision(*runtime), rev1);
  ASSERT_TRUE(runtime->ReloadFlowsFrom(fixture_.flows_dir()).ok());
  EXPECT_NE(CurrentRevision(*runtime), rev1);
}

TEST_F(FlowRegistryTest, ADeletedFlowStopsStartingRunsButItsRunsFinish) {
  WriteFile(FlowFile(), Greet(1));
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  std::string run = RuntimeFixture::Send(*runtime, "user/signup");
  ASSERT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, run, RunStatus::kSleeping); }));

  std::filesystem::remove(FlowFile());
  WriteFile(fixture_.flows_dir() + "/other.yaml",
            "id: other\non:\n  - event: other/thing\nsteps:\n  - id: done\n    return: 1\n");
  auto report = runtime->ReloadFlows();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->retired, std::vector<std::string>{"greet"});
  EXPECT_EQ(RuntimeFixture::Send(*runtime, "user/signup"), "");
  EXPECT_EQ(runtime->InvokeFlow("greet", Json::object()).status().code(), StatusCode::kNotFound);

  fixture_.clock().Advance(std::chrono::hours(2));
  runtime->Wake();
  EXPECT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, run, RunStatus::kCompleted); }));
}

TEST_F(FlowRegistryTest, ARestartFindsTheRevisionOfPinnedRunsInTheStore) {
  WriteFile(FlowFile(), Greet(1));
  std::string run;
  std::string rev1;
  {
    auto runtime = fixture_.Start();
    ASSERT_TRUE(runtime);
    rev1 = CurrentRevision(*runtime);
    run = RuntimeFixture::Send(*runtime, "user/signup");
    ASSERT_TRUE(
        Eventually([&] { return RuntimeFixture::HasStatus(*runtime, run, RunStatus::kSleeping); }));
    runtime->Shutdown(std::chrono::seconds(5));
  }
  // While the service is down the file changes; the sleeping run still needs revision 1.
  WriteFile(FlowFile(), Greet(2));
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  EXPECT_NE(CurrentRevision(*runtime), rev1);
  fixture_.clock().Advance(std::chrono::hours(2));
  runtime->Wake();
  ASSERT_TRUE(
      Eventually([&] { return RuntimeFixture::HasStatus(*runtime, run, RunStatus::kCompleted); }));
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, run)->output, (Json{{"version", 1}}));
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, run)->revision, rev1);
}

TEST_F(FlowRegistryTest, AnInvalidFileAtStartIsReportedNotFatal) {
  WriteFile(FlowFile(), kBrokenGreet);
  WriteFile(fixture_.flows_dir() + "/other.yaml",
            "id: other\non:\n  - event: other/thing\nsteps:\n  - id: done\n    return: 1\n");
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  FlowRegistryStatus status = runtime->Flows();
  ASSERT_EQ(status.files.size(), 2u);
  EXPECT_FALSE(status.files[0].valid);  // greet.yaml sorts first
  EXPECT_EQ(status.files[0].flow_id, "greet");
  EXPECT_TRUE(status.files[1].valid);
  ASSERT_EQ(status.flows.size(), 1u);
  EXPECT_EQ(status.flows[0].flow_id, "other");
}

TEST_F(FlowRegistryTest, ReloadAllRefusesASetWithOneBadFileAndChangesNothing) {
  WriteFile(FlowFile(), Greet(1));
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  const std::string rev1 = CurrentRevision(*runtime);
  std::string pinned = RuntimeFixture::Send(*runtime, "user/signup");
  ASSERT_TRUE(Eventually(
      [&] { return RuntimeFixture::HasStatus(*runtime, pinned, RunStatus::kSleeping); }));

  // A valid edit of greet next to a broken new file: neither is taken.
  WriteFile(FlowFile(), Greet(2));
  WriteFile(fixture_.flows_dir() + "/broken.yaml", kBrokenGreet);
  auto refused = runtime->ReloadFlowsFrom(fixture_.flows_dir());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("broken.yaml:"), std::string::npos)
      << refused.status().message();
  EXPECT_EQ(CurrentRevision(*runtime), rev1);
  FlowRegistryStatus status = runtime->Flows();
  ASSERT_EQ(status.files.size(), 1u);  // the diagnostics of the last good load
  EXPECT_TRUE(status.files[0].valid);
  std::string still_old = RuntimeFixture::Send(*runtime, "user/signup");
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, still_old)->revision, rev1);

  // Fixed: the whole set is taken, and the pinned run stays on its revision.
  std::filesystem::remove(fixture_.flows_dir() + "/broken.yaml");
  auto applied = runtime->ReloadFlowsFrom(fixture_.flows_dir());
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  ASSERT_EQ(applied->updated.size(), 1u);
  const std::string rev2 = CurrentRevision(*runtime);
  EXPECT_NE(rev2, rev1);
  std::string new_run = RuntimeFixture::Send(*runtime, "user/signup");
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, new_run)->revision, rev2);
  EXPECT_EQ(RuntimeFixture::GetRun(*runtime, pinned)->revision, rev1);
}

TEST_F(FlowRegistryTest, ReloadAllMovesToAnotherDirectoryAndRetiresWhatItLacks) {
  WriteFile(FlowFile(), Greet(1));
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  const std::string other_dir = fixture_.dir() + "/other-flows";
  std::filesystem::create_directories(other_dir);
  WriteFile(other_dir + "/other.yaml",
            "id: other\non:\n  - event: other/thing\nsteps:\n  - id: done\n    return: 1\n");

  auto missing = runtime->ReloadFlowsFrom(fixture_.dir() + "/no-such-dir");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(CurrentRevision(*runtime).empty());

  auto moved = runtime->ReloadFlowsFrom(other_dir);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(moved->retired, std::vector<std::string>{"greet"});
  ASSERT_EQ(moved->updated.size(), 1u);
  EXPECT_EQ(runtime->Flows().flows_dir, other_dir);
  EXPECT_EQ(RuntimeFixture::Send(*runtime, "user/signup"), "");
  EXPECT_FALSE(RuntimeFixture::Send(*runtime, "other/thing").empty());
}

TEST_F(FlowRegistryTest, ReloadAllRefusesTwoFilesWithOneFlowId) {
  WriteFile(FlowFile(), Greet(1));
  auto runtime = fixture_.Start();
  ASSERT_TRUE(runtime);
  const std::string rev1 = CurrentRevision(*runtime);
  WriteFile(fixture_.flows_dir() + "/greet-copy.yaml", Greet(2));
  auto refused = runtime->ReloadFlowsFrom(fixture_.flows_dir());
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CurrentRevision(*runtime), rev1);
}

}  // namespace
}  // namespace flowrun

namespace flowrun {
namespace {

// A flow that reads a secret that is not set is not ready: it starts no runs, and the status
// names the secret; with the secret set it serves.
TEST(FlowRegistrySecretsTest, AFlowReadingAnUnsetSecretIsNotReady) {
  const std::string flow =
      "id: notify\non:\n  - event: order/paid\nsteps:\n  - id: call\n    set: {auth: \"Bearer "
      "${{ secrets.CRM_KEY }}\"}\n  - id: other\n    if: secrets[\"FLAG\"] == \"on\"\n    log: "
      "x\n";
  {
    RuntimeFixture fixture;
    WriteFile(fixture.flows_dir() + "/notify.yaml", flow);
    auto runtime = fixture.Start();
    ASSERT_TRUE(runtime);
    FlowRegistryStatus status = runtime->Flows();
    ASSERT_EQ(status.flows.size(), 1u);
    EXPECT_FALSE(status.flows[0].ready());
    EXPECT_EQ(status.flows[0].missing_secrets, (std::vector<std::string>{"CRM_KEY", "FLAG"}));
    EXPECT_EQ(RuntimeFixture::Send(*runtime, "order/paid"), "");
  }
  {
    RuntimeFixture fixture;
    WriteFile(fixture.flows_dir() + "/notify.yaml", flow);
    RuntimeOptions options = fixture.Options();
    options.secrets = std::map<std::string, std::string>{{"CRM_KEY", "k1"}, {"FLAG", "on"}};
    auto runtime = fixture.Start(std::move(options));
    ASSERT_TRUE(runtime);
    EXPECT_TRUE(runtime->Flows().flows[0].ready());
    EXPECT_NE(RuntimeFixture::Send(*runtime, "order/paid"), "");
  }
}

}  // namespace
}  // namespace flowrun
