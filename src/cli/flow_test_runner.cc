#include "cli/flow_test_runner.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "actions/action_registry.h"
#include "cli/flow_test_actions.h"
#include "cli/flow_test_expectations.h"
#include "common/simulated_clock.h"
#include "common/thread_annotations.h"
#include "config/secrets.h"
#include "engine/engine.h"
#include "engine/program_catalog.h"
#include "store/sqlite_store.h"

namespace flowrun::cli {
namespace {

namespace fs = std::filesystem;

// A scratch directory removed when the case is done.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "flowrun-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code error;
    if (!path_.empty()) fs::remove_all(path_, error);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// One SQLite connection, closed on destruction.
class SqliteHandle {
 public:
  explicit SqliteHandle(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) error_ = sqlite3_errmsg(db_);
  }
  ~SqliteHandle() { sqlite3_close(db_); }
  Status Exec(const std::string& sql) {
    if (!error_.empty()) return UnavailableError(error_);
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "unknown error";
      sqlite3_free(message);
      return InvalidArgumentError(text);
    }
    return OkStatus();
  }
  StatusOr<QueryRows> Query(const std::string& sql) {
    if (!error_.empty()) return UnavailableError(error_);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      return InvalidArgumentError(sqlite3_errmsg(db_));
    }
    QueryRows result;
    for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
      result.columns.push_back(sqlite3_column_name(stmt, c));
    }
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      Json row = Json::array();
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER:
            row.push_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
            break;
          case SQLITE_FLOAT:
            row.push_back(sqlite3_column_double(stmt, c));
            break;
          case SQLITE_NULL:
            row.push_back(nullptr);
            break;
          default:
            row.push_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, c)),
                                      sqlite3_column_bytes(stmt, c)));
        }
      }
      result.rows.push_back(std::move(row));
    }
    std::string error = rc == SQLITE_DONE ? "" : sqlite3_errmsg(db_);
    sqlite3_finalize(stmt);
    if (!error.empty()) return InvalidArgumentError(error);
    return result;
  }

 private:
  sqlite3* db_ = nullptr;
  std::string error_;
};

StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// The flow ids a program invokes by a literal name; `any` is set when one is a template.
void InvokedFlows(const Program& program, std::set<std::string>& ids, bool& any) {
  auto visit = [&](const CompiledStep& step) {
    if (step.kind != StepKind::kInvoke) return;
    const Json flow = step.raw_arguments.value("flow", Json());
    if (flow.is_string() && flow.get<std::string>().find("${{") == std::string::npos) {
      ids.insert(flow.get<std::string>());
    } else {
      any = true;
    }
  };
  ForEachStep(program.steps, visit);
  ForEachStep(program.on_failure, visit);
}

// A stand-in for a mocked child flow: one step that returns the output or fails.
std::shared_ptr<const Program> MockedChild(const std::string& flow_id, const InvokeMock& mock) {
  Json step = {{"id", "mocked"}};
  if (mock.error) {
    step["fail"] = *mock.error;
  } else {
    step["return"] = mock.output;
  }
  Json doc = {{"id", flow_id}, {"steps", Json::array({step})}};
  LoadedDocument loaded = LoadYaml("(mock of " + flow_id + ")", doc.dump());
  return CompileFlow(loaded).program;
}

std::string StepIdOf(const std::string& step_key) { return step_key.substr(0, step_key.find('[')); }

// Runs one case.
class CaseRun {
 public:
  CaseRun(const FlowTestFile& file, const TestCase& tc, const Program& program,
          const FlowSet& flows, const FlowTestOptions& options)
      : file_(file),
        tc_(tc),
        program_(program),
        flows_(flows),
        options_(options),
        clock_(tc.start) {}

