// Engine benchmarks (not tests): prints tables of medians.
//   (a) runs of a 3-step internal flow, durable (synchronous=FULL), next to raw SQLite baselines
//       with the same number of row writes: one transaction per write, and group-committed;
//   (b) sleeping runs: process RSS while all sleep, and wake lateness p50/p99 (the driver idles
//       until NextDueTime, it does not spin);
//   (c) pending waits: latency from a matching event to the resumed run, p50/p99.
// Usage: engine_bench [--runs N] [--clients N] [--workers N] [--sleepers N] [--waits N (0: none)]
//                     [--repeat R] [--dir DIR]
//        engine_bench [--clients N --workers N] --profile-runs N   (only the engine part of (a))
// With BENCH_VERBOSE set, (a) also prints how many store transactions it took (to stderr).
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "engine/program_catalog.h"
#include "flow/compiler.h"
#include "flow/yaml_loader.h"
#include "process_rss.h"
#include "store/sqlite_store.h"

namespace flowrun {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

long RssKb() { return bench::ProcessRssKb(); }

std::shared_ptr<const Program> Compile(const std::string& yaml) {
  CompiledFlow compiled = CompileFlow(LoadYaml("bench.yaml", yaml));
  if (!compiled.program) {
    for (const auto& d : compiled.diagnostics) std::fprintf(stderr, "%s\n", d.message.c_str());
    std::exit(2);
  }
  return compiled.program;
}

struct Fixture {
  explicit Fixture(const std::string& dir, const flowrun::Clock& clock) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    auto opened = store::SqliteStore::Open({.path = dir + "/bench.db", .clock = &clock});
    if (!opened.ok()) {
      std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
      std::exit(2);
    }
    store = std::move(*opened);
    engine = std::make_unique<Engine>(*store, catalog, nullptr, clock, nullptr);
  }
  InMemoryProgramCatalog catalog;
  std::unique_ptr<store::SqliteStore> store;
  std::unique_ptr<Engine> engine;
};

void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(2);
  }
}

constexpr char kThreeStepFlow[] = R"(
id: three
on: {event: bench/start}
steps:
  - id: a
    set: {x: "${{ event.data.n }}"}
  - id: b
    set: {y: "${{ vars.x + 1 }}"}
  - id: c
    return: "${{ vars.y }}"
)";

std::vector<Json> StartEvents(int from, int to) {
  std::vector<Json> events;
  for (int j = from; j < to; ++j) events.push_back({{"name", "bench/start"}, {"data", {{"n", j}}}});
  return events;
}

// (a) returns runs/s. With `workers` == 0, one thread ingests every event (1,000 per call) and
// then advances the runs. Otherwise the engine is driven as the service drives it: `clients`
// threads ingest 100 events per call (an HTTP request's batch; a run without actions finishes in
// that call) while `workers` threads advance whatever is left ready; all their commits meet in the
// store's group commit.
double EngineRuns(const std::string& dir, int runs, int workers, int clients) {
  SystemClock clock;
  Fixture f(dir, clock);
  f.catalog.Add(Compile(kThreeStepFlow));
  auto start = Clock::now();
  if (workers == 0) {
    for (int i = 0; i < runs; i += 1000) {
      Check(f.engine->IngestEvents(StartEvents(i, std::min(runs, i + 1000))).status());
    }
    for (;;) {
      auto advanced = f.engine->AdvanceReadyRuns(1000);
      Check(advanced.status());
      if (*advanced == 0) break;
    }
    return runs / Seconds(Clock::now() - start);
  }
  std::atomic<int> next_event{0};
  std::atomic<int> clients_done{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i = next_event.fetch_add(100); i < runs; i = next_event.fetch_add(100)) {
        Check(f.engine->IngestEvents(StartEvents(i, std::min(runs, i + 100))).status());
      }
      clients_done.fetch_add(1);
    });
  }
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (;;) {
        const bool ingest_over = clients_done.load() == clients;
        auto advanced = f.engine->AdvanceReadyRuns(256);
        Check(advanced.status());
        if (*advanced > 0) continue;
        if (ingest_over) break;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  for (auto& t : threads) t.join();
  double rate = runs / Seconds(Clock::now() - start);
  auto completed = f.store->CountRuns(store::RunStatus::kCompleted);
  Check(completed.status());
  if (*completed != runs)
    std::fprintf(stderr, "expected %d completed runs, got %ld\n", runs, *completed);
  if (std::getenv("BENCH_VERBOSE")) {
    std::fprintf(stderr, "%ld store transactions\n",
                 static_cast<long>(f.store->TEST_transactions()));
  }
  return rate;
}

