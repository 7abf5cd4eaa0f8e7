// Throughput of the `http` action against a loopback cpp-httplib server, in requests/s, with
// keep-alive connections reused from the pool and with a new connection per request, from one
// and from four calling threads. Each request is a GET answered with a small JSON body that the
// action parses, so the figure includes the action's whole path (argument checks, idempotency
// header, response parsing), not only the socket work.
//
//   build-*/bench/http_action_bench [--benchmark_repetitions=5 --benchmark_report_aggregates_only]
#include <benchmark/benchmark.h>

#include <memory>
#include <thread>

#include "actions/cpp_httplib.h"
#include "actions/http_action.h"

namespace flowrun {
namespace {

class LoopbackServer {
 public:
  LoopbackServer() {
    server_.Get("/users/42", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"id":42,"email":"ada@example.com","first_name":"Ada"})",
                      "application/json");
    });
    server_.set_keep_alive_timeout(2);
    server_.set_tcp_nodelay(true);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LoopbackServer() {
    server_.stop();
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/users/42"; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

LoopbackServer& Server() {
  static LoopbackServer* server = new LoopbackServer();
  return *server;
}

HttpAction& Action(bool keep_alive) {
  static HttpAction* with = [] {
    HttpActionOptions options;
    options.keep_alive = true;
    return new HttpAction(options);
  }();
  static HttpAction* without = [] {
    HttpActionOptions options;
    options.keep_alive = false;
    return new HttpAction(options);
  }();
  return keep_alive ? *with : *without;
}

void BM_HttpAction(benchmark::State& state) {
  const bool keep_alive = state.range(0) != 0;
  HttpAction& action = Action(keep_alive);
  ActionRequest request;
  request.run_id = "run-bench";
  request.step_key = "get-user[" + std::to_string(state.thread_index()) + "]";
  request.idempotency_key = request.run_id + "/" + request.step_key;
  request.arguments = {{"url", Server().Url()}};
  int64_t failures = 0;
  for (auto _ : state) {
    StatusOr<Json> out = action.Execute(request);
    if (!out.ok()) ++failures;
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["requests/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["failures"] = static_cast<double>(failures);
  state.SetLabel(keep_alive ? "keep-alive" : "new connection per request");
}

BENCHMARK(BM_HttpAction)->ArgName("keep_alive")->Arg(1)->Arg(0)->Threads(1)->UseRealTime();
BENCHMARK(BM_HttpAction)->ArgName("keep_alive")->Arg(1)->Arg(0)->Threads(4)->UseRealTime();

}  // namespace
}  // namespace flowrun

BENCHMARK_MAIN();
