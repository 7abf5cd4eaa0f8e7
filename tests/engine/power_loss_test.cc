// Power loss, the way SQLite tests itself: a W1-like scenario (events arrive in small groups and
// their runs go http -> db -> email) runs on the store through PowerCutVfs, which cuts the power
// at sync k, for every k the scenario reaches in turn: the k-th sync fails, nothing written after
// the last good sync reaches the disk, and the files are put back as a rebooted machine finds
// them. After each cut the store opens (its check after an unclean shutdown passes), PRAGMA
// integrity_check says ok, every event that was acknowledged before the cut is there with its
// data and its run, and those runs then finish.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <map>

#include "testing/engine_harness.h"
#include "testing/power_cut_vfs.h"

namespace flowrun {
namespace {

using store::RunStatus;
using testing::EngineHarness;
using testing::PowerCutVfs;

constexpr char kFlow[] = R"yaml(
id: w1
on: {event: order/placed}
steps:
  - id: quote
    http: {method: POST, url: "https://sink/quote", body: "${{ event.data }}"}
  - id: record
    db: {database: app, sql: "INSERT INTO orders (id) VALUES (:id)",
         params: {id: "${{ event.data.n }}"}}
  - id: confirm
    email: {to: buyer@example.com, subject: "order ${{ event.data.n }}", text: confirmed}
)yaml";

constexpr int kGroups = 6;
constexpr int kGroupSize = 4;

std::string IntegrityCheck(const std::string& path) {
  sqlite3* db = nullptr;
  std::string verdict = "cannot open";
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      verdict = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return verdict;
}

struct Outcome {
  bool cut = false;
  int syncs = 0;
  int acknowledged = 0;
};

// Runs the scenario with the power cut at sync k (0: never), then checks what survived.
Outcome RunWithPowerCutAt(PowerCutVfs& vfs, int k) {
  EngineHarness h;
  h.AddFlow(kFlow);
  vfs.CutAt(k);
  std::map<std::string, Json> acknowledged;  // event id -> data
  for (int g = 0; g < kGroups && !vfs.cut(); ++g) {
    std::vector<Json> events;
    for (int i = 0; i < kGroupSize; ++i) {
      const int n = g * kGroupSize + i;
      events.push_back(Json{{"name", "order/placed"},
                            {"id", "client-" + std::to_string(n)},
                            {"data", {{"n", n}, {"note", std::string(300, 'a' + n % 26)}}}});
    }
    auto ingested = h.engine().IngestEvents(events);
    if (ingested.ok()) {
      for (size_t i = 0; i < events.size(); ++i) {
        acknowledged[(*ingested)[i].id] = events[i]["data"];
      }
    }
    (void)h.Drive(std::chrono::minutes(10));
  }
  Outcome outcome{.cut = vfs.cut(),
                  .syncs = vfs.syncs(),
                  .acknowledged = static_cast<int>(acknowledged.size())};
  h.Close();
  vfs.RestoreDurableState();

  EXPECT_TRUE(h.store_url().starts_with("sqlite:")) << "power cuts are a SQLite test";
  const std::string path = h.store_url().substr(std::string_view("sqlite:").size());
  EXPECT_EQ(IntegrityCheck(path), "ok") << "k=" << k;
  h.Open();  // EXPECTs the store to open: its quick_check after an unclean shutdown passes
  EXPECT_TRUE(h.Drive().ok()) << "k=" << k;
  for (const auto& [id, data] : acknowledged) {
    auto event = h.store().GetEvent(id);
    EXPECT_TRUE(event.ok()) << event.status().ToString();
    EXPECT_TRUE(event.ok() && event->has_value())
        << "k=" << k << ": acknowledged event " << id << " is lost";
    if (event.ok() && event->has_value()) EXPECT_EQ((*event)->data, data) << "k=" << k;
  }
  store::RunFilter w1_runs;
  w1_runs.flow_id = "w1";
  w1_runs.limit = 1000;
  auto runs = h.engine().ListRuns(w1_runs);
  EXPECT_TRUE(runs.ok());
  int completed = 0;
  for (const store::RunRecord& run : runs.ok() ? *runs : std::vector<store::RunRecord>{}) {
    completed += run.status == RunStatus::kCompleted;
  }
  // Each acknowledged event's run was stored with it, and finishes after the reboot.
  EXPECT_GE(completed, outcome.acknowledged) << "k=" << k;
  return outcome;
}

TEST(PowerLossTest, EveryAcknowledgedEventSurvivesAPowerCutAtEverySync) {
  PowerCutVfs vfs;
  Outcome clean = RunWithPowerCutAt(vfs, 0);
  ASSERT_FALSE(clean.cut);
  ASSERT_EQ(clean.acknowledged, kGroups * kGroupSize);
  ASSERT_GT(clean.syncs, 10);
  int cuts = 0;
  for (int k = 1; k <= clean.syncs; ++k) {
    SCOPED_TRACE(k);
    Outcome outcome = RunWithPowerCutAt(vfs, k);
    cuts += outcome.cut;
    if (::testing::Test::HasFailure()) return;  // the first failing cut is enough
  }
  EXPECT_EQ(cuts, clean.syncs);  // every sync point was a cut
  std::printf("power cuts: %d sync points, each cut and checked\n", clean.syncs);
}

}  // namespace
}  // namespace flowrun
