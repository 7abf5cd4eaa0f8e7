// The http action against hostile peers on loopback (testing/raw_http_peer.h): each misbehaving
// peer fails or retries its attempt within the timeout, while a normal request started at the
// same time completes at once; and many slow requests are in flight together on the one loop.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "actions/http/http_action.h"
#include "actions/outbound_loop.h"
#include "testing/raw_http_peer.h"
#include "testing/wait_until.h"

namespace flowrun {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;
using testing::RawHttpPeer;

ActionRequest Request(const std::string& url, const std::string& timeout, int n = 0) {
  ActionRequest request;
  request.run_id = "run-" + std::to_string(n);
  request.step_key = "call";
  request.idempotency_key = request.run_id + "/call";
  request.arguments = {{"url", url}, {"timeout", timeout}};
  return request;
}

// Collects results of attempts started with Start, and when each arrived.
class Results {
 public:
  ActionCallback Callback(size_t index) {
    return [this, index](ActionRequest, StatusOr<Json> result) {
      std::lock_guard lock(mu_);
      if (outcomes_.size() <= index) outcomes_.resize(index + 1, InternalError("none"));
      if (arrived_.size() <= index) arrived_.resize(index + 1);
      outcomes_[index] = std::move(result);
      arrived_[index] = SteadyClock::now();
      ++count_;
      cv_.notify_all();
    };
  }
  // Waits for `n` results in all.
  bool WaitFor(size_t n, std::chrono::seconds limit = 60s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return count_ >= n; });
  }
  StatusOr<Json> outcome(size_t i) {
    std::lock_guard lock(mu_);
    return outcomes_[i];
  }
  SteadyClock::time_point arrived(size_t i) {
    std::lock_guard lock(mu_);
    return arrived_[i];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t count_ = 0;
  std::vector<StatusOr<Json>> outcomes_;
  std::vector<SteadyClock::time_point> arrived_;
};

struct HostileCase {
  std::string path;
  StatusCode code;
  std::string message;   // a part of the error message
  bool ends_at_timeout;  // true: only the timeout ends it
};

TEST(HttpActionHostilePeerTest, EachFailsWithinItsTimeoutAndHoldsNoOneElseUp) {
  auto peer = RawHttpPeer::Start();
  ASSERT_NE(peer, nullptr);
  HttpActionOptions options;
  options.limits.max_response_bytes = 1 << 20;
  HttpAction action(options);
  const std::vector<HostileCase> cases = {
      {"/silent", StatusCode::kDeadlineExceeded, "no response within 1s", true},
      {"/cut", StatusCode::kUnavailable, "", false},
      {"/endless", StatusCode::kFailedPrecondition, "larger than the limit of 1048576 bytes",
       false},
      {"/trickle", StatusCode::kDeadlineExceeded, "no response within 1s", true},
  };
  for (const HostileCase& k : cases) {
    SCOPED_TRACE(k.path);
    Results results;
    auto started = SteadyClock::now();
    action.Start(Request(peer->Url(k.path), "1s"), results.Callback(0));
    action.Start(Request(peer->Url("/ok"), "1s", 1), results.Callback(1));
    ASSERT_TRUE(results.WaitFor(2));
    StatusOr<Json> hostile = results.outcome(0);
    ASSERT_FALSE(hostile.ok());
    EXPECT_EQ(hostile.status().code(), k.code) << hostile.status().ToString();
    EXPECT_EQ(hostile.status().IsRetryable(), k.code != StatusCode::kFailedPrecondition);
    EXPECT_NE(hostile.status().message().find(k.message), std::string::npos)
        << hostile.status().message();
    auto hostile_took = results.arrived(0) - started;
    EXPECT_LT(hostile_took, 1500ms);
    if (k.ends_at_timeout) EXPECT_GE(hostile_took, 950ms);
    // The normal request, started at the same time, did not wait for the hostile one.
    ASSERT_TRUE(results.outcome(1).ok()) << results.outcome(1).status().ToString();
    EXPECT_LT(results.arrived(1) - started, 300ms);
  }
}

TEST(HttpActionHostilePeerTest, AThousandSlowRequestsAreInFlightTogether) {
  auto peer = RawHttpPeer::Start();
  ASSERT_NE(peer, nullptr);
  OutboundLoop loop;  // one thread for every transfer
  ASSERT_TRUE(loop.Start().ok());
  HttpActionOptions options;
  options.loop = &loop;
  HttpAction action(options);
  constexpr size_t kRequests = 1000;
  Results results;
  auto started = SteadyClock::now();
  for (size_t i = 0; i < kRequests; ++i) {
    action.Start(Request(peer->Url("/delay/200"), "30s", static_cast<int>(i)), results.Callback(i));
  }
  auto start_took = SteadyClock::now() - started;
  ASSERT_TRUE(results.WaitFor(kRequests));
  auto took = SteadyClock::now() - started;
  for (size_t i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(results.outcome(i).ok()) << i << ": " << results.outcome(i).status().ToString();
  }
  EXPECT_EQ(peer->requests(), static_cast<int>(kRequests));
  // Bounded by http.max_connections_per_host (256 by default), and far from one at a time.
  EXPECT_LE(peer->most_pending(), 256);
  EXPECT_GE(peer->most_pending(), 128);
  EXPECT_LT(start_took, 1s);
  EXPECT_LT(took, kRequests * 200ms / 20);
  EXPECT_EQ(loop.Stats().transfers_in_flight, 0);
  loop.Stop();
}

TEST(HttpActionHostilePeerTest, StoppingTheLoopEndsAttemptsInFlightAsRetryable) {
  auto peer = RawHttpPeer::Start();
  ASSERT_NE(peer, nullptr);
  OutboundLoop loop;
  ASSERT_TRUE(loop.Start().ok());
  HttpActionOptions options;
  options.loop = &loop;
  HttpAction action(options);
  Results results;
  action.Start(Request(peer->Url("/silent"), "30s"), results.Callback(0));
  ASSERT_TRUE(testing::WaitUntil([&] { return peer->requests() >= 1; }));
  loop.Stop();
  ASSERT_TRUE(results.WaitFor(1, 5s));
  StatusOr<Json> out = results.outcome(0);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnavailable) << out.status().ToString();
  EXPECT_NE(out.status().message().find("shutting down"), std::string::npos);
  // After Stop, attempts end at once, on the caller's thread.
  Results late;
  action.Start(Request(peer->Url("/ok"), "1s"), late.Callback(0));
  ASSERT_TRUE(late.WaitFor(1, 1s));
  EXPECT_EQ(late.outcome(0).status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace flowrun
