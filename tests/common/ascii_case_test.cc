#include "common/ascii_case.h"

#include <gtest/gtest.h>

namespace flowrun {
namespace {

TEST(AsciiCaseTest, LowersOnlyAsciiLetters) {
  EXPECT_EQ(AsciiLower("Content-TYPE: X/Y+Json"), "content-type: x/y+json");
  EXPECT_EQ(AsciiLower("\xC3\x89t\xC3\xA9"), "\xC3\x89t\xC3\xA9");  // UTF-8 bytes left alone
  EXPECT_EQ(AsciiLower(""), "");
}

TEST(AsciiCaseTest, ComparesWithoutRegardToAsciiCase) {
  EXPECT_TRUE(EqualsIgnoringAsciiCase("Idempotency-Key", "idempotency-key"));
  EXPECT_TRUE(EqualsIgnoringAsciiCase("", ""));
  EXPECT_FALSE(EqualsIgnoringAsciiCase("Host", "Hosts"));
  EXPECT_FALSE(EqualsIgnoringAsciiCase("a-b", "a_b"));
  EXPECT_FALSE(EqualsIgnoringAsciiCase("\xC3\x89", "\xC3\xA9"));
}

}  // namespace
}  // namespace flowrun
