#include "common/deterministic_id.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

namespace flowrun {
namespace {

bool HasShape(const std::string& id, const std::string& prefix) {
  if (id.rfind(prefix, 0) != 0 || id.size() != prefix.size() + 32) return false;
  return id.find_first_not_of("0123456789abcdef", prefix.size()) == std::string::npos;
}

TEST(DeterministicIdTest, SameCauseSameIdAndPartBoundariesCount) {
  EXPECT_EQ(DeterministicId("run_", {"evt_1", "flow"}), DeterministicId("run_", {"evt_1", "flow"}));
  EXPECT_NE(DeterministicId("run_", {"evt_1", "flow"}), DeterministicId("run_", {"evt_2", "flow"}));
  EXPECT_NE(DeterministicId("run_", {"ab", "c"}), DeterministicId("run_", {"a", "bc"}));
  EXPECT_TRUE(HasShape(DeterministicId("run_", {"x"}), "run_"));
}

TEST(TimeOrderedIdTest, DeterministicAndSortedByTime) {
  const TimePoint t = FromUnixMillis(1709285400000LL);
  EXPECT_EQ(TimeOrderedId("run_", t, {"evt_1", "f"}), TimeOrderedId("run_", t, {"evt_1", "f"}));
  EXPECT_NE(TimeOrderedId("run_", t, {"evt_1", "f"}), TimeOrderedId("run_", t, {"evt_1", "g"}));
  EXPECT_TRUE(HasShape(TimeOrderedId("run_", t, {"evt_1", "f"}), "run_"));
  // Whatever the parts, a later millisecond sorts after an earlier one.
  std::string previous;
  for (int ms = 0; ms < 1000; ++ms) {
    std::string id =
        TimeOrderedId("run_", t + std::chrono::milliseconds(ms), {std::to_string(1000 - ms)});
    EXPECT_LT(previous, id);
    previous = id;
  }
  EXPECT_EQ(TimeOrderedId("run_", t, {"x"}).substr(4, 12), "018df9595dc0");  // hex of the ms
}

TEST(RandomIdTest, DistinctShapedAndLaterSortsLater) {
  std::set<std::string> ids;
  for (int i = 0; i < 10000; ++i) ids.insert(RandomId("evt_"));
  EXPECT_EQ(ids.size(), 10000u);
  EXPECT_TRUE(HasShape(*ids.begin(), "evt_"));
  const std::string first = RandomId("evt_");
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_LT(first, RandomId("evt_"));
}

}  // namespace
}  // namespace flowrun
