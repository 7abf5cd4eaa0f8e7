// PgConnection::Open: the session it opens runs without JIT compilation, whatever the server's
// default.
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

}  // namespace
}  // namespace flowrun::store
