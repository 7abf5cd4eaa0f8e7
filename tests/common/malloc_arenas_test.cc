#include "common/malloc_arenas.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <string>

namespace flowrun {
namespace {

EnvironmentLookup FakeEnvironment(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](const char* name) -> const char* {
    auto it = variables.find(name);
    return it == variables.end() ? nullptr : it->second.c_str();
  };
}

TEST(MallocArenaLimitTest, OnePerCoreAtLeastOne) {
  const EnvironmentLookup empty = FakeEnvironment({});
  EXPECT_EQ(MallocArenaLimit(0, empty), 1);  // hardware_concurrency may not know
  EXPECT_EQ(MallocArenaLimit(1, empty), 1);
  EXPECT_EQ(MallocArenaLimit(2, empty), 2);
  EXPECT_EQ(MallocArenaLimit(3, empty), 3);
  EXPECT_EQ(MallocArenaLimit(8, empty), 8);
  EXPECT_EQ(MallocArenaLimit(64, empty), 64);
}

TEST(MallocArenaLimitTest, TheOperatorsSettingStands) {
  EXPECT_EQ(MallocArenaLimit(8, FakeEnvironment({{"MALLOC_ARENA_MAX", "16"}})), std::nullopt);
  EXPECT_EQ(MallocArenaLimit(8, FakeEnvironment({{"GLIBC_TUNABLES",
                                                  "glibc.malloc.tcache_count=0:"
                                                  "glibc.malloc.arena_max=2"}})),
            std::nullopt);
  // Other tunables leave the cap to flowrun.
  EXPECT_EQ(
      MallocArenaLimit(8, FakeEnvironment({{"GLIBC_TUNABLES", "glibc.malloc.tcache_count=0"}})), 8);
}

// The test binaries keep the C library's malloc (only the flowrun binary links jemalloc), so the
// cap applies here; tests/package/package_test.sh checks that the installed binary runs on
// jemalloc.
TEST(MallocArenaLimitTest, TheTestBinariesRunOnGlibcMallocAndCapIt) {
  EXPECT_FALSE(MallocIsJemalloc());
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr && std::getenv("GLIBC_TUNABLES") == nullptr) {
    EXPECT_NE(LimitMallocArenas(), std::nullopt);
  }
}

}  // namespace
}  // namespace flowrun
