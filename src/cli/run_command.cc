// `flowrun run FLOW --event JSON [--store PATH] [--events FILE] [--virtual-time] [--flows DIR]
//  [--config FILE]`: runs one flow locally on the embedded store and prints its step trace, then
// the run's output as JSON.
//
// FLOW is a flow file, or a flow id looked up in the flows directory; the flows that `invoke`
// starts are looked up in the flows directory (--flows, default ./flows) either way. The store is a
// private temporary one unless --store names a file. Sleeps and timeouts really wait, unless
// --virtual-time moves a simulated clock straight to the next due time. --events feeds events
// (a JSON array, or one JSON object per line, each with an optional `delay` after the start or
// an RFC 3339 `at`) to the run's waits at their times. Secrets come from FLOWRUN_SECRET_<NAME>,
// or from the config's `secrets` when a config is used (--config, or ./flowrun.yaml). Without
// SMTP, email goes to the outbox and is printed with the trace.
//
// Exit codes: 0 the run completed; 1 it failed or was cancelled; 2 usage or I/O errors.
#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "cli/command.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/json.h"
#include "common/simulated_clock.h"
#include "common/thread_annotations.h"
#include "common/timestamp.h"
#include "config/config.h"
#include "engine/engine.h"
#include "engine/program_catalog.h"
#include "flow/diagnostic_printer.h"
#include "flow/flow_set.h"
#include "server/node.h"
#include "store/store.h"

namespace flowrun::cli {
namespace {

struct RunOptions {
  std::string flow;
  std::string event;
  std::string store;
  std::string events_file;
  bool virtual_time = false;
  std::string flows_dir = "flows";
  std::string config;
};

struct ScheduledEvent {
  TimePoint at;
  Json event;
};

StatusOr<Json> ParseEventArgument(const std::string& text) {
  Json event = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (event.is_discarded()) {
    return InvalidArgumentError("--event is not valid JSON: " + text.substr(0, 80));
  }
  if (!event.is_object()) {
    return InvalidArgumentError(
        "--event must be a JSON object such as "
        "{\"name\": \"user/signup\", \"data\": {…}}");
  }
  if (event.contains("name") && !event["name"].is_string()) {
    return InvalidArgumentError("--event: \"name\" must be a string");
  }
  if (event.contains("data") && !event["data"].is_object() && !event["data"].is_null()) {
    return InvalidArgumentError("--event: \"data\" must be an object");
  }
  return event;
}

StatusOr<std::vector<ScheduledEvent>> ReadEventsFile(const std::string& path, TimePoint start) {
  std::ifstream in(path);
  if (!in) return NotFoundError("--events: cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  std::vector<Json> items;
  Json whole = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!whole.is_discarded() && whole.is_array()) {
    items.assign(whole.begin(), whole.end());
  } else if (!whole.is_discarded() && whole.is_object()) {
    items.push_back(whole);
  } else {
    std::istringstream lines(text);
    std::string line;
    int number = 0;
    while (std::getline(lines, line)) {
      ++number;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      Json item = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (item.is_discarded()) {
        return InvalidArgumentError(path + ":" + std::to_string(number) + ": not valid JSON");
      }
      items.push_back(std::move(item));
    }
  }
  std::vector<ScheduledEvent> events;
  for (size_t i = 0; i < items.size(); ++i) {
    Json item = items[i];
    const std::string where = path + ": event " + std::to_string(i);
    if (!item.is_object()) return InvalidArgumentError(where + " is not a JSON object");
    TimePoint at = start;
    if (item.contains("delay")) {
      const Json& delay = item["delay"];
      if (delay.is_string()) {
        auto d = ParseDuration(delay.get<std::string>());
        if (!d.ok()) return InvalidArgumentError(where + ": delay: " + d.status().message());
        at = start + *d;
      } else if (delay.is_number()) {
        at = start + std::chrono::milliseconds(static_cast<long long>(delay.get<double>() * 1000));
      } else {
        return InvalidArgumentError(where + ": delay must be a duration such as \"5s\"");
      }
      item.erase("delay");
    }
    if (item.contains("at")) {
      if (!item["at"].is_string()) return InvalidArgumentError(where + ": at must be RFC 3339");
      auto t = ParseTimestamp(item["at"].get<std::string>());
      if (!t.ok()) return InvalidArgumentError(where + ": at: " + t.status().message());
      at = *t;
      item.erase("at");
    }
    if (!item.contains("name") || !item["name"].is_string()) {
      return InvalidArgumentError(where + " has no \"name\"");
    }
    events.push_back({at, std::move(item)});
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const ScheduledEvent& a, const ScheduledEvent& b) { return a.at < b.at; });
  return events;
}

std::string Shorten(std::string text, size_t max) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (text.size() > max) text = text.substr(0, max - 3) + "...";
  return text;
}

