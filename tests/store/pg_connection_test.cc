// PgConnection::Open: the session runs with kStoreSessionSettings, whatever the server's
// defaults: without JIT, and with statements that keep to their indexes once a table grows.
#include "store/pg_connection.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "testing/store_kinds.h"

namespace flowrun::store {
namespace {

TEST(PgConnectionTest, SessionsRunWithoutJitWhereTheServerDefaultIsOn) {
  std::unique_ptr<PgConnection> db = FreshPostgresConnection();
  ASSERT_NE(db, nullptr);
  auto setting = db->Exec("SELECT setting, boot_val FROM pg_settings WHERE name = 'jit'");
  ASSERT_TRUE(setting.ok()) << setting.status().ToString();
  ASSERT_EQ(setting->rows(), 1);
  EXPECT_EQ(setting->Text(0, 0), "off");
  EXPECT_EQ(setting->Text(0, 1), "on");
}

TEST(PgConnectionTest, AUrlsOwnSessionOptionsAreKeptBesideTheStoreSettings) {
  const std::string url = FreshPostgresDatabase();
  ASSERT_FALSE(url.empty());
  auto db = PgConnection::Open(url + "?options=-c%20statement_timeout%3D12345", "test");
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto settings = (*db)->Exec(
      "SELECT current_setting('statement_timeout'), current_setting('jit'), "
      "current_setting('enable_seqscan')");
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  EXPECT_EQ(settings->Text(0, 0), "12345ms");
  EXPECT_EQ(settings->Text(0, 1), "off");
  EXPECT_EQ(settings->Text(0, 2), "off");
}

// The plan of a statement prepared while its table `t` held one row (and was analyzed so, as
// autovacuum does on a new database), after the table grew to 20,000 rows without being analyzed
// again: the lookup of a few ids by primary key that the store's lease checks make
// (pg_set_writes.h).
std::string PlanAfterTheTableGrew(PgConnection& db, const std::string& t) {
  EXPECT_TRUE(db.ExecScript("CREATE TABLE " + t + " (id TEXT PRIMARY KEY, v INT); INSERT INTO " +
                            t + " VALUES ('a', 1); ANALYZE " + t + "; PREPARE lookup_" + t +
                            "(text) AS SELECT id " + "FROM " + t + " WHERE id = ANY(ARRAY(SELECT " +
                            "json_array_elements_text($1::json))) FOR UPDATE")
                  .ok());
  // PostgreSQL settles on a generic plan after five runs.
  for (int i = 0; i < 8; ++i) {
    EXPECT_TRUE(db.ExecScript("EXECUTE lookup_" + t + "('[\"a\"]')").ok());
  }
  EXPECT_TRUE(
      db.ExecScript("INSERT INTO " + t + " SELECT 'id' || n, n FROM generate_series(1, 20000) n")
          .ok());
  auto plan = db.Exec("EXPLAIN EXECUTE lookup_" + t + "('[\"a\"]')");
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  std::string text;
  for (int r = 0; plan.ok() && r < plan->rows(); ++r) text += plan->Text(r, 0) + "\n";
  return text;
}

TEST(PgConnectionTest, AStatementPreparedOnATinyTableKeepsToItsIndexOnceTheTableGrows) {
  std::unique_ptr<PgConnection> db = FreshPostgresConnection();
  ASSERT_NE(db, nullptr);
  const std::string plan = PlanAfterTheTableGrew(*db, "store_like");
  EXPECT_NE(plan.find("using store_like_pkey"), std::string::npos) << plan;
  EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << plan;

  // With the server's default, the same steps keep a plan that reads the whole table.
  ASSERT_TRUE(db->ExecScript("SET enable_seqscan = on").ok());
  const std::string default_plan = PlanAfterTheTableGrew(*db, "server_default");
  EXPECT_NE(default_plan.find("Seq Scan on server_default"), std::string::npos) << default_plan;
}

}  // namespace
}  // namespace flowrun::store
