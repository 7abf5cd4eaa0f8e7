// Failpoints: named places at every persistence boundary of the engine (before and after each
// commit, before and after each action call) where a test can make execution stop as if the
// process had died there. A crashed engine returns kAborted from the call that hit the failpoint
// and must not be used again; the test reopens the store and resumes with a new engine.
//
// Production code holds a Failpoints object that is never armed; Hit is then one atomic
// increment.
//
// Thread-safety: Hit may be called from many threads at once; arm before driving the engine.
#pragma once

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"

namespace flowrun {

// The names used by the engine.
inline constexpr std::string_view kFailBeforeCommit = "before_commit";
inline constexpr std::string_view kFailAfterCommit = "after_commit";
inline constexpr std::string_view kFailBeforeAction = "before_action";
inline constexpr std::string_view kFailAfterAction = "after_action";

class Failpoints {
 public:
  Failpoints() = default;
  Failpoints(const Failpoints&) = delete;
  Failpoints& operator=(const Failpoints&) = delete;

  // Counts a pass through the failpoint `name`. Returns kAborted ("crashed at failpoint ...")
  // when this pass is the armed one.
  [[nodiscard]] Status Hit(std::string_view name);

  // Arms the k-th pass (1-based) through any failpoint, counted from now. 0 disarms.
  void TEST_CrashAt(int k);
  // Passes counted since construction or the last TEST_CrashAt.
  int TEST_hits() const { return hits_.load(); }
  // The names passed, in order (recorded only while recording is on).
  void TEST_Record(bool on);
  std::vector<std::string> TEST_trace() const;

 private:
  std::atomic<int> hits_{0};
  std::atomic<int> crash_at_{0};
  std::atomic<bool> recording_{false};
  mutable Mutex mu_;
  std::vector<std::string> trace_ FLOWRUN_GUARDED_BY(mu_);
};

}  // namespace flowrun
