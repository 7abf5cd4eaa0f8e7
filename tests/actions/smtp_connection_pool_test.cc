#include "actions/smtp_connection_pool.h"

#include <gtest/gtest.h>

namespace flowrun {
namespace {

TEST(SmtpConnectionPoolTest, KeepsAtMostMaxIdleHandlesAndHandsBackTheLastReleased) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  SmtpConnectionPool pool(2);
  std::unique_ptr<SmtpHandle> a = pool.Acquire();
  std::unique_ptr<SmtpHandle> b = pool.Acquire();
  std::unique_ptr<SmtpHandle> c = pool.Acquire();
  ASSERT_NE(a->curl, nullptr);
  EXPECT_NE(a.get(), b.get());
  SmtpHandle* last = b.get();
  pool.Release(std::move(a));
  pool.Release(std::move(b));
  pool.Release(std::move(c));  // one too many: destroyed
  EXPECT_EQ(pool.IdleCount(), 2u);
  std::unique_ptr<SmtpHandle> again = pool.Acquire();
  EXPECT_EQ(again.get(), last);
  EXPECT_EQ(pool.IdleCount(), 1u);
}

}  // namespace
}  // namespace flowrun
