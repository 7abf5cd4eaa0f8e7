#include "store/store_connection.h"

#include <gtest/gtest.h>

#include <fstream>

#include "testing/paths.h"

namespace flowrun::store {
namespace {

int64_t CacheSize(sqlite::Connection& db) {
  auto statement = db.Prepare("PRAGMA cache_size");
  EXPECT_TRUE(statement.ok()) << statement.status().ToString();
  auto row = (*statement)->Step();
  EXPECT_TRUE(row.ok() && *row);
  return (*statement)->Int(0);
}

TEST(StoreConnectionTest, ConnectionsStartWithTheDefaultPageCache) {
  std::string path = testing::MakeTempDir() + "/flowrun.db";
  auto writer = OpenStoreConnection(path, /*create=*/true, 1000);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  ASSERT_TRUE((*writer)->Exec("CREATE TABLE t (x INTEGER)").ok());
  EXPECT_EQ(CacheSize(**writer), -kStoreCacheKib);

  auto reader = OpenStoreConnection(path, /*create=*/false, 1000);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ(CacheSize(**reader), -kStoreCacheKib);

  // A connection may still choose its own.
  ASSERT_TRUE((*writer)->Exec("PRAGMA cache_size=-4096").ok());
  EXPECT_EQ(CacheSize(**writer), -4096);
}

TEST(StoreConnectionTest, AFileThatIsNotADatabaseFailsOnTheFirstStatement) {
  std::string path = testing::MakeTempDir() + "/flowrun.db";
  {
    std::ofstream file(path);
    file << std::string(8192, 'x');
  }
  auto db = OpenStoreConnection(path, /*create=*/false, 1000);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  Status status = (*db)->Exec("PRAGMA journal_mode=WAL");
  EXPECT_EQ(status.code(), StatusCode::kDataLoss) << status.ToString();
}

}  // namespace
}  // namespace flowrun::store
