// Throughput of the `http` action (its plain-http client, since the URLs are http:// and no proxy
// is set, on the one-thread OutboundLoop) against a loopback server (testing/raw_http_peer.h: one
// thread, poll()), in requests/s: with keep-alive connections and with a new connection per
// request, with 1, 16 and 256 requests in flight; and against a slow peer that answers after
// 200 ms, where the figure that matters is how many requests are in flight at once. Each request is
// a GET answered with a small JSON body that the action parses, so the figure includes the action's
// whole path (argument checks, headers, response parsing). Prints a markdown table of medians.
//
//   build/bench/http_action_bench [--repeat N]   (Default: 5)
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "actions/http/http_action.h"
#include "actions/outbound_loop.h"
#include "testing/raw_http_peer.h"

namespace flowrun {
namespace {

using SteadyClock = std::chrono::steady_clock;

struct Case {
  std::string label;
  std::string path;
  bool keep_alive;
  int in_flight;
  int requests;
  long max_connections_per_host;
};

// Keeps `in_flight` requests going until `requests` have finished; returns requests/s, or -1
// when any failed.
double RunOnce(const testing::RawHttpPeer& peer, const Case& c) {
  OutboundLoopOptions loop_options;
  loop_options.max_connections_per_host = c.max_connections_per_host;
  OutboundLoop loop(loop_options);
  if (!loop.Start().ok()) return -1;
  HttpActionOptions options;
  options.loop = &loop;
  options.keep_alive = c.keep_alive;
  options.limits.max_connections_per_host = static_cast<int>(c.max_connections_per_host);
  HttpAction action(options);

  std::mutex mu;
  std::condition_variable cv;
  int started = 0;
  int finished = 0;
  int failures = 0;
  const std::string url = peer.Url(c.path);
  std::function<void()> start_one;
  ActionCallback done = [&](ActionRequest, StatusOr<Json> result) {
    bool more;
    {
      std::lock_guard lock(mu);
      ++finished;
      if (!result.ok()) ++failures;
      more = started < c.requests;
      if (more) ++started;
      if (finished == c.requests) cv.notify_one();
    }
    if (more) start_one();
  };
  start_one = [&] {
    ActionRequest request;
    request.run_id = "run-bench";
    request.step_key = "get-user";
    request.idempotency_key = "run-bench/get-user";
    request.arguments = {{"url", url}, {"timeout", "30s"}};
    action.Start(std::move(request), done);
  };
  auto begin = SteadyClock::now();
  int first = std::min(c.in_flight, c.requests);
  {
    std::lock_guard lock(mu);
    started = first;
  }
  for (int i = 0; i < first; ++i) start_one();
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return finished == c.requests; });
  }
  double seconds = std::chrono::duration<double>(SteadyClock::now() - begin).count();
  loop.Stop();
  return failures > 0 ? -1 : c.requests / seconds;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace
}  // namespace flowrun

int main(int argc, char** argv) {
  using namespace flowrun;
  int repeat = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--repeat") == 0) repeat = std::max(1, std::atoi(argv[i + 1]));
  }
  auto peer = testing::RawHttpPeer::Start();
  if (!peer) {
    std::fprintf(stderr, "could not start the loopback server\n");
    return 1;
  }
  const std::vector<Case> cases = {
      {"instant peer, keep-alive", "/ok", true, 1, 5000, 256},
      {"instant peer, keep-alive", "/ok", true, 16, 20000, 256},
      {"instant peer, keep-alive", "/ok", true, 256, 20000, 256},
      {"instant peer, new connection per request", "/ok", false, 1, 2000, 256},
      {"instant peer, new connection per request", "/ok", false, 16, 5000, 256},
      {"instant peer, new connection per request", "/ok", false, 256, 5000, 256},
      {"peer answers after 200 ms, keep-alive", "/delay/200", true, 1, 10, 256},
      {"peer answers after 200 ms, keep-alive", "/delay/200", true, 256, 2560, 256},
      {"peer answers after 200 ms, keep-alive (1,000 connections per host)", "/delay/200", true,
       1000, 5000, 1000},
  };
  std::printf("| case | in flight | requests | req/s (median of %d) |\n", repeat);
  std::printf("| --- | ---: | ---: | ---: |\n");
  for (const Case& c : cases) {
    std::vector<double> rates;
    for (int r = 0; r < repeat; ++r) rates.push_back(RunOnce(*peer, c));
    double median = Median(rates);
    if (median < 0) {
      std::printf("| %s | %d | %d | failed |\n", c.label.c_str(), c.in_flight, c.requests);
    } else {
      std::printf("| %s | %d | %d | %.0f |\n", c.label.c_str(), c.in_flight, c.requests, median);
    }
    std::fflush(stdout);
  }
  return 0;
}
