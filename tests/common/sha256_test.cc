#include "common/sha256.h"

#include <gtest/gtest.h>

#include <string>

#include "common/hex.h"

namespace flowrun {
namespace {

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, RawDigestIsThirtyTwoBytesOfTheHex) {
  std::string digest = Sha256("abc");
  ASSERT_EQ(digest.size(), kSha256Bytes);
  EXPECT_EQ(HexEncode(digest), Sha256Hex("abc"));
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace flowrun