// Raw SQLite: `rows` single-row inserts, one transaction each or `group` per transaction.
double RawSqlite(const std::string& dir, int rows, int group) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  sqlite3* db = nullptr;
  sqlite3_open((dir + "/raw.db").c_str(), &db);
  sqlite3_exec(db,
               "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t (id INTEGER "
               "PRIMARY KEY, v TEXT)",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* insert = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t (v) VALUES (?1)", -1, &insert, nullptr);
  auto start = Clock::now();
  for (int i = 0; i < rows; i += group) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (int j = i; j < std::min(rows, i + group); ++j) {
      sqlite3_bind_text(insert, 1, "{\"status\":\"completed\",\"output\":1}", -1, SQLITE_STATIC);
      sqlite3_step(insert);
      sqlite3_reset(insert);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double rate = rows / Seconds(Clock::now() - start);
  sqlite3_finalize(insert);
  sqlite3_close(db);
  return rate;
}

// Real time shifted by an offset that only grows: the sleepers' set-up runs at full speed, then
// the clock jumps to just before the first wake-up and runs in real time from there, so lateness
// measures the engine, not how long set-up took.
class ShiftedClock final : public flowrun::Clock {
 public:
  TimePoint Now() const override { return system_.Now() + Duration(offset_ms_.load()); }
  void JumpTo(TimePoint t) {
    TimePoint now = Now();
    if (t > now) offset_ms_.fetch_add((t - now).count());
  }

 private:
  SystemClock system_;
  std::atomic<long long> offset_ms_{0};
};

// (b) returns {rss MB, p50 ms, p99 ms, setup s}.
std::vector<double> Sleepers(const std::string& dir, int runs) {
  ShiftedClock clock;
  Fixture f(dir, clock);
  f.catalog.Add(Compile(R"(
id: sleeper
on: {event: bench/sleep}
steps:
  - id: nap
    sleep_until: "${{ event.data.until }}"
  - id: done
    return: 1
)"));
  auto setup_start = Clock::now();
  // Wake-ups spread over 3 s, a day ahead: set-up always finishes first.
  const TimePoint wake = clock.Now() + std::chrono::hours(24);
  for (int i = 0; i < runs; i += 1000) {
    std::vector<Json> events;
    for (int j = i; j < std::min(runs, i + 1000); ++j) {
      TimePoint at = wake + std::chrono::milliseconds(static_cast<long long>(j) * 3000 / runs);
      events.push_back({{"name", "bench/sleep"}, {"data", {{"until", FormatTimestamp(at)}}}});
    }
    Check(f.engine->IngestEvents(events).status());
  }
  for (;;) {
    auto advanced = f.engine->AdvanceReadyRuns(1000);
    Check(advanced.status());
    if (*advanced == 0) break;
  }
  double setup = Seconds(Clock::now() - setup_start);
  double rss = RssKb() / 1024.0;
  clock.JumpTo(wake - std::chrono::milliseconds(200));
  int done = 0;
  while (done < runs) {
    auto advanced = f.engine->AdvanceReadyRuns(1000);
    Check(advanced.status());
    done += *advanced;
    if (*advanced > 0) continue;
    // Idle until the next wake-up rather than spinning.
    auto next = f.engine->NextDueTime();
    Check(next.status());
    if (!*next) break;
    Duration idle = **next - clock.Now();
    if (idle.count() > 0) std::this_thread::sleep_for(idle);
  }
  std::vector<double> lateness;
  auto finished = f.engine->ListRuns(store::RunFilter{.flow_id = "sleeper",
                                                      .status = store::RunStatus::kCompleted,
                                                      .parent_run_id = "",
                                                      .limit = runs + 1,
                                                      .before_id = ""});
  Check(finished.status());
  for (const auto& run : *finished) {
    TimePoint due = *ParseTimestamp(run.event["data"]["until"].get<std::string>());
    lateness.push_back(static_cast<double>((*run.ended_at - due).count()));
  }
  if (static_cast<int>(finished->size()) != runs) {
    std::fprintf(stderr, "expected %d completed sleepers, got %zu\n", runs, finished->size());
  }
  return {rss, Percentile(lateness, 0.5), Percentile(lateness, 0.99), setup};
}

// (c) returns {p50 ms, p99 ms} of event-to-resumed-run latency with `waits` pending waits.
std::vector<double> Waits(const std::string& dir, int waits, int samples) {
  SystemClock clock;
  Fixture f(dir, clock);
  f.catalog.Add(Compile(R"(
id: waiter
on: {event: bench/wait}
steps:
  - id: w
    wait_for_event: {event: bench/done, match: data.key, timeout: 1h}
  - id: out
    return: 1
)"));
  for (int i = 0; i < waits; i += 1000) {
    std::vector<Json> events;
    for (int j = i; j < std::min(waits, i + 1000); ++j) {
      events.push_back({{"name", "bench/wait"}, {"data", {{"key", j}}}});
    }
    Check(f.engine->IngestEvents(events).status());
  }
  for (;;) {
    auto advanced = f.engine->AdvanceReadyRuns(1000);
    Check(advanced.status());
    if (*advanced == 0) break;
  }
  std::vector<double> latency;
  for (int s = 0; s < samples; ++s) {
    int key = static_cast<int>((static_cast<long long>(s) * 7919) % waits);
    auto start = Clock::now();
    Check(
        f.engine->IngestEvents({Json{{"name", "bench/done"}, {"data", {{"key", key}}}}}).status());
    auto advanced = f.engine->AdvanceReadyRuns(10);
    Check(advanced.status());
    latency.push_back(Seconds(Clock::now() - start) * 1000);
    if (*advanced != 1) std::fprintf(stderr, "expected one resumed run, got %d\n", *advanced);
  }
  return {Percentile(latency, 0.5), Percentile(latency, 0.99)};
}

int Main(int argc, char** argv) {
  int runs = 10000, sleepers = 100000, repeat = 3, workers = 2, clients = 8;
  std::vector<int> wait_sizes = {1000, 10000, 100000};
  std::string dir = (std::filesystem::temp_directory_path() / "flowrun-bench").string();
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--runs") runs = std::atoi(argv[i + 1]);
    if (flag == "--sleepers") sleepers = std::atoi(argv[i + 1]);
    if (flag == "--repeat") repeat = std::atoi(argv[i + 1]);
    if (flag == "--dir") dir = argv[i + 1];
    if (flag == "--waits") {
      int n = std::atoi(argv[i + 1]);
      wait_sizes = n > 0 ? std::vector<int>{n} : std::vector<int>{};
    }
    if (flag == "--workers") workers = std::atoi(argv[i + 1]);
    if (flag == "--clients") clients = std::atoi(argv[i + 1]);
    if (flag == "--profile-runs") {
      // Only the engine part of (a), once, for a profiler (single-threaded unless --workers
      // comes first).
      std::printf("%.0f runs/s\n",
                  EngineRuns(dir + "/a", std::atoi(argv[i + 1]), workers, clients));
      return 0;
    }
  }
  // Row writes per run, as committed by the engine: the event, the run (inserted finished: it is
  // walked on ingest) and 3 journal rows.
  const int rows_per_run = 5;
  std::vector<double> engine_rates, sequential_rates, raw_single, raw_group;
  for (int r = 0; r < repeat; ++r) {
    sequential_rates.push_back(EngineRuns(dir + "/a", runs, 0, 0));
    engine_rates.push_back(EngineRuns(dir + "/a", runs, workers, clients));
    raw_single.push_back(RawSqlite(dir + "/raw1", std::min(runs * rows_per_run, 1200), 1));
    raw_group.push_back(RawSqlite(dir + "/rawg", runs * rows_per_run, 1000));
  }
  std::printf("(a) %d runs of a 3-step internal flow, synchronous=FULL, median of %d\n", runs,
              repeat);
  std::printf("| variant | runs/s | step transitions/s | row writes/s |\n|---|---|---|---|\n");
  double e = Median(engine_rates), q = Median(sequential_rates);
  std::printf("| flowrun engine, %d ingest threads + %d workers | %.0f | %.0f | %.0f |\n", clients,
              workers, e, e * 3, e * rows_per_run);
  std::printf("| flowrun engine, one thread (ingest all, then advance) | %.0f | %.0f | %.0f |\n", q,
              q * 3, q * rows_per_run);
  double s1 = Median(raw_single), sg = Median(raw_group);
  std::printf("| raw SQLite, 1 txn per row | %.0f | %.0f | %.0f |\n", s1 / rows_per_run,
              s1 / rows_per_run * 3, s1);
  std::printf("| raw SQLite, 1000 rows per txn | %.0f | %.0f | %.0f |\n\n", sg / rows_per_run,
              sg / rows_per_run * 3, sg);

  if (sleepers > 0) {
    auto b = Sleepers(dir + "/b", sleepers);
    std::printf(
        "(b) %d sleeping runs waking over 3 s\n| RSS MB (all asleep) | lateness p50 ms | "
        "lateness p99 ms | set-up s |\n|---|---|---|---|\n| %.1f | %.0f | %.0f | %.1f |\n\n",
        sleepers, b[0], b[1], b[2], b[3]);
  }
  std::printf(
      "(c) pending waits: event to resumed run\n| waits | p50 ms | p99 ms |\n|---|---|---|\n");
  for (int waits : wait_sizes) {
    auto c = Waits(dir + "/c", waits, 200);
    std::printf("| %d | %.2f | %.2f |\n", waits, c[0], c[1]);
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace flowrun

int main(int argc, char** argv) { return flowrun::Main(argc, argv); }
