// BackupSqliteStore under load: a thread keeps committing events while the backup runs; the copy,
// restored the documented way (the service stopped, the copy put in place of the store file,
// stale -wal/-shm removed), holds every event acknowledged before the backup started.
#include "store/sqlite_backup.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "store/integrity_check.h"
#include "store/sqlite_store.h"
#include "testing/paths.h"
#include "testing/wait_until.h"

namespace flowrun::store {
namespace {

using flowrun::testing::MakeTempDir;

WriteBatch EventBatch(const std::string& id) {
  EventRecord e;
  e.id = id;
  e.name = "order/placed";
  e.data = Json{{"id", id}, {"pad", std::string(300, 'x')}};
  e.ts = FromUnixMillis(1700000000000);
  WriteBatch batch;
  batch.Add(InsertEventOp{e, std::chrono::hours(24), false});
  return batch;
}

TEST(SqliteBackupTest, CopyTakenUnderLoadHoldsEveryEventAcknowledgedBeforeIt) {
  const std::string dir = MakeTempDir();
  const std::string path = dir + "/flowrun.db";
  auto opened = SqliteStore::Open({.path = path});
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  SqliteStore& store = **opened;

  // Ingest: four threads commit events one by one and record each acknowledged id.
  std::mutex acked_mu;
  std::vector<std::string> acked;  // GUARDED_BY(acked_mu), in acknowledgement order
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop.load(); ++i) {
        std::string id = "w" + std::to_string(w) + "-" + std::to_string(i);
        auto result = store.Commit(EventBatch(id));
        if (!result.ok() || !result->status.ok()) {
          ++failures;
          continue;
        }
        std::lock_guard lock(acked_mu);
        acked.push_back(id);
      }
    });
  }
  auto acked_count = [&] {
    std::lock_guard lock(acked_mu);
    return acked.size();
  };
  ASSERT_TRUE(testing::WaitUntil([&] { return acked_count() >= 3000; }, std::chrono::minutes(2)));

  std::vector<std::string> before;
  {
    std::lock_guard lock(acked_mu);
    before = acked;
  }
  // Small steps, so that writes land between them and restart the copy.
  auto report = BackupSqliteStore(path, dir + "/backup.db",
                                  BackupOptions{.pages_per_step = 16, .max_restarts = 4});
  const size_t acked_during = acked_count() - before.size();
  stop = true;
  for (std::thread& t : writers) t.join();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(acked_during, 0u) << "intake was not running during the backup";
  EXPECT_GT(report->pages, 0);
  EXPECT_GT(report->steps, 1);
  EXPECT_FALSE(std::filesystem::exists(dir + "/backup.db.partial"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/backup.db-wal"));
  std::printf(
      "backup: %lld pages, %d steps, %d restarts, single_step=%d, %zu events acked "
      "during it\n",
      static_cast<long long>(report->pages), report->steps, report->restarts, report->single_step,
      acked_during);

  // Restore into a new place, as the docs say: stop, copy over the store file, remove stale
  // -wal/-shm, start.
  const std::string restored_dir = MakeTempDir();
  const std::string restored = restored_dir + "/flowrun.db";
  std::ofstream(restored + "-wal") << "stale";
  std::filesystem::copy_file(dir + "/backup.db", restored);
  std::filesystem::remove(restored + "-wal");
  std::filesystem::remove(restored + "-shm");
  auto copy = SqliteStore::Open({.path = restored});
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_TRUE((*copy)->checked_at_open());  // a restored file has no clean-shutdown marker
  size_t missing = 0;
  for (const std::string& id : before) {
    auto event = (*copy)->GetEvent(id);
    ASSERT_TRUE(event.ok()) << event.status().ToString();
    if (!event->has_value()) ++missing;
  }
  EXPECT_EQ(missing, 0u) << "of " << before.size() << " events acknowledged before the backup";
  // The copy is one consistent state: it may hold events acknowledged during the backup, never
  // more than were written.
  auto all = (*copy)->ListEvents({.limit = 1000000});
  ASSERT_TRUE(all.ok());
  EXPECT_GE(all->size(), before.size());
  EXPECT_LE(all->size(), before.size() + acked_during + 4);
  auto db = OpenStoreConnection(restored, false, 1000);
  ASSERT_TRUE(db.ok());
  auto problems = CheckIntegrity(**db, IntegrityCheck::kFull);
  ASSERT_TRUE(problems.ok());
  EXPECT_TRUE(problems->empty());
}

TEST(SqliteBackupTest, RefusesAnExistingDestinationUnlessAskedToReplaceIt) {
  const std::string dir = MakeTempDir();
  {
    auto store = SqliteStore::Open({.path = dir + "/flowrun.db"});
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Commit(EventBatch("e1")).ok());
  }
  std::ofstream(dir + "/existing.db") << "keep me";
  auto refused = BackupSqliteStore(dir + "/flowrun.db", dir + "/existing.db");
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  EXPECT_NE(refused.status().message().find("--force"), std::string::npos);
  std::ifstream in(dir + "/existing.db");
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(kept, "keep me");

  auto replaced = BackupSqliteStore(dir + "/flowrun.db", dir + "/existing.db", {.overwrite = true});
  ASSERT_TRUE(replaced.ok()) << replaced.status().ToString();
  auto copy = SqliteStore::Open({.path = dir + "/existing.db"});
  ASSERT_TRUE(copy.ok());
  EXPECT_TRUE((*copy)->GetEvent("e1")->has_value());
}

TEST(SqliteBackupTest, MissingSourceAndSelfCopyAreClearErrors) {
  const std::string dir = MakeTempDir();
  auto missing = BackupSqliteStore(dir + "/nope.db", dir + "/b.db");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir + "/nope.db"));
  {
    auto store = SqliteStore::Open({.path = dir + "/flowrun.db"});
    ASSERT_TRUE(store.ok());
  }
  auto self = BackupSqliteStore(dir + "/flowrun.db", dir + "/flowrun.db", {.overwrite = true});
  EXPECT_EQ(self.status().code(), StatusCode::kInvalidArgument);
  auto into_missing_dir = BackupSqliteStore(dir + "/flowrun.db", dir + "/no/such/dir/b.db");
  EXPECT_FALSE(into_missing_dir.ok());
  EXPECT_NE(into_missing_dir.status().code(), StatusCode::kOk);
}

TEST(SqliteBackupTest, ADamagedStoreIsNotBackedUpAsIfItWereGood) {
  const std::string dir = MakeTempDir();
  std::ofstream(dir + "/junk.db", std::ios::binary) << std::string(8192, 'x');
  auto report = BackupSqliteStore(dir + "/junk.db", dir + "/b.db");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kDataLoss) << report.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(dir + "/b.db"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/b.db.partial"));
}

}  // namespace
}  // namespace flowrun::store
