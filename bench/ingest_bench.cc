// Event ingest over HTTP (not a test): a Runtime and HttpApi on loopback with the SQLite store
// (durable commits), and several client threads posting to POST /e/{key}, each on its own
// keep-alive connection. Two shapes: one event per request, and batches of 100. A request is
// acknowledged only after its events are committed, so the latency is the acknowledgement
// latency. Prints, per shape, the median over the repeats of events/s and of the p50/p99
// request latency.
// Usage: ingest_bench [--clients N] [--requests N] [--batch-requests N] [--repeat R] [--dir DIR]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/cpp_httplib.h"
#include "common/log.h"
#include "config/config.h"
#include "server/http_api.h"
#include "server/runtime.h"

namespace flowrun {
namespace {

using Steady = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

struct Options {
  int clients = 4;
  int requests = 2000;       // single-event requests per repeat, over all clients
  int batch_requests = 200;  // 100-event requests per repeat, over all clients
  int repeat = 3;
  std::string dir;
};

struct Sample {
  double events_per_second = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int failures = 0;
};

// Posts `requests` requests of `batch` events from `clients` threads.
Sample Measure(int port, const Options& options, int requests, int batch, int round) {
  std::vector<std::vector<double>> latencies(options.clients);
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  Steady::time_point start = Steady::now();
  for (int c = 0; c < options.clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client client("127.0.0.1", port);
      client.set_keep_alive(true);
      client.set_tcp_nodelay(true);
      client.set_read_timeout(std::chrono::seconds(60));
      for (int i = next++; i < requests; i = next++) {
        std::string body = "[";
        for (int e = 0; e < batch; ++e) {
          if (e > 0) body += ",";
          body += R"({"name":"bench/event","id":"r)" + std::to_string(round) + "-" +
                  std::to_string(i) + "-" + std::to_string(e) + R"(","data":{"order":)" +
                  std::to_string(i * batch + e) + R"(,"customer":"c-42","items":[1,2,3]}})";
        }
        body += "]";
        Steady::time_point sent = Steady::now();
        auto result = client.Post("/e/bench-key", body, "application/json");
        double ms = std::chrono::duration<double, std::milli>(Steady::now() - sent).count();
        if (!result || result->status != 200) {
          ++failures;
          continue;
        }
        latencies[c].push_back(ms);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  double seconds = std::chrono::duration<double>(Steady::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  Sample sample;
  sample.failures = failures.load();
  sample.events_per_second = static_cast<double>(all.size()) * batch / seconds;
  sample.p50_ms = Percentile(all, 0.50);
  sample.p99_ms = Percentile(all, 0.99);
  return sample;
}

int Main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--clients")
      options.clients = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--requests")
      options.requests = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--batch-requests")
      options.batch_requests = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--repeat")
      options.repeat = std::max(1, std::atoi(argv[i + 1]));
    else if (flag == "--dir")
      options.dir = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::string dir = options.dir;
  if (dir.empty()) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "flowrun-ingest-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) return 2;
    dir = pattern;
  }
  std::filesystem::create_directories(dir + "/flows");
  DefaultLogger().Configure(LogOptions{.min_level = LogLevel::kWarn});

  RuntimeOptions runtime_options;
  runtime_options.config = Config::Defaults(dir);
  runtime_options.config.workers = 2;
  runtime_options.secrets = std::map<std::string, std::string>{};
  auto runtime = Runtime::Open(runtime_options);
  if (!runtime.ok()) {
    std::fprintf(stderr, "runtime: %s\n", runtime.status().ToString().c_str());
    return 1;
  }
  if (!(*runtime)->Start().ok()) return 1;
  auto api = HttpApi::Create(**runtime, runtime_options.config);
  if (!api.ok() || !(*api)->Listen("127.0.0.1", 0).ok()) return 1;
  const int port = (*api)->bound_port();

  struct Shape {
    const char* name;
    int batch;
    int requests;
  };
  std::printf(
      "ingest over HTTP, SQLite store (durable), %d client threads, %u cores, median of %d\n",
      options.clients, std::thread::hardware_concurrency(), options.repeat);
  std::printf("%-16s %10s %12s %10s %10s %9s\n", "shape", "requests", "events/s", "p50 ms",
              "p99 ms", "failures");
  int round = 0;
  for (const Shape& shape : {Shape{"single events", 1, options.requests},
                             Shape{"batches of 100", 100, options.batch_requests}}) {
    std::vector<double> rates, p50s, p99s;
    int failures = 0;
    for (int r = 0; r < options.repeat; ++r) {
      Sample sample = Measure(port, options, shape.requests, shape.batch, round++);
      rates.push_back(sample.events_per_second);
      p50s.push_back(sample.p50_ms);
      p99s.push_back(sample.p99_ms);
      failures += sample.failures;
    }
    std::printf("%-16s %10d %12.0f %10.2f %10.2f %9d\n", shape.name, shape.requests, Median(rates),
                Median(p50s), Median(p99s), failures);
  }
  (*api)->Stop();
  (*runtime)->Shutdown(std::chrono::seconds(5));
  if (options.dir.empty()) std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace flowrun

int main(int argc, char** argv) { return flowrun::Main(argc, argv); }