std::string Pad(const std::string& text, size_t width) {
  return text.size() >= width ? text + " " : text + std::string(width - text.size(), ' ');
}

// Prints the journal entries after `printed` (completions, and failed attempts that retry).
size_t PrintTrace(const store::RunRecord& run, const std::vector<store::JournalEntry>& journal,
                  size_t printed) {
  for (size_t i = printed; i < journal.size(); ++i) {
    const store::JournalEntry& entry = journal[i];
    if (entry.kind == store::JournalKind::kAttempt && !entry.data.value("final", false)) {
      std::cout << "  " << Pad(entry.step_key, 24) << Pad("retrying", 10) << "attempt "
                << entry.data.value("attempt", 0)
                << " failed: " << Shorten(entry.data.value("error", Json()).dump(), 80) << "\n";
      continue;
    }
    if (entry.kind != store::JournalKind::kCompleted) continue;
    // The step began at its first journal entry, or else when the previous step completed.
    TimePoint began = run.created_at;
    for (size_t j = 0; j < i; ++j) {
      if (journal[j].kind == store::JournalKind::kCompleted) began = journal[j].at;
    }
    for (size_t j = 0; j < i; ++j) {
      if (journal[j].step_key == entry.step_key) {
        began = std::min(began, journal[j].at);
        break;
      }
    }
    const Json& data = entry.data;
    std::string status = data.value("status", "completed");
    int attempts = data.value("attempts", 1);
    std::string shown;
    if (data.contains("error") && !data["error"].is_null()) {
      shown = "error: " + data["error"].dump();
    } else if (data.contains("output")) {
      shown = data["output"].dump();
    }
    std::cout << "  " << Pad(entry.step_key, 24) << Pad(status, 10)
              << Pad(std::to_string(attempts) + (attempts == 1 ? " attempt" : " attempts"), 11)
              << Pad(FormatDuration(entry.at - began), 8) << Shorten(shown, 100) << "\n";
  }
  return journal.size();
}

struct Loaded {
  std::shared_ptr<const Program> program;
  std::vector<std::shared_ptr<const Program>> others;  // flows `invoke` may start
};

StatusOr<Loaded> LoadFlow(const RunOptions& options, const CompileOptions& compile) {
  const bool is_file = std::filesystem::is_regular_file(options.flow);
  FlowSet set = LoadFlowSet({is_file ? options.flow : options.flows_dir}, compile);
  if (!set.path_errors.empty()) return NotFoundError(set.path_errors.front());
  Loaded loaded;
  if (is_file) {
    for (const FlowFile& file : set.files) {
      if (!file.is_config) loaded.program = file.program;
    }
    // The flows an `invoke` may start come from --flows (default ./flows) when it exists.
    std::error_code error;
    if (loaded.program && std::filesystem::is_directory(options.flows_dir, error)) {
      FlowSet others = LoadFlowSet({options.flows_dir}, compile);
      for (const auto& [id, program] : others.ProgramsById()) {
        if (id != loaded.program->flow_id) loaded.others.push_back(program);
      }
    }
  } else {
    auto programs = set.ProgramsById();
    auto it = programs.find(options.flow);
    if (it == programs.end()) {
      bool exists = false;
      for (const FlowFile& file : set.files) {
        const Json& doc = file.document->document;
        exists |= doc.is_object() && doc.value("id", Json()) == Json(options.flow);
      }
      if (!exists) {
        return NotFoundError("no flow file \"" + options.flow + "\" and no flow with that id in " +
                             options.flows_dir);
      }
    } else {
      loaded.program = it->second;
    }
    for (const auto& [id, program] : programs) {
      if (id != options.flow) loaded.others.push_back(program);
    }
  }
  if (!loaded.program) {
    PrintDiagnostics(std::cerr, set.diagnostics, DiagnosticFormat::kText, set.Sources(), false);
    return InvalidArgumentError("the flow has errors");
  }
  return loaded;
}

