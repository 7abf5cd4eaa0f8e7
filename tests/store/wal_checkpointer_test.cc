// The WAL checkpointer keeps a busy writer's log bounded from its own thread, and the data it
// moves stays readable.
#include "store/wal_checkpointer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "store/store_connection.h"
#include "testing/paths.h"

namespace flowrun::store {
namespace {

TEST(WalCheckpointerTest, KeepsTheLogBoundedWhileTheWriterCommits) {
  const std::string path = flowrun::testing::MakeTempDir() + "/wal.db";
  auto writer = OpenStoreConnection(path, /*create=*/true, 1000);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Exec("PRAGMA journal_mode=WAL; CREATE TABLE t (v TEXT)").ok());
  auto checkpointer = WalCheckpointer::Open(path, /*threshold_pages=*/16);
  ASSERT_TRUE(checkpointer.ok()) << checkpointer.status().ToString();
  (*checkpointer)->Attach((*writer)->handle());
  const std::string row(4000, 'x');  // about a page per commit
  for (int i = 0; i < 400; ++i) {
    ASSERT_TRUE((*writer)->Exec("INSERT INTO t VALUES ('" + row + "')").ok());
  }
  for (int i = 0; i < 200 && (*checkpointer)->checkpoints() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_GT((*checkpointer)->checkpoints(), 0);
  // Without checkpoints the log would hold all 400 pages (1.6 MB); it is reused from its start
  // after each one, so it stays near 4 x 16 pages (more when a commit's own checkpoint finds the
  // thread's in progress, on a loaded machine).
  const auto wal_bytes = std::filesystem::file_size(path + "-wal");
  EXPECT_LT(wal_bytes, 200u * 4096u) << wal_bytes;
  auto count = (*writer)->Prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(count.ok());
  ASSERT_TRUE(*(*count)->Step());
  EXPECT_EQ((*count)->Int(0), 400);
  (*count)->Reset();
  checkpointer->reset();  // stops the thread before the writer closes
}

TEST(WalCheckpointerTest, OpeningAMissingDatabaseFails) {
  auto checkpointer =
      WalCheckpointer::Open(flowrun::testing::MakeTempDir() + "/missing/none.db", 16);
  EXPECT_FALSE(checkpointer.ok());
}

}  // namespace
}  // namespace flowrun::store
