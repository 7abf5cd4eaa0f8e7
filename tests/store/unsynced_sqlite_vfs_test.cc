// The unsynced VFS forwards everything but fsync: SQLite files behave as usual (WAL with several
// connections, rollback journals, reopening), and failures surface as SQLite errors, not crashes.
#include "store/unsynced_sqlite_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <string>

#include "testing/paths.h"

namespace flowrun::store {
namespace {

class Connection {
 public:
  explicit Connection(const std::string& path) { rc_ = sqlite3_open(path.c_str(), &db_); }
  ~Connection() { sqlite3_close(db_); }
  int rc() const { return rc_; }
  int Exec(const std::string& sql) {
    return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  long long Count(const std::string& table) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, ("SELECT count(*) FROM " + table).c_str(), -1, &stmt, nullptr);
    long long n = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : -1;
    sqlite3_finalize(stmt);
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
  int rc_ = SQLITE_OK;
};

TEST(UnsyncedSqliteVfsTest, BecomesTheDefaultAndInstallingTwiceIsHarmless) {
  ASSERT_TRUE(InstallUnsyncedSqliteVfs().ok());
  ASSERT_TRUE(InstallUnsyncedSqliteVfs().ok());
  EXPECT_STREQ(sqlite3_vfs_find(nullptr)->zName, "flowrun-unsynced");
}

TEST(UnsyncedSqliteVfsTest, WalDatabasesWorkAcrossConnectionsAndReopening) {
  ASSERT_TRUE(InstallUnsyncedSqliteVfs().ok());
  const std::string path = testing::MakeTempDir() + "/wal.db";
  {
    Connection writer(path);
    Connection reader(path);
    ASSERT_EQ(writer.rc(), SQLITE_OK);
    ASSERT_EQ(writer.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                          "CREATE TABLE t (x INTEGER)"),
              SQLITE_OK);
    for (int i = 0; i < 200; ++i) {
      ASSERT_EQ(writer.Exec("INSERT INTO t VALUES (" + std::to_string(i) + ")"), SQLITE_OK);
    }
    EXPECT_EQ(reader.Count("t"), 200);
    EXPECT_EQ(writer.Exec("PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
  }
  Connection reopened(path);
  EXPECT_EQ(reopened.Count("t"), 200);
}

TEST(UnsyncedSqliteVfsTest, RollbackJournalsAreWrittenAndDeleted) {
  ASSERT_TRUE(InstallUnsyncedSqliteVfs().ok());
  const std::string path = testing::MakeTempDir() + "/journal.db";
  Connection db(path);
  ASSERT_EQ(db.Exec("PRAGMA journal_mode=DELETE; CREATE TABLE t (x INTEGER)"), SQLITE_OK);
  ASSERT_EQ(db.Exec("BEGIN; INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); ROLLBACK"),
            SQLITE_OK);
  ASSERT_EQ(db.Exec("BEGIN; INSERT INTO t VALUES (3); COMMIT"), SQLITE_OK);
  EXPECT_EQ(db.Count("t"), 1);
  EXPECT_FALSE(std::filesystem::exists(path + "-journal"));
}

TEST(UnsyncedSqliteVfsTest, AFileThatCannotBeOpenedIsAnErrorNotACrash) {
  ASSERT_TRUE(InstallUnsyncedSqliteVfs().ok());
  Connection missing_dir(testing::MakeTempDir() + "/no/such/dir/x.db");
  EXPECT_EQ(missing_dir.rc(), SQLITE_CANTOPEN);
  Connection directory(testing::MakeTempDir());
  EXPECT_NE(directory.Exec("CREATE TABLE t (x)"), SQLITE_OK);
}

}  // namespace
}  // namespace flowrun::store