StatusOr<Config> LoadRunConfig(const RunOptions& options) {
  std::string path = options.config;
  if (path.empty() && std::filesystem::is_regular_file("flowrun.yaml")) path = "flowrun.yaml";
  StatusOr<Config> config = path.empty()
                                ? Config::Defaults(std::filesystem::current_path().string())
                                : ReadConfigFile(path);
  if (!config.ok()) return config.status();
  // Without a secrets configuration, secrets come from FLOWRUN_SECRET_<NAME>.
  if (config->secrets.env_prefix.empty() && config->secrets.env_names.empty() &&
      config->secrets.file.empty()) {
    config->secrets.env_prefix = "FLOWRUN_SECRET_";
  }
  return config;
}

int Fail(const std::string& message) {
  std::cerr << "flowrun run: " << message << "\n";
  return kExitUsage;
}

// Set from an action's thread when a result came back; the driver waits for it.
class ActionReturns {
 public:
  void Notify() {
    MutexLock lock(mu_);
    returned_ = true;
    returned_cv_.notify_all();
  }
  // Waits for a Notify since the last Wait.
  void Wait() {
    MutexLock lock(mu_);
    lock.Wait(returned_cv_, [this]() FLOWRUN_REQUIRES(mu_) { return returned_; });
    returned_ = false;
  }

 private:
  Mutex mu_;
  std::condition_variable returned_cv_;
  bool returned_ FLOWRUN_GUARDED_BY(mu_) = false;
};

// Where a local run's time comes from: the system clock, or with --virtual-time a simulated
// clock that jumps straight to each due time.
struct RunClock {
  SystemClock system;
  SimulatedClock simulated{system.Now()};
  bool virtual_time = false;

  const Clock& clock() const {
    return virtual_time ? static_cast<const Clock&>(simulated) : static_cast<const Clock&>(system);
  }
  // Moves to `target`, or sleeps until it on the system clock.
  void WaitUntil(TimePoint target) {
    const TimePoint now = clock().Now();
    if (target <= now) return;
    if (virtual_time) {
      simulated.AdvanceTo(target);
      return;
    }
    if (target - now > std::chrono::seconds(5)) {
      std::cerr << "flowrun run: waiting until " << FormatTimestamp(target)
                << " (--virtual-time skips ahead)\n";
    }
    std::this_thread::sleep_for(target - now);
  }
};

// Starts the run: from the event when the flow's triggers take it, else by hand. nullopt when
// the event matched a trigger and started no run.
StatusOr<std::optional<std::string>> StartRun(Engine& engine, const Program& program,
                                              const Json& event) {
  const std::string name = event.value("name", "");
  bool triggered = false;
  for (const EventTrigger& trigger : program.event_triggers) triggered |= trigger.Matches(name);
  if (!triggered) {
    Json data = event.contains("data") ? event["data"] : Json::object();
    ASSIGN_OR_RETURN(std::string run_id, engine.StartRun(program.flow_id, data));
    return std::optional<std::string>(std::move(run_id));
  }
  ASSIGN_OR_RETURN(std::vector<IngestedEvent> ingested, engine.IngestEvents({event}));
  if (ingested.front().runs.empty()) return std::optional<std::string>();
  return std::optional<std::string>(ingested.front().runs.front());
}

