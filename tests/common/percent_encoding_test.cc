#include "common/percent_encoding.h"

#include <gtest/gtest.h>

namespace flowrun {
namespace {

TEST(PercentEncodingTest, KeepsUnreservedAndEncodesEveryOtherByte) {
  EXPECT_EQ(PercentEncode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(PercentEncode("a b/c?d=e&f"), "a%20b%2Fc%3Fd%3De%26f");
  EXPECT_EQ(PercentEncode("\r\n\x7f\xc3\xa9"), "%0D%0A%7F%C3%A9");
  EXPECT_EQ(PercentEncode(std::string_view("\0x", 2)), "%00x");
}

TEST(PercentEncodingTest, AlsoKeepLeavesThoseBytesAsTheyAre) {
  EXPECT_EQ(PercentEncode("/a b/%41?q=1", "/?=%"), "/a%20b/%41?q=1");
  EXPECT_EQ(PercentEncode("/x\r\nInjected: 1", "/:"), "/x%0D%0AInjected:%201");
}

TEST(PercentDecodeTest, DecodesEscapesOfEitherCaseAndPlusAsSpace) {
  EXPECT_EQ(PercentDecode("a%20b+c%2fd%2F"), "a b c/d/");
  EXPECT_EQ(PercentDecode(""), "");
  EXPECT_EQ(PercentDecode(PercentEncode("p@ss w/rd+1")), "p@ss w/rd+1");
}

TEST(PercentDecodeTest, RefusesMalformedEscapes) {
  for (const char* bad : {"%", "%2", "%zz", "a%2", "%g0"}) {
    EXPECT_FALSE(PercentDecode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace flowrun
