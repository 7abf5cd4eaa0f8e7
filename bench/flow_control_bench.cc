// Flow-control benchmark (not a test): prints a table of the three workloads, each next
// to the same flow without flow control, on a durable SQLite store (synchronous=FULL):
//   throttle  N events over K throttle keys (limit 10/min, burst 10 per key: bookkeeping only,
//             no run is delayed, so both sides do the same work)
//   debounce  N events debounced over K keys (exactly K runs)
//   batch     N events batched by 100 (N / 100 runs)
// Each flow has one action step (a fake `http` action that answers at once), so every run takes
// the engine's worker path on both sides. Time runs on a simulated clock that the driver moves
// only when nothing is ready; wall time is measured. One process per workload side, so RSS is that
// side's alone: the driver re-executes itself with --one.
//
// With --rss-keys K1,K2,... it prints instead how the throttle workload's RSS grows with its key
// count: the same N events over each K (one process each), next to the flow without flow control.
//
// Usage: flow_control_bench [--events N] [--throttle-keys K] [--debounce-keys K] [--dir DIR]
//        flow_control_bench --rss-keys K1,K2,... [--events N] [--dir DIR]
//        flow_control_bench --one WORKLOAD [--baseline] ...   (one side, prints one line)
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "common/simulated_clock.h"
#include "engine/engine.h"
#include "engine/program_catalog.h"
#include "flow/compiler.h"
#include "flow/yaml_loader.h"
#include "process_rss.h"
#include "store/sqlite_store.h"
#include "testing/fake_action.h"

