// `flowrun backup`, `flowrun check-store`, and `flowrun serve` on a damaged store, run as the
// built binary on real store files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/clean_shutdown_marker.h"
#include "store/sqlite_store.h"
#include "testing/paths.h"
#include "testing/store_damage.h"
#include "testing/subprocess.h"

namespace flowrun {
namespace {

using testing::FlowrunBinary;
using testing::RunProcess;

// A store with `events` events, closed cleanly.
std::string MakeStore(const std::string& dir, int events) {
  const std::string path = dir + "/flowrun.db";
  auto store = store::SqliteStore::Open({.path = path});
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  std::vector<store::WriteBatch> batches;
  for (int i = 0; i < events; ++i) {
    store::EventRecord e;
    e.id = "evt-" + std::to_string(i);
    e.name = "n";
    e.data = Json{{"pad", std::string(200, 'p')}};
    e.ts = FromUnixMillis(1700000000000);
    store::WriteBatch batch;
    batch.Add(store::InsertEventOp{e, std::chrono::hours(24), false});
    batches.push_back(std::move(batch));
  }
  EXPECT_TRUE((*store)->CommitMany(std::move(batches)).ok());
  return path;
}

TEST(StoreCommandsTest, BackupWritesACheckedCopyAndRefusesToOverwrite) {
  const std::string dir = testing::MakeTempDir();
  const std::string path = MakeStore(dir, 500);
  auto made = RunProcess({FlowrunBinary(), "backup", dir + "/copy.db", "--store", path});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_NE(made.out.find("backed up"), std::string::npos) << made.out;
  auto checked = RunProcess({FlowrunBinary(), "check-store", "--store", dir + "/copy.db"});
  EXPECT_EQ(checked.exit_code, 0) << checked.out << checked.err;
  EXPECT_NE(checked.out.find(": ok"), std::string::npos);

  auto again = RunProcess({FlowrunBinary(), "backup", dir + "/copy.db", "--store", path});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("--force"), std::string::npos) << again.err;
  auto forced =
      RunProcess({FlowrunBinary(), "backup", dir + "/copy.db", "--store", path, "--force"});
  EXPECT_EQ(forced.exit_code, 0) << forced.err;

  // Through a config file, as an operator would.
  std::ofstream(dir + "/flowrun.yaml") << "store: sqlite:flowrun.db\n";
  auto configured =
      RunProcess({FlowrunBinary(), "backup", dir + "/cfg.db", "--config", dir + "/flowrun.yaml"});
  EXPECT_EQ(configured.exit_code, 0) << configured.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/cfg.db"));
}

TEST(StoreCommandsTest, BadUsageIsExitCode2WithAClearMessage) {
  const std::string dir = testing::MakeTempDir();
  auto no_dest = RunProcess({FlowrunBinary(), "backup"});
  EXPECT_EQ(no_dest.exit_code, 2);
  auto missing = RunProcess({FlowrunBinary(), "backup", dir + "/b.db", "--store", dir + "/no.db"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/no.db"));
  auto both = RunProcess({FlowrunBinary(), "check-store", "--store", "x.db", "--config", "y"});
  EXPECT_EQ(both.exit_code, 2);
  auto postgres =
      RunProcess({FlowrunBinary(), "check-store", "--store", "postgres://db.example/flowrun"});
  EXPECT_EQ(postgres.exit_code, 2);
  EXPECT_NE(postgres.err.find("has no SQLite file"), std::string::npos) << postgres.err;
  auto absent = RunProcess({FlowrunBinary(), "check-store", "--store", dir + "/absent.db"});
  EXPECT_EQ(absent.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir + "/absent.db"));
}

TEST(StoreCommandsTest, CheckStoreListsTheProblemsOfADamagedFile) {
  const std::string dir = testing::MakeTempDir();
  const std::string path = MakeStore(dir, 2000);
  const int64_t pages = testing::PageCount(path);
  testing::OverwritePages(path, pages / 2 - 2, 4, /*seed=*/3);
  const std::string before = testing::ReadWholeFile(path);
  auto checked = RunProcess({FlowrunBinary(), "check-store", "--store", path});
  EXPECT_EQ(checked.exit_code, 1) << checked.out << checked.err;
  EXPECT_NE(checked.out.find("damaged"), std::string::npos) << checked.out;
  EXPECT_NE(checked.out.find("restore"), std::string::npos) << checked.out;
  EXPECT_EQ(testing::ReadWholeFile(path), before);  // checking writes nothing

  std::ofstream(dir + "/junk.db", std::ios::binary) << std::string(8192, 'x');
  auto junk = RunProcess({FlowrunBinary(), "check-store", "--store", dir + "/junk.db"});
  EXPECT_EQ(junk.exit_code, 1) << junk.out << junk.err;
  EXPECT_NE(junk.out.find("not a database"), std::string::npos) << junk.out;

  // A backup of a damaged store fails instead of producing a damaged copy.
  auto backup = RunProcess({FlowrunBinary(), "backup", dir + "/copy.db", "--store", path});
  EXPECT_EQ(backup.exit_code, 1) << backup.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/copy.db"));
}

TEST(StoreCommandsTest, ServeRefusesADamagedStoreWithExitCode3) {
  const std::string dir = testing::MakeTempDir();
  std::filesystem::create_directories(dir + "/flows");
  const std::string path = MakeStore(dir, 2000);
  const int64_t pages = testing::PageCount(path);
  testing::OverwritePages(path, pages / 2 - 2, 4, /*seed=*/3);
  const std::string before = testing::ReadWholeFile(path);
  // The file changed after its clean close, so serve checks it (and refuses before listening).
  auto serve = RunProcess({FlowrunBinary(), "serve", "--store", path, "--flows", dir + "/flows",
                           "--listen", "127.0.0.1:0"});
  EXPECT_EQ(serve.exit_code, 3) << serve.err;
  EXPECT_NE(serve.err.find("quick_check"), std::string::npos) << serve.err;
  EXPECT_NE(serve.err.find(path), std::string::npos) << serve.err;
  EXPECT_EQ(testing::ReadWholeFile(path), before);
}

}  // namespace
}  // namespace flowrun
