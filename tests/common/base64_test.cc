#include "common/base64.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flowrun {
namespace {

TEST(Base64Test, FollowsRfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> vectors = {{"", ""},
                                                                    {"f", "Zg=="},
                                                                    {"fo", "Zm8="},
                                                                    {"foo", "Zm9v"},
                                                                    {"foob", "Zm9vYg=="},
                                                                    {"fooba", "Zm9vYmE="},
                                                                    {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    std::optional<std::string> decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
  EXPECT_EQ(*Base64Decode("Zg"), "f");  // padding may be left out
  EXPECT_EQ(*Base64Decode("Zm8"), "fo");
  std::string binary("\xfb\xff\x00", 3);
  EXPECT_EQ(Base64Encode(binary), "+/8A");
  EXPECT_EQ(*Base64Decode("+/8A"), binary);
}

TEST(Base64Test, RejectsMalformedText) {
  for (std::string bad : {"Z", "Zg=a", "Zm9v!", "Zm 9v", "Zm9v\n", "Zg===", "=Zm9", "-_8A"}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace flowrun