namespace flowrun {
namespace {

struct Options {
  int events = 100000;
  int throttle_keys = 10000;
  int debounce_keys = 1000;
  std::string dir;
  std::string one;  // the workload of this process, when it runs one side
  bool baseline = false;
  std::vector<int> rss_keys;  // throttle key counts to compare RSS over (--rss-keys)
};

struct Result {
  double seconds = 0;
  long runs = 0;
  double rss_mb = 0;
  double peak_rss_mb = 0;
};

std::string FlowYaml(const std::string& workload, bool baseline) {
  std::string control;
  if (!baseline) {
    if (workload == "throttle") {
      control = "throttle: {limit: 10, period: 1m, burst: 10, key: event.data.k}\n";
    } else if (workload == "debounce") {
      control = "debounce: {period: 5s, key: event.data.k}\n";
    } else {
      control = "batch: {max_size: 100, timeout: 5s}\n";
    }
  }
  return "id: bench\non: {event: bench/e}\n" + control +
         "steps:\n  - id: call\n    http: {url: \"https://sink.example/\"}\n";
}

Result RunOne(const Options& options) {
  const std::string dir = options.dir + "/" + options.one + (options.baseline ? "-base" : "-fc");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  SimulatedClock clock;
  auto store = store::SqliteStore::Open({.path = dir + "/flowrun.db", .clock = &clock});
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    std::exit(2);
  }
  InMemoryProgramCatalog catalog;
  CompiledFlow compiled =
      CompileFlow(LoadYaml("bench.yaml", FlowYaml(options.one, options.baseline)));
  if (!compiled.program) std::exit(2);
  catalog.Add(compiled.program);
  testing::FakeAction http("http");
  Engine engine(
      **store, catalog,
      [&](std::string_view name) -> Action* { return name == "http" ? &http : nullptr; }, clock,
      nullptr, EngineOptions{.node_id = "bench", .seed = 1, .log = nullptr});
  if (!engine.Recover().ok()) std::exit(2);
  const int keys = options.one == "debounce" ? options.debounce_keys : options.throttle_keys;
  const auto start = std::chrono::steady_clock::now();
  constexpr int kChunk = 500;
  for (int i = 0; i < options.events; i += kChunk) {
    std::vector<Json> chunk;
    for (int j = i; j < std::min(options.events, i + kChunk); ++j) {
      chunk.push_back({{"name", "bench/e"}, {"data", {{"k", "key-" + std::to_string(j % keys)}}}});
    }
    auto ingested = engine.IngestEvents(chunk);
    if (!ingested.ok()) {
      std::fprintf(stderr, "%s\n", ingested.status().ToString().c_str());
      std::exit(2);
    }
    (void)engine.AdvanceReadyRuns(512);  // workers keep up with ingest, as in the service
  }
  for (;;) {
    auto advanced = engine.AdvanceReadyRuns(512);
    if (!advanced.ok()) std::exit(2);
    if (*advanced > 0) continue;
    auto next = engine.NextDueTime();
    if (!next.ok() || !*next) break;
    clock.AdvanceTo(**next);
  }
  Result result;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.runs = http.calls();
  result.rss_mb = bench::ProcessRssKb() / 1024.0;
  result.peak_rss_mb = bench::ProcessPeakRssKb() / 1024.0;
  return result;
}

Result RunSide(const Options& options, const char* self, const std::string& workload,
               bool baseline) {
  std::string command = std::string(self) + " --one " + workload + (baseline ? " --baseline" : "") +
                        " --events " + std::to_string(options.events) + " --throttle-keys " +
                        std::to_string(options.throttle_keys) + " --debounce-keys " +
                        std::to_string(options.debounce_keys) + " --dir " + options.dir;
  FILE* pipe = popen(command.c_str(), "r");
  Result result;
  if (!pipe || std::fscanf(pipe, "%lf %ld %lf %lf", &result.seconds, &result.runs, &result.rss_mb,
                           &result.peak_rss_mb) != 4) {
    std::fprintf(stderr, "%s failed\n", command.c_str());
    std::exit(2);
  }
  pclose(pipe);
  return result;
}

// The throttle workload over each key count of --rss-keys, then the flow without flow control.
void PrintRssByKeys(Options options, const char* self) {
  std::printf(
      "| throttle keys | events | runs | s | RSS MB at the end | peak RSS MB |\n"
      "|---|---|---|---|---|---|\n");
  auto row = [&](const std::string& keys, const Result& r) {
    std::printf("| %s | %d | %ld | %.2f | %.1f | %.1f |\n", keys.c_str(), options.events, r.runs,
                r.seconds, r.rss_mb, r.peak_rss_mb);
    std::fflush(stdout);
  };
  for (int keys : options.rss_keys) {
    options.throttle_keys = keys;
    row(std::to_string(keys), RunSide(options, self, "throttle", false));
  }
  row("no flow control", RunSide(options, self, "throttle", true));
}

int Main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--events")
      options.events = std::atoi(next().c_str());
    else if (arg == "--throttle-keys")
      options.throttle_keys = std::atoi(next().c_str());
    else if (arg == "--debounce-keys")
      options.debounce_keys = std::atoi(next().c_str());
    else if (arg == "--dir")
      options.dir = next();
    else if (arg == "--one")
      options.one = next();
    else if (arg == "--baseline")
      options.baseline = true;
    else if (arg == "--rss-keys")
      for (std::string list = next(); !list.empty();) {
        const size_t comma = list.find(',');
        options.rss_keys.push_back(std::atoi(list.substr(0, comma).c_str()));
        list = comma == std::string::npos ? "" : list.substr(comma + 1);
      }
  }
  if (options.dir.empty()) {
    options.dir = (std::filesystem::temp_directory_path() /
                   ("flowrun-flow-control-bench-" + std::to_string(getpid())))
                      .string();
  }
  if (!options.one.empty()) {
    Result r = RunOne(options);
    std::printf("%.3f %ld %.1f %.1f\n", r.seconds, r.runs, r.rss_mb, r.peak_rss_mb);
    return 0;
  }
  if (!options.rss_keys.empty()) {
    PrintRssByKeys(options, argv[0]);
    std::filesystem::remove_all(options.dir);
    return 0;
  }
  std::printf(
      "| workload | events | keys | runs | s | events/s | baseline s | baseline events/s | "
      "overhead | RSS MB | baseline RSS MB |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const std::string workload : {"throttle", "debounce", "batch"}) {
    Result base = RunSide(options, argv[0], workload, true);
    Result fc = RunSide(options, argv[0], workload, false);
    const int keys = workload == "throttle"   ? options.throttle_keys
                     : workload == "debounce" ? options.debounce_keys
                                              : 1;
    std::printf("| %s | %d | %d | %ld | %.2f | %.0f | %.2f | %.0f | %.2fx | %.1f | %.1f |\n",
                workload.c_str(), options.events, keys, fc.runs, fc.seconds,
                options.events / fc.seconds, base.seconds, options.events / base.seconds,
                fc.seconds / base.seconds, fc.rss_mb, base.rss_mb);
    std::fflush(stdout);
  }
  std::filesystem::remove_all(options.dir);
  return 0;
}

}  // namespace
}  // namespace flowrun

int main(int argc, char** argv) { return flowrun::Main(argc, argv); }
