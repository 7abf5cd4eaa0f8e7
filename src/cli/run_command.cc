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
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "actions/builtin_actions.h"
#include "cli/command.h"
#include "common/duration.h"
#include "common/json.h"
#include "common/timestamp.h"
#include "common/virtual_clock.h"
#include "config/config.h"
#include "config/secrets.h"
#include "engine/engine.h"
#include "engine/program_catalog.h"
#include "flow/diagnostic_printer.h"
#include "flow/flow_set.h"
#include "store/sqlite_outbox.h"
#include "store/sqlite_store.h"

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
  if (path.empty()) {
    Config config = Config::Defaults(std::filesystem::current_path().string());
    config.secrets.env_prefix = "FLOWRUN_SECRET_";
    return config;
  }
  return ReadConfigFile(path);
}

int Fail(const std::string& message) {
  std::cerr << "flowrun run: " << message << "\n";
  return kExitUsage;
}

int RunFlow(const RunOptions& options) {
  auto event = ParseEventArgument(options.event);
  if (!event.ok()) return Fail(event.status().message());

  auto config = LoadRunConfig(options);
  if (!config.ok()) return Fail(config.status().message());
  if (config->secrets.env_prefix.empty() && config->secrets.env_names.empty() &&
      config->secrets.file.empty()) {
    config->secrets.env_prefix = "FLOWRUN_SECRET_";
  }
  auto secrets = Secrets::Load(config->secrets);
  if (!secrets.ok()) return Fail(secrets.status().message());
  SecretRedactor redactor = SecretRedactor::FromObject(secrets->All());

  SystemClock system_clock;
  VirtualClock virtual_clock(system_clock.Now());
  const Clock& clock = options.virtual_time ? static_cast<const Clock&>(virtual_clock)
                                            : static_cast<const Clock&>(system_clock);

  const std::string store_path = options.store.empty() ? ":memory:" : options.store;
  auto store = store::SqliteStore::Open({.path = store_path, .clock = &clock});
  if (!store.ok()) return Fail("store " + store_path + ": " + store.status().message());
  auto outbox = store::SqliteOutbox::Open(store_path);
  if (!outbox.ok()) return Fail("outbox " + store_path + ": " + outbox.status().message());

  OutboundLoop outbound_loop(OutboundLoopFor(*config));
  if (Status started = outbound_loop.Start(); !started.ok()) return Fail(started.message());
  ActionRegistry actions;
  Status registered = RegisterBuiltinActions(actions, *config,
                                             {.loop = &outbound_loop,
                                              .secrets = &*secrets,
                                              .outbox = outbox->get(),
                                              .redactor = &redactor,
                                              .clock = &clock,
                                              .ca_file = ""});
  if (!registered.ok()) return Fail(registered.message());
  actions.Freeze();

  CompileOptions compile;
  compile.check_action = [&actions](std::string_view name, const Json& arguments) -> Status {
    Action* action = actions.Find(name);
    return action ? action->CheckArguments(arguments) : OkStatus();
  };
  auto loaded = LoadFlow(options, compile);
  if (!loaded.ok()) return Fail(loaded.status().message());
  const Program& program = *loaded->program;

  // Only the chosen flow starts from the event; the others are there for `invoke`, and are
  // added after the run has started.
  InMemoryProgramCatalog catalog;
  catalog.Add(loaded->program);
  // Set from an action's thread when a result came back.
  std::mutex returned_mu;
  std::condition_variable returned_cv;
  bool returned = false;
  EngineOptions engine_options;
  engine_options.node_id = "run";
  // The run's first steps wait for AdvanceReadyRuns, after the flows `invoke` may start are in
  // the catalog (they are added only once the event has started the chosen flow).
  engine_options.advance_on_ingest = false;
  engine_options.on_work_ready = [&] {
    std::lock_guard lock(returned_mu);
    returned = true;
    returned_cv.notify_all();
  };
  engine_options.log = [](const std::string&, const std::string& step_key,
                          const std::string& message) {
    std::cout << "  " << Pad(step_key, 24) << Pad("log", 10) << message << "\n";
  };
  Engine engine(
      **store, catalog, [&actions](std::string_view name) { return actions.Find(name); }, clock,
      &*secrets, std::move(engine_options));
  if (Status s = engine.Recover(); !s.ok()) return Fail(s.ToString());
  if (Status s = engine.PublishRevision(program); !s.ok()) return Fail(s.ToString());

  const TimePoint start = clock.Now();
  std::vector<ScheduledEvent> scheduled;
  if (!options.events_file.empty()) {
    auto events = ReadEventsFile(options.events_file, start);
    if (!events.ok()) return Fail(events.status().message());
    scheduled = std::move(*events);
  }

  // Start the run: from the event when the flow's triggers take it, else by hand.
  std::string run_id;
  const std::string name = event->value("name", "");
  bool triggered = false;
  for (const EventTrigger& trigger : program.event_triggers) triggered |= trigger.Matches(name);
  if (triggered) {
    auto ingested = engine.IngestEvents({*event});
    if (!ingested.ok()) return Fail(ingested.status().message());
    if (ingested->front().runs.empty()) {
      std::cerr << "flowrun run: event \"" << name << "\" did not start flow " << program.flow_id
                << " (its `if` is false, or its idempotency key was used recently)\n";
      return kExitFailure;
    }
    run_id = ingested->front().runs.front();
  } else {
    Json data = event->contains("data") ? (*event)["data"] : Json::object();
    auto started = engine.StartRun(program.flow_id, data);
    if (!started.ok()) return Fail(started.status().message());
    run_id = *started;
  }
  for (const auto& other : loaded->others) catalog.Add(other);
  std::cout << "run " << run_id << " of " << program.flow_id << "@" << program.revision << "\n";

  size_t printed = 0;
  store::RunRecord run;
  for (;;) {
    auto advanced = engine.AdvanceReadyRuns(16);
    if (!advanced.ok()) return Fail(advanced.status().ToString());
    auto current = engine.GetRun(run_id);
    if (!current.ok() || !current->has_value()) return Fail("the run disappeared from the store");
    run = **current;
    auto journal = engine.GetJournal(run_id);
    if (journal.ok()) printed = PrintTrace(run, *journal, printed);
    if (store::IsTerminal(run.status)) break;
    if (*advanced > 0) continue;
    if (engine.ActionsInFlight() > 0) {
      std::unique_lock lock(returned_mu);
      returned_cv.wait(lock, [&] { return returned; });
      returned = false;
      continue;
    }

    auto due = engine.NextDueTime();
    if (!due.ok()) return Fail(due.status().ToString());
    std::optional<TimePoint> target = *due;
    if (!scheduled.empty() && (!target || scheduled.front().at < *target)) {
      target = scheduled.front().at;
    }
    if (!target) {
      std::cerr << "flowrun run: the run is " << store::RunStatusName(run.status)
                << " with nothing left to wake it\n";
      return kExitFailure;
    }
    const TimePoint now = clock.Now();
    if (*target > now) {
      if (options.virtual_time) {
        virtual_clock.AdvanceTo(*target);
      } else {
        if (*target - now > std::chrono::seconds(5)) {
          std::cerr << "flowrun run: waiting until " << FormatTimestamp(*target)
                    << " (--virtual-time skips ahead)\n";
        }
        std::this_thread::sleep_for(*target - now);
      }
    }
    std::vector<Json> arrived;
    while (!scheduled.empty() && scheduled.front().at <= clock.Now()) {
      arrived.push_back(std::move(scheduled.front().event));
      scheduled.erase(scheduled.begin());
    }
    if (!arrived.empty()) {
      auto ingested = engine.IngestEvents(arrived);
      if (!ingested.ok()) return Fail("--events: " + ingested.status().message());
      for (const Json& e : arrived) {
        std::cout << "  " << Pad("(event)", 24) << Pad("sent", 10) << e.value("name", "") << "\n";
      }
    }
  }

  auto mail = (*outbox)->List(100);
  if (mail.ok()) {
    for (auto it = mail->rbegin(); it != mail->rend(); ++it) {
      if (it->run_id != run_id) continue;
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