  CaseResult Run() {
    CaseResult result;
    result.name = tc_.name;
    result.pos = file_.Position(tc_.pointer);
    const auto began = std::chrono::steady_clock::now();
    Execute(result);
    result.wall_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began).count();
    return result;
  }

 private:
  void Fail(CaseResult& result, const std::string& pointer, std::string message) {
    result.failures.push_back({file_.Position(pointer), std::move(message), "", ""});
  }

  // Scratch databases, seeded. Returns false (with a failure) when seeding failed.
  bool MakeDatabases(CaseResult& result) {
    const std::string base = fs::path(file_.path).parent_path().string();
    for (const auto& [name, db] : tc_.databases) {
      std::string path = scratch_.path() + "/" + name + ".db";
      SqliteHandle handle(path);
      const std::string pointer = JsonPointerAppend("/databases", name);
      if (!db.sql_file.empty()) {
        std::string sql_path = (fs::path(base) / db.sql_file).string();
        auto sql = ReadText(sql_path);
        if (!sql.ok()) {
          Fail(result, pointer + "/sql", "databases." + name + ": " + sql.status().message());
          return false;
        }
        if (Status s = handle.Exec(*sql); !s.ok()) {
          Fail(result, pointer + "/sql",
               "databases." + name + ": " + db.sql_file + ": " + s.message());
          return false;
        }
      }
      if (!db.seed.empty()) {
        if (Status s = handle.Exec(db.seed); !s.ok()) {
          Fail(result, pointer + "/seed", "databases." + name + ": seed: " + s.message());
          return false;
        }
      }
      databases_[name] = path;
    }
    return true;
  }

  void Execute(CaseResult& result) {
    if (scratch_.path().empty()) {
      Fail(result, tc_.pointer, "cannot make a scratch directory");
      return;
    }
    if (!MakeDatabases(result)) return;

    std::unique_ptr<DbAction> real_db;
    if (!databases_.empty()) {
      DbActionOptions db_options;
      for (const auto& [name, path] : databases_) db_options.databases[name] = "sqlite:" + path;
      db_options.clock = &clock_;
      real_db = std::make_unique<DbAction>(std::move(db_options));
    }
    ActionRegistry actions;
    (void)actions.Register(std::make_unique<MockHttpAction>(tc_.http, clock_, recorder_));
    (void)actions.Register(std::make_unique<CapturingEmailAction>(recorder_));
    (void)actions.Register(std::make_unique<CannedDbAction>(tc_.db, std::move(real_db)));
    actions.Freeze();

    auto store =
        store::SqliteStore::Open({.path = ":memory:", .sync_full = false, .clock = &clock_});
    if (!store.ok()) {
      Fail(result, tc_.pointer, "cannot open a store: " + store.status().message());
      return;
    }
    Secrets secrets(tc_.secrets);

    // The flow under test, and the flows it invokes (real, or mocked).
    InMemoryProgramCatalog catalog;
    auto programs = flows_.ProgramsById();
    std::shared_ptr<const Program> self = programs.at(program_.flow_id);
    catalog.Add(self);
    std::set<std::string> wanted;
    bool any = false;
    std::vector<std::shared_ptr<const Program>> queue = {self};
    while (!queue.empty()) {
      auto p = queue.back();
      queue.pop_back();
      std::set<std::string> invoked;
      InvokedFlows(*p, invoked, any);
      for (const auto& id : invoked) {
        if (!wanted.insert(id).second || tc_.invoke.count(id)) continue;
        auto it = programs.find(id);
        if (it != programs.end()) queue.push_back(it->second);
      }
    }
    if (any) {
      for (const auto& [id, p] : programs) wanted.insert(id);
    }
    for (const auto& id : wanted) {
      if (id == program_.flow_id) continue;
      auto mock = tc_.invoke.find(id);
      if (mock != tc_.invoke.end()) {
        if (auto child = MockedChild(id, mock->second)) catalog.Add(child);
      } else if (auto it = programs.find(id); it != programs.end()) {
        catalog.Add(it->second);
      }
    }
    for (const auto& [id, mock] : tc_.invoke) {
      if (!wanted.count(id)) {
        if (auto child = MockedChild(id, mock)) catalog.Add(child);
      }
    }

    EngineOptions engine_options;
    engine_options.node_id = "test";
    engine_options.seed = 1;
    engine_options.on_work_ready = [this] {
      MutexLock lock(returned_mu_);
      returned_ = true;
      returned_cv_.notify_all();
    };
    engine_options.log = [this](const std::string&, const std::string&,
                                const std::string& message) {
      MutexLock lock(returned_mu_);
      logs_.push_back(message);
    };
    Engine engine(
        **store, catalog, [&actions](std::string_view name) { return actions.Find(name); }, clock_,
        &secrets, std::move(engine_options));
    if (Status s = engine.Recover(); !s.ok()) {
      Fail(result, tc_.pointer, "engine: " + s.ToString());
      return;
    }

    auto run_id = Start(engine, result);
    if (!run_id) return;
    Drive(engine, *run_id, result);

    auto run = engine.GetRun(*run_id);
    auto journal = engine.GetJournal(*run_id);
    if (!run.ok() || !run->has_value() || !journal.ok()) {
      Fail(result, tc_.pointer, "the run disappeared from the store");
      return;
    }
    for (const auto& entry : *journal) {
      if (entry.kind == store::JournalKind::kCompleted &&
          entry.data.value("status", "completed") != "skipped") {
        result.executed_steps.insert(StepIdOf(entry.step_key));
      }
    }
    for (const std::string& request : recorder_.unmatched()) {
      Fail(result, tc_.pointer + "/mocks",
           "no http mock matches the request " + request +
               "; add one under mocks.http (flowrun test makes no real requests)");
    }
    ObservedCase observed;
    observed.run = **run;
    observed.journal = *journal;
    observed.requests = recorder_.requests();
    observed.emails = recorder_.emails();
    {
      MutexLock lock(returned_mu_);
      observed.logs = logs_;
    }
    observed.query = [this](const std::string& database,
                            const std::string& sql) -> StatusOr<QueryRows> {
      if (databases_.empty()) return FailedPreconditionError("the case has no databases");
      auto it = database.empty() ? databases_.begin() : databases_.find(database);
      if (it == databases_.end()) return NotFoundError("no database \"" + database + "\"");
      return SqliteHandle(it->second).Query(sql);
    };
    CheckExpectations(file_, tc_, program_, observed, result.failures);
  }

  // Starts the run under test; nullopt (with a failure) when it did not start.
  std::optional<std::string> Start(Engine& engine, CaseResult& result) {
    const std::string event_pointer = tc_.pointer + "/event";
    if (!tc_.event) {
      if (program_.cron_triggers.empty()) {
        auto started = engine.StartRun(program_.flow_id, Json::object());
        if (!started.ok()) {
          Fail(result, tc_.pointer, "cannot start the flow: " + started.status().message());
          return std::nullopt;
        }
        return *started;
      }
      auto fired = engine.FireCronTick(program_.flow_id, tc_.start);
      if (!fired.ok() || !fired->has_value()) {
        Fail(result, tc_.pointer, "the cron tick at the start time did not start a run");
        return std::nullopt;
      }
      return **fired;
    }
    const Json& event = *tc_.event;
    const std::string name = event.value("name", "");
    bool triggered = false;
    for (const EventTrigger& trigger : program_.event_triggers) triggered |= trigger.Matches(name);
    if (!triggered) {
      Fail(result, event_pointer + "/name",
           "flow " + program_.flow_id + " is not triggered by \"" + name + "\"");
      return std::nullopt;
    }
    auto ingested = engine.IngestEvents({event});
    if (!ingested.ok()) {
      Fail(result, event_pointer, "the event was refused: " + ingested.status().message());
      return std::nullopt;
    }
    if (ingested->front().runs.empty()) {
      if (tc_.expect.value("status", "") != "not_started") {
        Fail(result, event_pointer,
             "the event did not start flow " + program_.flow_id +
                 " (its trigger's `if` is false, or its idempotency key dropped the run); expect "
                 "status: not_started to test that");
      }
      return std::nullopt;
    }
    for (const std::string& id : ingested->front().runs) {
      auto run = engine.GetRun(id);
      if (run.ok() && run->has_value() && (*run)->flow_id == program_.flow_id) return id;
    }
    return ingested->front().runs.front();
  }

  // Advances in virtual time until the run ends or nothing is left to do.
  void Drive(Engine& engine, const std::string& run_id, CaseResult& result) {
    const auto wall_deadline = std::chrono::steady_clock::now() + options_.case_timeout;
    const std::optional<TimePoint> horizon =
        tc_.until ? std::optional<TimePoint>(tc_.start + *tc_.until) : std::nullopt;
    size_t next_event = 0;
    int idle_rounds = 0;  // rounds in a row that were due but advanced nothing
    for (;;) {
      auto run = engine.GetRun(run_id);
      if (!run.ok() || !run->has_value()) return;
      const store::RunRecord& record = **run;
      if (std::chrono::steady_clock::now() > wall_deadline) {
        Fail(result, tc_.pointer,
             "the case did not finish within " +
                 std::to_string(options_.case_timeout.count() / 1000) +
                 " s of real time: the run is " + std::string(store::RunStatusName(record.status)) +
                 " at virtual time " + FormatTimestamp(clock_.Now()) + " with " +
                 std::to_string(engine.ActionsInFlight()) + " action(s) in flight");
        return;
      }
      if (store::IsTerminal(record.status) && !engine.ResultsPending()) return;
      auto advanced = engine.AdvanceReadyRuns(16);
      if (!advanced.ok()) {
        Fail(result, tc_.pointer, "engine: " + advanced.status().ToString());
        return;
      }
      if (*advanced > 0) {
        idle_rounds = 0;
        continue;
      }
      if (engine.ResultsPending()) {
        MutexLock lock(returned_mu_);
        lock.WaitUntil(returned_cv_,
                       std::min(wall_deadline,
                                std::chrono::steady_clock::now() + std::chrono::milliseconds(50)),
                       [&]() FLOWRUN_REQUIRES(returned_mu_) { return returned_; });
        returned_ = false;
        continue;
      }
      if (store::IsTerminal(record.status)) return;
      auto due = engine.NextDueTime();
      if (!due.ok()) {
        Fail(result, tc_.pointer, "engine: " + due.status().ToString());
        return;
      }
      std::optional<TimePoint> target = *due;
      std::optional<TimePoint> event_at;
      if (next_event < tc_.events.size()) event_at = tc_.start + tc_.events[next_event].after;
      if (event_at && (!target || *event_at < *target)) target = event_at;
      if (!target) return;  // nothing left to wake the run
      if (horizon && *target > *horizon) {
        clock_.AdvanceTo(*horizon);
        return;
      }
      if (*target > clock_.Now()) {
        clock_.AdvanceTo(*target);
        idle_rounds = 0;
      } else if (!event_at || *event_at > clock_.Now()) {
        if (++idle_rounds > 1000) {
          Fail(result, tc_.pointer,
               "the engine stays due at " + FormatTimestamp(*target) +
                   " but advances nothing (the run is " +
                   std::string(store::RunStatusName(record.status)) + ")");
          return;
        }
      }
      std::vector<Json> arrived;
      while (next_event < tc_.events.size() &&
             tc_.start + tc_.events[next_event].after <= clock_.Now()) {
        arrived.push_back(tc_.events[next_event++].event);
      }
      if (!arrived.empty()) {
        auto ingested = engine.IngestEvents(arrived);
        if (!ingested.ok()) {
          Fail(result, tc_.pointer + "/events",
               "an event was refused: " + ingested.status().message());
          return;
        }
      }
    }
  }

  const FlowTestFile& file_;
  const TestCase& tc_;
  const Program& program_;
  const FlowSet& flows_;
  const FlowTestOptions& options_;
  SimulatedClock clock_;
  ScratchDir scratch_;
  TestRecorder recorder_;
  std::map<std::string, std::string> databases_;  // name -> scratch file
  Mutex returned_mu_;
  std::condition_variable returned_cv_;
  bool returned_ FLOWRUN_GUARDED_BY(returned_mu_) = false;
  std::vector<std::string> logs_ FLOWRUN_GUARDED_BY(returned_mu_);
};

}  // namespace

