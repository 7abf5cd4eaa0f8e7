// A damaged store file is refused, not written into: quick_check at open after an unclean
// shutdown (clean_shutdown_marker.h), and read-only once SQLite reports damage at run time
// (data_loss_latch.h). Real SQLite files, damaged on disk.
#include "testing/store_damage.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "store/clean_shutdown_marker.h"
#include "store/integrity_check.h"
#include "store/sqlite_store.h"
#include "testing/paths.h"

namespace flowrun::store {
namespace {

using flowrun::testing::FlipRandomBits;
using flowrun::testing::MakeTempDir;
using flowrun::testing::OverwritePages;
using flowrun::testing::PageCount;
using flowrun::testing::ReadWholeFile;

class StoreDamageTest : public ::testing::Test {
 protected:
  // A store of `events` events with some bulk, closed cleanly (log folded in, marker written).
  void Fill(int events) {
    auto store = SqliteStore::Open({.path = path_});
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    std::vector<WriteBatch> batches;
    for (int i = 0; i < events; ++i) {
      EventRecord e;
      e.id = "evt-" + std::to_string(i);
      e.name = i % 2 ? "odd" : "even";
      e.data = Json{{"i", i}, {"pad", std::string(200, 'p')}};
      e.ts = FromUnixMillis(1700000000000 + i);
      WriteBatch batch;
      batch.Add(InsertEventOp{e, std::chrono::hours(24), false});
      batches.push_back(std::move(batch));
    }
    auto results = (*store)->CommitMany(std::move(batches));
    ASSERT_TRUE(results.ok()) << results.status().ToString();
  }
  // Simulates a crash: the last close left no clean-shutdown marker.
  void ForgetCleanShutdown() { std::filesystem::remove(CleanShutdownMarkerPath(path_)); }
  // quick_check's verdict on the file, from a connection of its own.
  std::vector<std::string> QuickCheck() {
    auto db = OpenStoreConnection(path_, /*create=*/false, 1000);
    if (!db.ok()) return {db.status().message()};
    auto problems = CheckIntegrity(**db, IntegrityCheck::kQuick);
    return problems.ok() ? *problems : std::vector<std::string>{problems.status().message()};
  }

