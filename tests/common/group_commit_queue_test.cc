// GroupCommitQueue: callers that wait and requests queued without a thread (SubmitAsync) share
// groups; a drain leads when no caller does, and a queued request past its deadline gets nothing.
// With Leaders::kDrains no caller leads: one drain leads group after group.
#include "common/group_commit_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "testing/wait_until.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;
using Deadline = std::chrono::steady_clock::time_point;

using Leaders = GroupCommitQueue<int, int>::Leaders;

// A queue of ints whose apply doubles each request, records the group sizes and the threads that
// applied them, and can be held (the group being applied waits until Release).
class HeldQueue {
 public:
  explicit HeldQueue(Leaders leaders = Leaders::kCallers)
      : queue_(
            [this](std::vector<int*>& group) {
              {
                std::unique_lock<std::mutex> lock(mu_);
                group_sizes_.push_back(group.size());
                appliers_.push_back(std::this_thread::get_id());
                ++applying_;
                released_cv_.wait(lock, [this] { return !held_; });
                --applying_;
              }
              std::vector<int> results;
              for (int* request : group) results.push_back(*request * 2);
              return results;
            },
            /*max_group=*/8,
            [this](std::function<void()> drain) {
              spawned_.fetch_add(1);
              std::lock_guard<std::mutex> lock(threads_mu_);
              threads_.emplace_back(std::move(drain));
            },
            leaders) {}
  ~HeldQueue() {
    Release();
    std::lock_guard<std::mutex> lock(threads_mu_);
    for (std::thread& thread : threads_) thread.join();
  }

  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    held_ = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      held_ = false;
    }
    released_cv_.notify_all();
  }
  bool applying() {
    std::lock_guard<std::mutex> lock(mu_);
    return applying_ > 0;
  }
  std::vector<size_t> group_sizes() {
    std::lock_guard<std::mutex> lock(mu_);
    return group_sizes_;
  }
  std::vector<std::thread::id> appliers() {
    std::lock_guard<std::mutex> lock(mu_);
    return appliers_;
  }

  // Queues `value`; its result (or nullopt) is stored in `*out` and counted in answered().
  void SubmitAsync(int value, Deadline deadline, std::optional<int>* out) {
    queue_.SubmitAsync(std::make_unique<int>(value), deadline, [this, out](std::optional<int> r) {
      *out = r;
      answered_.fetch_add(1);
    });
  }

  GroupCommitQueue<int, int>& queue() { return queue_; }
  int answered() const { return answered_.load(); }
  int spawned() const { return spawned_.load(); }

 private:
  std::mutex mu_;
  std::condition_variable released_cv_;
  bool held_ = false;
  int applying_ = 0;
  std::vector<size_t> group_sizes_;
  std::vector<std::thread::id> appliers_;
  std::atomic<int> answered_{0};
  std::atomic<int> spawned_{0};
  std::mutex threads_mu_;
  std::vector<std::thread> threads_;  // the drains
  GroupCommitQueue<int, int> queue_;
};

const Deadline kNever = Deadline::max();

TEST(GroupCommitQueueTest, QueuedRequestsShareGroupsLedByOneDrain) {
  HeldQueue q;
  q.Hold();
  std::vector<std::optional<int>> results(20);
  q.SubmitAsync(0, kNever, &results[0]);
  ASSERT_TRUE(testing::WaitUntil([&] { return q.applying(); }));
  for (int i = 1; i < 20; ++i) q.SubmitAsync(i, kNever, &results[i]);
  EXPECT_EQ(q.queue().queued(), 19u);
  q.Release();
  ASSERT_TRUE(testing::WaitUntil([&] { return q.answered() == 20; }));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(results[i], 2 * i) << i;
  // The first alone, then 19 in groups of at most 8, all by the one drain spawned first.
  EXPECT_EQ(q.group_sizes(), (std::vector<size_t>{1, 8, 8, 3}));
  EXPECT_EQ(q.spawned(), 1);
}

