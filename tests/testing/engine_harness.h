// EngineHarness: an engine on a real store, a simulated clock, fake actions ("http", "email", "db")
// and flows compiled from YAML text, for the engine tests in this folder. The store is a SQLite
// file in a temp dir, or, when the environment has FLOWRUN_TEST_STORE=postgres, a fresh database
// on the test binary's private PostgreSQL server (see store_kinds.h; ctest runs each engine test
// both ways). (They live beside the store tests because they link the stores.)
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "common/simulated_clock.h"
#include "config/secrets.h"
#include "engine/engine.h"
#include "engine/program_catalog.h"
#include "flow/compiler.h"
#include "flow/yaml_loader.h"
#include "testing/fake_action.h"
#include "testing/paths.h"
#include "testing/store_kinds.h"

namespace flowrun::testing {

class EngineHarness {
 public:
  explicit EngineHarness(std::map<std::string, std::string> secrets = {})
      : dir_(MakeTempDir()), secrets_(std::move(secrets)) {
    const char* kind = std::getenv("FLOWRUN_TEST_STORE");
    EXPECT_TRUE(backend_.Prepare(kind && std::string(kind) == "postgres"
                                     ? store::StoreKind::kPostgres
                                     : store::StoreKind::kSqlite));
    for (const char* name : {"http", "email", "db"}) {
      actions_[name] = std::make_unique<FakeAction>(name);
    }
    Reopen();
  }

  // Closes the engine and the store as a crash would leave them, and opens both again.
  void Reopen() {
    Close();
    Open();
  }
  // The two halves of Reopen, for a test that changes the files in between.
  void Close() {
    engine_.reset();
    store_.reset();
  }
  void Open() {
    store_ = backend_.Open(&clock_);
    engine_ = std::make_unique<Engine>(
        *store_, catalog_,
        [this](std::string_view name) -> Action* {
          if (auto real = real_actions_.find(std::string(name)); real != real_actions_.end()) {
            return real->second;
          }
          auto it = actions_.find(std::string(name));
          return it == actions_.end() ? nullptr : it->second.get();
        },
        clock_, &secrets_, options_);
    EXPECT_TRUE(engine_->Recover().ok());
  }

  // Serves the action `name` with `action` instead of its fake from now on.
  // REQUIRES: `action` outlives the harness.
  void UseAction(const std::string& name, Action* action) { real_actions_[name] = action; }

  // Reopens with other engine options.
  void SetEngineOptions(EngineOptions options) {
    options_ = std::move(options);
    Reopen();
  }

  std::shared_ptr<const Program> AddFlow(const std::string& yaml) {
    LoadedDocument document = LoadYaml("test.yaml", yaml);
    CompiledFlow compiled = CompileFlow(document);
    std::string errors;
    for (const auto& d : compiled.diagnostics) errors += d.message + "\n";
    EXPECT_TRUE(compiled.program) << errors;
    if (compiled.program) catalog_.Add(compiled.program);
    return compiled.program;
  }

  // Sends one event and returns the id of the first run it started ("" when none).
  std::string Send(const std::string& name, Json data = Json::object(), std::string id = "") {
    Json event = {{"name", name}, {"data", data}};
    if (!id.empty()) event["id"] = id;
    auto result = engine_->IngestEvents({event});
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    if (!result.ok() || result->front().runs.empty()) return "";
    return result->front().runs.front();
  }

  // Advances runs, moving the clock to the next due time when nothing is ready, until nothing is
  // due within `horizon`. Returns the last error, if any.
  Status Drive(Duration horizon = std::chrono::hours(24 * 400)) {
    const TimePoint end = clock_.Now() + horizon;
    for (int round = 0; round < 100000; ++round) {
      auto advanced = engine_->AdvanceReadyRuns(64);
      if (!advanced.ok()) return advanced.status();
      if (*advanced > 0) continue;
      auto next = engine_->NextDueTime();
      if (!next.ok()) return next.status();
      if (!*next || **next > end) return OkStatus();
      clock_.AdvanceTo(**next);
    }
    return InternalError("Drive did not settle");
  }

  store::RunRecord Run(const std::string& id) {
    auto run = engine_->GetRun(id);
    EXPECT_TRUE(run.ok() && run->has_value()) << id;
    return run.ok() && run->has_value() ? **run : store::RunRecord{};
  }

  std::vector<store::JournalEntry> Journal(const std::string& id) {
    auto journal = engine_->GetJournal(id);
    EXPECT_TRUE(journal.ok());
    return journal.ok() ? *journal : std::vector<store::JournalEntry>{};
  }

  // The completion record of a step, or null.
  Json Completion(const std::string& run_id, const std::string& key) {
    for (const auto& e : Journal(run_id)) {
      if (e.kind == store::JournalKind::kCompleted && e.step_key == key) return e.data;
    }
    return nullptr;
  }

  // How many step completions a run's journal holds.
  int CompletionCount(const std::string& run_id) {
    int count = 0;
    for (const auto& e : Journal(run_id)) count += e.kind == store::JournalKind::kCompleted;
    return count;
  }

  Engine& engine() { return *engine_; }
  store::Store& store() { return *store_; }
  SimulatedClock& clock() { return clock_; }
  FakeAction& action(const std::string& name) { return *actions_.at(name); }
  InMemoryProgramCatalog& catalog() { return catalog_; }
  const std::string& dir() const { return dir_; }
  // The store's URL ("sqlite:PATH" or "postgresql://…").
  const std::string& store_url() const { return backend_.url(); }
  // Another instance on the same store, as a second node would open it.
  std::unique_ptr<store::Store> OpenAnotherNode() { return backend_.Open(&clock_); }

 private:
  std::string dir_;
  EngineOptions options_{.node_id = "test-node", .seed = 7, .log = nullptr};
  SimulatedClock clock_;
  Secrets secrets_;
  InMemoryProgramCatalog catalog_;
  std::map<std::string, std::unique_ptr<FakeAction>> actions_;
  std::map<std::string, Action*> real_actions_;
  store::StoreBackend backend_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace flowrun::testing