const FlowSet& FlowTestRunner::FlowsFor(const std::vector<std::string>& dirs) {
  auto& slot = flow_sets_[dirs];
  if (!slot) {
    slot = std::make_unique<FlowSet>(LoadFlowSet(dirs, action_checks_.compile_options()));
  }
  return *slot;
}

FileResult FlowTestRunner::RunFile(const std::string& path) {
  FileResult result;
  result.path = path;
  files_.push_back(std::make_unique<FlowTestFile>(LoadFlowTestFile(path)));
  const FlowTestFile& file = *files_.back();
  result.flow = file.flow;
  if (file.document) result.sources[path] = &file.document->source;
  result.diagnostics = file.diagnostics;
  if (!file.ok()) return result;

  std::vector<std::string> dirs = {fs::path(path).parent_path().empty()
                                       ? std::string(".")
                                       : fs::path(path).parent_path().string()};
  for (const auto& dir : options_.flows_dirs) {
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  }
  const FlowSet& flows = FlowsFor(dirs);
  auto programs = flows.ProgramsById();
  auto it = programs.find(file.flow);
  if (it == programs.end()) {
    // The flow may exist with errors: show them.
    for (const FlowFile& f : flows.files) {
      const Json& doc = f.document->document;
      if (doc.is_object() && doc.value("id", Json()) == Json(file.flow)) {
        for (const Diagnostic& d : flows.diagnostics) {
          if (d.path == f.path) result.diagnostics.push_back(d);
        }
        result.sources[f.path] = &f.document->source;
      }
    }
    std::string searched;
    for (const auto& dir : dirs) searched += (searched.empty() ? "" : ", ") + dir;
    result.diagnostics.push_back(
        {path, file.Position("/flow"), Severity::kError,
         result.diagnostics.empty() ? "no flow \"" + file.flow + "\" in " + searched
                                    : "flow \"" + file.flow + "\" has errors",
         "test-file", result.diagnostics.empty() ? "give --flows DIR where the flow lives" : ""});
    return result;
  }
  const Program& program = *it->second;
  result.flow_path = program.source_path;
  auto add_step = [&](const CompiledStep& s) { result.steps.push_back({s.id, s.pos}); };
  ForEachStep(program.steps, add_step);
  ForEachStep(program.on_failure, add_step);
  for (const TestCase& tc : file.cases) {
    result.cases.push_back(CaseRun(file, tc, program, flows, options_).Run());
  }
  return result;
}

}  // namespace flowrun::cli