// Stores the scheduled events that are due by now (and prints them); they leave `scheduled`.
Status SendArrivedEvents(Engine& engine, const Clock& clock,
                         std::vector<ScheduledEvent>& scheduled) {
  std::vector<Json> arrived;
  while (!scheduled.empty() && scheduled.front().at <= clock.Now()) {
    arrived.push_back(std::move(scheduled.front().event));
    scheduled.erase(scheduled.begin());
  }
  if (arrived.empty()) return OkStatus();
  auto ingested = engine.IngestEvents(arrived);
  if (!ingested.ok()) return ingested.status().WithContext("--events");
  for (const Json& e : arrived) {
    std::cout << "  " << Pad("(event)", 24) << Pad("sent", 10) << e.value("name", "") << "\n";
  }
  return OkStatus();
}

// Advances the run, printing its trace as it goes, until it finishes or nothing is left to wake
// it (the run returned is then not finished).
StatusOr<store::RunRecord> DriveUntilFinished(Engine& engine, const std::string& run_id,
                                              std::vector<ScheduledEvent> scheduled,
                                              RunClock& clock, ActionReturns& returns) {
  size_t printed = 0;
  for (;;) {
    ASSIGN_OR_RETURN(int advanced, engine.AdvanceReadyRuns(16));
    auto current = engine.GetRun(run_id);
    if (!current.ok() || !current->has_value()) {
      return NotFoundError("the run disappeared from the store");
    }
    const store::RunRecord& run = **current;
    auto journal = engine.GetJournal(run_id);
    if (journal.ok()) printed = PrintTrace(run, *journal, printed);
    if (store::IsTerminal(run.status)) return run;
    if (advanced > 0) continue;
    if (engine.ActionsInFlight() > 0) {
      returns.Wait();
      continue;
    }
    ASSIGN_OR_RETURN(std::optional<TimePoint> target, engine.NextDueTime());
    if (!scheduled.empty() && (!target || scheduled.front().at < *target)) {
      target = scheduled.front().at;
    }
    if (!target) return run;
    clock.WaitUntil(*target);
    RETURN_IF_ERROR(SendArrivedEvents(engine, clock.clock(), scheduled));
  }
}

// Prints the run's mail, status and output (or error); the exit code.
int PrintOutcome(const store::RunRecord& run, EmailOutbox& outbox) {
  if (!store::IsTerminal(run.status)) {
    std::cerr << "flowrun run: the run is " << store::RunStatusName(run.status)
              << " with nothing left to wake it\n";
    return kExitFailure;
  }
  auto mail = outbox.List(100);
  if (mail.ok()) {
    for (auto it = mail->rbegin(); it != mail->rend(); ++it) {
      if (it->run_id != run.id) continue;
      std::string to;
      for (const std::string& r : it->recipients) to += (to.empty() ? "" : ", ") + r;
      std::cout << "  outbox: to " << to << ": " << it->subject << "\n";
    }
  }
  std::cout << "run " << store::RunStatusName(run.status) << "\n";
  if (run.status == store::RunStatus::kCompleted) {
    std::cout << run.output.dump(2) << "\n";
    return kExitOk;
  }
  std::cout << Json(nullptr).dump() << "\n";
  std::cerr << "flowrun run: " << store::RunStatusName(run.status) << ": "
            << (run.error.is_null() ? std::string("no error recorded") : run.error.dump()) << "\n";
  return kExitFailure;
}

