// `flowrun migrate` and `serve`'s handling of store schemas, run as the built binary on real
// SQLite store files and a real PostgreSQL database made older or newer than this flowrun.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/pg_connection.h"
#include "testing/free_port.h"
#include "testing/paths.h"
#include "testing/postgres_server.h"
#include "testing/subprocess.h"

namespace flowrun {
namespace {

using testing::FlowrunBinary;
using testing::RunProcess;

// Runs `sql` on the SQLite file at `path`.
void Exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK)
      << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

class MigrateCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_ + "/flows");
    std::ofstream(dir_ + "/flowrun.yaml") << "store: sqlite:flowrun.db\nflows: flows\n";
  }
  testing::ProcessResult Migrate(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {FlowrunBinary(), "migrate", "--config",
                                     dir_ + "/flowrun.yaml"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess(argv);
  }
  // serve on a loopback port this test holds, so that it exits even when it opens the store.
  testing::ProcessResult ServeRefused(const std::string& config) {
    int port = 0;
    int fd = testing::ListenOnLoopback(1, &port);
    EXPECT_GE(fd, 0);
    auto result = RunProcess({FlowrunBinary(), "serve", "--config", config, "--listen",
                              "127.0.0.1:" + std::to_string(port), "--grace", "1s"});
    close(fd);
    return result;
  }
  std::string dir_ = testing::MakeTempDir();
  std::string db_ = dir_ + "/flowrun.db";
};

TEST_F(MigrateCommandTest, CreatesAnEmptyStoreAndThenHasNothingToDo) {
  auto dry = Migrate({"--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would apply"), std::string::npos) << dry.out;
  EXPECT_FALSE(std::filesystem::exists(db_));
  auto applied = Migrate();
  EXPECT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_TRUE(std::filesystem::exists(db_));
  auto again = Migrate();
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("up to date"), std::string::npos) << again.out;
}

TEST_F(MigrateCommandTest, ServeRefusesPendingMigrationsUnlessTheConfigSaysAuto) {
  ASSERT_EQ(Migrate().exit_code, 0);
  // Back to the schema before lease tokens (version 7).
  Exec(db_,
       "ALTER TABLE runs DROP COLUMN lease_token; DROP TABLE nodes; DROP INDEX runs_due_unleased; "
       "UPDATE schema_version SET version = 7;");
  auto refused = ServeRefused(dir_ + "/flowrun.yaml");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("flowrun migrate"), std::string::npos) << refused.err;
  auto dry = Migrate({"--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("version 7"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("8: "), std::string::npos) << dry.out;
  // The dry run changed nothing.
  EXPECT_EQ(ServeRefused(dir_ + "/flowrun.yaml").exit_code, 2);
  auto applied = Migrate();
  EXPECT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_NE(Migrate().out.find("up to date"), std::string::npos);
}

TEST_F(MigrateCommandTest, MigrateAutoAppliesPendingStepsAtStart) {
  ASSERT_EQ(Migrate().exit_code, 0);
  Exec(db_,
       "ALTER TABLE runs DROP COLUMN lease_token; DROP TABLE nodes; DROP INDEX runs_due_unleased; "
       "UPDATE schema_version SET version = 7;");
  std::ofstream(dir_ + "/auto.yaml") << "store: sqlite:flowrun.db\nflows: flows\nmigrate: auto\n";
  // It migrates, then fails only at listening.
  auto serve = ServeRefused(dir_ + "/auto.yaml");
  EXPECT_EQ(serve.err.find("flowrun migrate"), std::string::npos) << serve.err;
  EXPECT_NE(Migrate().out.find("up to date"), std::string::npos);
}

TEST_F(MigrateCommandTest, ANewerSchemaIsRefusedByMigrateAndServe) {
  ASSERT_EQ(Migrate().exit_code, 0);
  Exec(db_, "UPDATE schema_version SET version = 999;");
  auto migrate = Migrate();
  EXPECT_EQ(migrate.exit_code, 2);
  EXPECT_NE(migrate.err.find("newer"), std::string::npos) << migrate.err;
  auto serve = ServeRefused(dir_ + "/flowrun.yaml");
  EXPECT_EQ(serve.exit_code, 2);
  EXPECT_NE(serve.err.find("newer"), std::string::npos) << serve.err;
}

TEST_F(MigrateCommandTest, BadUsageIsExitCode2) {
  EXPECT_EQ(RunProcess({FlowrunBinary(), "migrate", "--config", dir_ + "/missing.yaml"}).exit_code,
            2);
  std::ofstream(dir_ + "/bad.yaml") << "migrate: sometimes\n";
  EXPECT_EQ(RunProcess({FlowrunBinary(), "migrate", "--config", dir_ + "/bad.yaml"}).exit_code, 2);
  EXPECT_EQ(RunProcess({FlowrunBinary(), "migrate", "--config", "x", "--store", "y"}).exit_code, 2);
}

// The same on PostgreSQL: an empty database is given the schema, a database one step behind is
// refused by serve until `flowrun migrate` brings it up, and a newer one is refused by both.
TEST_F(MigrateCommandTest, PostgresDatabasesMigrateTheSameWay) {
  std::unique_ptr<testing::PostgresServer> server = testing::PostgresServer::Start();
  ASSERT_NE(server, nullptr);
  auto admin = store::PgConnection::Open(server->Url(), "test setup");
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  ASSERT_TRUE((*admin)->ExecScript("CREATE DATABASE migrate_test").ok());
  const std::string url =
      "postgresql://postgres@127.0.0.1:" + std::to_string(server->port()) + "/migrate_test";
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {FlowrunBinary(), "migrate", "--store", url};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunProcess(argv);
  };
  auto dry = run({"--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("store schema version 0"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find("1: "), std::string::npos) << dry.out;
  auto applied = run({});
  EXPECT_EQ(applied.exit_code, 0) << applied.err;
  EXPECT_NE(run({}).out.find("up to date"), std::string::npos);

  auto db = store::PgConnection::Open(url, "test setup");
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  // Back to the schema before flow control (version 1).
  ASSERT_TRUE((*db)
                  ->ExecScript("ALTER TABLE runs DROP COLUMN events, DROP COLUMN skip_reason, "
                               "DROP COLUMN singleton_key, DROP COLUMN extra_slots; DROP TABLE "
                               "run_slots, rate_state, gathers, nodes; DROP INDEX "
                               "runs_due_unleased; UPDATE schema_version SET version = 1")
                  .ok());
  std::ofstream(dir_ + "/pg.yaml") << "store: " << url << "\nflows: flows\n";
  auto refused = ServeRefused(dir_ + "/pg.yaml");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("flowrun migrate"), std::string::npos) << refused.err;
  dry = run({"--dry-run"});
  EXPECT_NE(dry.out.find("2: "), std::string::npos) << dry.out;
  EXPECT_EQ(ServeRefused(dir_ + "/pg.yaml").exit_code, 2);  // the dry run changed nothing
  EXPECT_EQ(run({}).exit_code, 0);
  EXPECT_NE(run({}).out.find("up to date"), std::string::npos);

  ASSERT_TRUE((*db)->ExecScript("UPDATE schema_version SET version = 999").ok());
  auto newer = run({});
  EXPECT_EQ(newer.exit_code, 2);
  EXPECT_NE(newer.err.find("newer"), std::string::npos) << newer.err;
  auto serve = ServeRefused(dir_ + "/pg.yaml");
  EXPECT_EQ(serve.exit_code, 2);
  EXPECT_NE(serve.err.find("newer"), std::string::npos) << serve.err;
}

}  // namespace
}  // namespace flowrun