  std::string path_ = MakeTempDir() + "/store.db";
};

TEST_F(StoreDamageTest, CleanCloseSkipsTheCheckAndAnUncleanOneRunsIt) {
  Fill(10);
  EXPECT_TRUE(std::filesystem::exists(CleanShutdownMarkerPath(path_)));
  {
    auto store = SqliteStore::Open({.path = path_});
    ASSERT_TRUE(store.ok());
    EXPECT_FALSE((*store)->checked_at_open());
    // Taken at open: a crash from here on leaves no marker behind.
    EXPECT_FALSE(std::filesystem::exists(CleanShutdownMarkerPath(path_)));
  }
  ForgetCleanShutdown();
  auto store = SqliteStore::Open({.path = path_});
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE((*store)->checked_at_open());
}

TEST_F(StoreDamageTest, AFileChangedAfterACleanCloseIsChecked) {
  Fill(10);
  // Rewritten with the same bytes: the marker no longer matches the file's modification time.
  const std::string bytes = ReadWholeFile(path_);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  std::ofstream(path_, std::ios::binary | std::ios::trunc) << bytes;
  auto store = SqliteStore::Open({.path = path_});
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  EXPECT_TRUE((*store)->checked_at_open());
}

TEST_F(StoreDamageTest, DamagedMiddlePagesAreRefusedAtOpenAndNotWritten) {
  Fill(2000);
  const int64_t pages = PageCount(path_);
  ASSERT_GT(pages, 40);
  OverwritePages(path_, pages / 2 - 2, 4, /*seed=*/7);
  ForgetCleanShutdown();
  ASSERT_FALSE(QuickCheck().empty());
  const std::string before = ReadWholeFile(path_);

  auto store = SqliteStore::Open({.path = path_});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(store.status().message().find("quick_check found damage"), std::string::npos)
      << store.status().message();
  EXPECT_NE(store.status().message().find(path_), std::string::npos);
  EXPECT_NE(store.status().message().find("restore"), std::string::npos);
  EXPECT_EQ(ReadWholeFile(path_), before);
  EXPECT_FALSE(std::filesystem::exists(CleanShutdownMarkerPath(path_)));
}

TEST_F(StoreDamageTest, RandomBitFlipsThatFailQuickCheckAreRefusedAtOpen) {
  Fill(2000);
  const std::string pristine = ReadWholeFile(path_);
  // Some flips land in unused bytes; take the first seed whose 64 flips quick_check notices.
  uint32_t seed = 1;
  for (; seed <= 50; ++seed) {
    std::ofstream(path_, std::ios::binary | std::ios::trunc) << pristine;
    FlipRandomBits(path_, 64, seed);
    if (!QuickCheck().empty()) break;
  }
  ASSERT_LE(seed, 50u) << "no seed produced damage quick_check detects";
  // Written after a clean close, but the file changed since: the marker does not match, so the
  // open checks even without ForgetCleanShutdown.
  const std::string before = ReadWholeFile(path_);
  auto store = SqliteStore::Open({.path = path_});
  ASSERT_FALSE(store.ok()) << "seed " << seed;
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(store.status().message().find("quick_check"), std::string::npos);
  EXPECT_EQ(ReadWholeFile(path_), before);
}

TEST_F(StoreDamageTest, DamageFoundAtRunTimeMakesTheStoreReadOnly) {
  Fill(2000);
  std::vector<std::string> lines;
  std::mutex lines_mu;
  DefaultLogger().Configure(LogOptions{.sink = [&](std::string_view line) {
    std::lock_guard lock(lines_mu);
    lines.emplace_back(line);
  }});
  {
    auto opened = SqliteStore::Open({.path = path_});
    ASSERT_TRUE(opened.ok());
    SqliteStore& store = **opened;
    EXPECT_FALSE(store.checked_at_open());
    // Damage under the open store: a range of pages in the middle of the events.
    const int64_t pages = PageCount(path_);
    OverwritePages(path_, pages / 3, pages / 3, /*seed=*/11);
    const std::string damaged = ReadWholeFile(path_);

    // Reading the events runs into the damage.
    Status read;
    for (int64_t after = 0; after < 2000 && read.ok(); after += 500) {
      auto events = store.ListEvents({.after_seq = after, .limit = 500});
      read = events.status();
    }
    EXPECT_EQ(read.code(), StatusCode::kDataLoss) << read.ToString();
    ASSERT_TRUE(store.data_loss_latch()->tripped());

    // Nothing more is written: every commit is refused.
    EventRecord e;
    e.id = "after-damage";
    e.name = "even";
    e.ts = FromUnixMillis(1800000000000);
    WriteBatch batch;
    batch.Add(InsertEventOp{e, std::chrono::hours(24), false});
    auto committed = store.Commit(std::move(batch));
    ASSERT_FALSE(committed.ok());
    EXPECT_EQ(committed.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(committed.status().message().find("read-only"), std::string::npos);
    auto pruned = store.PruneFinishedRuns(FromUnixMillis(1800000000000), 10);
    EXPECT_EQ(pruned.status().code(), StatusCode::kDataLoss);
    EXPECT_EQ(ReadWholeFile(path_), damaged);
  }
  DefaultLogger().Configure(LogOptions{});
  // Closing neither folded anything into the file nor called the shutdown clean.
  EXPECT_FALSE(std::filesystem::exists(CleanShutdownMarkerPath(path_)));
  int data_loss_lines = 0;
  for (const std::string& line : lines) {
    Json parsed = Json::parse(line);
    if (parsed.value("code", "") != "DATA_LOSS") continue;
    ++data_loss_lines;
    EXPECT_EQ(parsed["level"], "error");
    EXPECT_EQ(parsed["file"], path_);
  }
  EXPECT_EQ(data_loss_lines, 1);
  // And the next open refuses the file.
  auto reopened = SqliteStore::Open({.path = path_});
  EXPECT_EQ(reopened.status().code(), StatusCode::kDataLoss);
}

TEST(IntegrityCheckTest, ReportsOkForAGoodFileAndProblemsForANonDatabase) {
  const std::string dir = MakeTempDir();
  {
    auto store = SqliteStore::Open({.path = dir + "/good.db"});
    ASSERT_TRUE(store.ok());
  }
  auto good = OpenStoreConnection(dir + "/good.db", false, 1000);
  ASSERT_TRUE(good.ok());
  auto ok = CheckIntegrity(**good, IntegrityCheck::kFull);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->empty());

  std::ofstream(dir + "/junk.db", std::ios::binary) << std::string(8192, 'x');
  auto junk = OpenStoreConnection(dir + "/junk.db", false, 1000);
  ASSERT_TRUE(junk.ok());
  auto problems = CheckIntegrity(**junk, IntegrityCheck::kFull);
  ASSERT_TRUE(problems.ok()) << problems.status().ToString();
  ASSERT_EQ(problems->size(), 1u);
  EXPECT_NE(problems->front().find("not a database"), std::string::npos) << problems->front();
}

}  // namespace
}  // namespace flowrun::store