TEST(GroupCommitQueueTest, AWaitingCallerIsTakenByTheDrain) {
  HeldQueue q;
  q.Hold();
  std::optional<int> queued;
  q.SubmitAsync(1, kNever, &queued);
  ASSERT_TRUE(testing::WaitUntil([&] { return q.applying(); }));
  std::future<int> waiting = std::async(std::launch::async, [&] { return q.queue().Submit(21); });
  ASSERT_TRUE(testing::WaitUntil([&] { return q.queue().queued() == 1; }));
  q.Release();
  EXPECT_EQ(waiting.get(), 42);
  ASSERT_TRUE(testing::WaitUntil([&] { return q.answered() == 1; }));
  EXPECT_EQ(queued, 2);
  EXPECT_EQ(q.group_sizes(), (std::vector<size_t>{1, 1}));
  EXPECT_EQ(q.spawned(), 1);
}

TEST(GroupCommitQueueTest, ACallerLeadingHandsQueuedRequestsToADrain) {
  HeldQueue q;
  q.Hold();
  std::future<int> leader = std::async(std::launch::async, [&] { return q.queue().Submit(5); });
  ASSERT_TRUE(testing::WaitUntil([&] { return q.applying(); }));
  std::optional<int> queued;
  q.SubmitAsync(7, kNever, &queued);
  EXPECT_EQ(q.spawned(), 0);  // the leader at work passes the turn when it is done
  q.Release();
  EXPECT_EQ(leader.get(), 10);
  ASSERT_TRUE(testing::WaitUntil([&] { return q.answered() == 1; }));
  EXPECT_EQ(queued, 14);
  EXPECT_EQ(q.spawned(), 1);
}

TEST(GroupCommitQueueTest, AQueuedRequestPastItsDeadlineGetsNothingAndIsNotApplied) {
  HeldQueue q;
  q.Hold();
  std::optional<int> first;
  std::optional<int> hasty = 0;
  std::optional<int> patient;
  q.SubmitAsync(1, kNever, &first);
  ASSERT_TRUE(testing::WaitUntil([&] { return q.applying(); }));
  q.SubmitAsync(2, std::chrono::steady_clock::now() + 10ms, &hasty);
  q.SubmitAsync(3, kNever, &patient);
  std::this_thread::sleep_for(50ms);
  q.Release();
  ASSERT_TRUE(testing::WaitUntil([&] { return q.answered() == 3; }));
  EXPECT_EQ(first, 2);
  EXPECT_EQ(hasty, std::nullopt);
  EXPECT_EQ(patient, 6);
  EXPECT_EQ(q.group_sizes(), (std::vector<size_t>{1, 1}));
}

TEST(GroupCommitQueueTest, WithDrainLeadersALoneCallerLeadsItsOwnGroup) {
  HeldQueue q(Leaders::kDrains);
  std::thread::id caller;
  std::future<int> waiting = std::async(std::launch::async, [&] {
    caller = std::this_thread::get_id();
    return q.queue().Submit(4);
  });
  EXPECT_EQ(waiting.get(), 8);
  EXPECT_EQ(q.spawned(), 0);
  ASSERT_EQ(q.appliers().size(), 1u);
  EXPECT_EQ(q.appliers().front(), caller);
}

TEST(GroupCommitQueueTest, WithDrainLeadersTheCallersQueuedBehindAGroupGoToADrain) {
  HeldQueue q(Leaders::kDrains);
  q.Hold();
  std::thread::id first_caller;
  std::future<int> first = std::async(std::launch::async, [&] {
    first_caller = std::this_thread::get_id();
    return q.queue().Submit(1);
  });
  ASSERT_TRUE(testing::WaitUntil([&] { return q.applying(); }));
  // Callers that arrive while a group is applied wait; none of them leads the next group.
  std::vector<std::future<int>> later;
  std::vector<std::thread::id> later_callers(3);
  for (int i = 0; i < 3; ++i) {
    later.push_back(std::async(std::launch::async, [&q, &later_callers, i] {
      later_callers[i] = std::this_thread::get_id();
      return q.queue().Submit(i + 2);
    }));
  }
  ASSERT_TRUE(testing::WaitUntil([&] { return q.queue().queued() == 3; }));
  q.Release();
  EXPECT_EQ(first.get(), 2);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(later[i].get(), 2 * (i + 2));
  EXPECT_EQ(q.group_sizes(), (std::vector<size_t>{1, 3}));
  ASSERT_EQ(q.appliers().size(), 2u);
  EXPECT_EQ(q.appliers()[0], first_caller);
  EXPECT_NE(q.appliers()[1], first_caller);
  for (const std::thread::id& caller : later_callers) EXPECT_NE(q.appliers()[1], caller);
  EXPECT_EQ(q.spawned(), 1);
}

}  // namespace
}  // namespace flowrun