// The node a local run uses: the store (--store, else a private temporary one) brought up to
// date, its id "run", the chosen flow's programs in `catalog`, and a trace of `log` steps.
StatusOr<Node> OpenRunNode(const RunOptions& options, Config config, const Clock& clock,
                           ProgramCatalog& catalog, ActionReturns& returns) {
  config.store = options.store.empty() ? ":memory:" : options.store;
  config.migrate_auto = true;
  EngineOptions engine;
  // The run's first steps wait for AdvanceReadyRuns, after the flows `invoke` may start are in
  // the catalog (they are added only once the event has started the chosen flow).
  engine.advance_on_ingest = false;
  engine.on_work_ready = [&returns] { returns.Notify(); };
  engine.log = [](const std::string&, const std::string& step_key, const std::string& message) {
    std::cout << "  " << Pad(step_key, 24) << Pad("log", 10) << message << "\n";
  };
  return OpenNode({.config = std::move(config),
                   .clock = &clock,
                   .node_id = "run",
                   .keep_node_identity = false,
                   .catalog = &catalog,
                   .engine = std::move(engine)});
}

int RunFlow(const RunOptions& options) {
  auto event = ParseEventArgument(options.event);
  if (!event.ok()) return Fail(event.status().message());
  auto config = LoadRunConfig(options);
  if (!config.ok()) return Fail(config.status().message());
  RunClock clock{.virtual_time = options.virtual_time};
  ActionReturns returns;
  // Only the chosen flow starts from the event; the others are there for `invoke`, and are
  // added after the run has started.
  InMemoryProgramCatalog catalog;
  auto node = OpenRunNode(options, *std::move(config), clock.clock(), catalog, returns);
  if (!node.ok()) return Fail(node.status().message());
  auto loaded = LoadFlow(options, node->compile_options());
  if (!loaded.ok()) return Fail(loaded.status().message());
  const Program& program = *loaded->program;
  catalog.Add(loaded->program);
  Engine& engine = *node->engine;
  if (Status s = engine.Recover(); !s.ok()) return Fail(s.ToString());
  if (Status s = engine.PublishRevision(program); !s.ok()) return Fail(s.ToString());

  std::vector<ScheduledEvent> scheduled;
  if (!options.events_file.empty()) {
    auto events = ReadEventsFile(options.events_file, clock.clock().Now());
    if (!events.ok()) return Fail(events.status().message());
    scheduled = std::move(*events);
  }
  auto run_id = StartRun(engine, program, *event);
  if (!run_id.ok()) return Fail(run_id.status().message());
  if (!run_id->has_value()) {
    std::cerr << "flowrun run: event \"" << event->value("name", "") << "\" did not start flow "
              << program.flow_id
              << " (its `if` is false, or its idempotency key was used recently)\n";
    return kExitFailure;
  }
  for (const auto& other : loaded->others) catalog.Add(other);
  std::cout << "run " << **run_id << " of " << program.flow_id << "@" << program.revision << "\n";

  auto run = DriveUntilFinished(engine, **run_id, std::move(scheduled), clock, returns);
  if (!run.ok()) return Fail(run.status().message());
  return PrintOutcome(*run, *node->outbox);
}

}  // namespace

void SetupRunCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* command = app.add_subcommand("run", "Run one flow locally and print its trace");
  command->add_option("flow", options->flow, "A flow file, or a flow id")->required();
  command
      ->add_option("--event", options->event,
                   "The trigger event as JSON: {\"name\": ..., \"data\": {...}}")
      ->required();
  command->add_option("--store", options->store,
                      "A SQLite file to keep the run in (default: a temporary store)");
  command->add_option("--events", options->events_file,
                      "Events for waits: a JSON array or JSON lines, each with `delay` or `at`");
  command->add_flag("--virtual-time", options->virtual_time,
                    "Fast-forward sleeps and timeouts on a simulated clock");
  command->add_option("--flows", options->flows_dir,
                      "Where to look up a flow id, and the flows `invoke` starts (default: flows)");
  command->add_option("--config", options->config,
                      "A flowrun.yaml for databases, SMTP and secrets (default: ./flowrun.yaml)");
  command->callback([options, &exit_code] { exit_code = RunFlow(*options); });
}

}  // namespace flowrun::cli
