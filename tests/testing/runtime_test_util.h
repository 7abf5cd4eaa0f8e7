// Helpers shared by the runtime and flow registry tests: a Runtime on a real SQLite file in a temp
// directory with its flows written there, on a simulated clock, and a bounded wait for the
// runtime's threads to reach a state.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/simulated_clock.h"
#include "server/runtime.h"
#include "testing/paths.h"
#include "testing/wait_until.h"

namespace flowrun::testing {

// Polls `done` every few milliseconds for up to 10 s of wall time (the runtime's threads do the
// work; nothing here sleeps for a fixed time).
inline bool Eventually(const std::function<bool()>& done) {
  return WaitUntil(done, std::chrono::seconds(10), std::chrono::milliseconds(5));
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

class RuntimeFixture {
 public:
  RuntimeFixture() : dir_(MakeTempDir()) { std::filesystem::create_directories(flows_dir()); }

  std::string flows_dir() const { return dir_ + "/flows"; }
  std::string store_path() const { return dir_ + "/flowrun.db"; }
  const std::string& dir() const { return dir_; }

  RuntimeOptions Options() {
    RuntimeOptions options;
    options.config = Config::Defaults(dir_);
    options.config.store = "sqlite:" + store_path();
    options.config.flows = flows_dir();
    options.config.workers = 2;
    options.clock = &clock_;
    options.secrets = std::map<std::string, std::string>{};
    options.reload_interval = Duration::zero();  // tests reload explicitly unless they opt in
    return options;
  }

  // Opens and starts a runtime; nullptr (with a test failure) when it cannot.
  std::unique_ptr<Runtime> Start(RuntimeOptions options) {
    auto runtime = Runtime::Open(std::move(options));
    EXPECT_TRUE(runtime.ok()) << runtime.status().ToString();
    if (!runtime.ok()) return nullptr;
    EXPECT_TRUE((*runtime)->Start().ok());
    return std::move(*runtime);
  }
  std::unique_ptr<Runtime> Start() { return Start(Options()); }

  static std::optional<store::RunRecord> GetRun(Runtime& runtime, const std::string& id) {
    auto detail = runtime.GetRun(id);
    if (!detail.ok() || !detail->has_value()) return std::nullopt;
    return (*detail)->run;
  }

  static bool HasStatus(Runtime& runtime, const std::string& id, store::RunStatus status) {
    auto run = GetRun(runtime, id);
    return run && run->status == status;
  }

  // Sends one event and returns the first run it started ("" when none).
  static std::string Send(Runtime& runtime, const std::string& name, Json data = Json::object()) {
    auto ingested = runtime.IngestEvents({Json{{"name", name}, {"data", data}}});
    EXPECT_TRUE(ingested.ok()) << ingested.status().ToString();
    if (!ingested.ok() || ingested->front().runs.empty()) return "";
    return ingested->front().runs.front();
  }

  SimulatedClock& clock() { return clock_; }

 private:
  std::string dir_;
  SimulatedClock clock_;
};

}  // namespace flowrun::testing
