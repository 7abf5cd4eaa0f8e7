// Runtime: the flowrun service minus HTTP. It owns everything `flowrun serve` runs:
//
//   - the store (Config::store, `sqlite:<path>`), opened with a clear error when the file is
//     corrupt (kDataLoss; after an unclean shutdown this includes failing PRAGMA quick_check),
//     locked by another process (kUnavailable) or from a newer flowrun. When SQLite reports the
//     file damaged at run time the store turns read-only: Ready() turns false and intake answers
//     kUnavailable (see store/data_loss_latch.h);
//   - the flows (Config::flows) in a FlowRegistry that reloads them when their files change;
//   - the built-in actions (http, email, db), the secrets and their redactor, and the email
//     outbox (SqliteOutbox in the store's file) used when no SMTP server is configured;
//   - the Engine, and the threads that drive it:
//       * `workers` threads that call Engine::AdvanceReadyRuns in batches and sleep on a condition
//         variable when nothing is ready;
//       * one timer thread that sleeps until the next due run or cron tick (Engine::NextDueTime,
//         CronScheduler), woken early when new work arrives, and then wakes the workers; at
//         start and then every 5 minutes it hands a retention pass to the RetentionPruner;
//       * the RetentionPruner's thread, which deletes runs, events and outbox messages past
//         `retention:` in small batches (retention_pruner.h);
//       * one watcher thread that polls the flows directory once a second (none when
//         Config::watch_flows is false: the flows then change only through ReloadFlowsFrom).
//     Nothing spins: every wait is on a condition variable with a deadline.
//   - the metrics registry with the service's metrics (metrics.h).
//
// Life cycle: Open (store, flows, actions, recovery; no threads) -> Start (threads; Ready() turns
// true) -> Shutdown (stop intake and claims, let in-flight actions return and their results
// commit up to the deadline, stop the threads, release the leases of runs whose actions are still
// out so that the next start or another node resumes them, close the store). The destructor shuts
// down with a short deadline when Shutdown was not called. A worker still inside an action at the
// deadline is left to the process exit: the store and engine it uses are then deliberately not
// destroyed, and its runs' leases let the next process (same node id) take them back at once.
//
// The intake and query methods are what the HTTP API layer calls. Intake (IngestEvents,
// InvokeFlow, RerunRun, CancelRun) returns only after its writes are durable, and refuses with
// kUnavailable once Shutdown has begun.
//
// Thread-safety: every public method may be called from many threads at once, except that Start
// and Shutdown must not race each other, and no call may be in progress or begin once Shutdown
// has closed the store (stop the HTTP server first; during the grace period queries still work
// and intake answers kUnavailable). `mu_` guards the thread-coordination state (generation
// counters and flags) named in the private section; the engine, the store, the registry and the
// outbox are thread-safe themselves.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "actions/email/email_outbox.h"
#include "common/clock.h"
#include "common/json.h"
#include "common/status.h"
#include "common/thread_annotations.h"
#include "config/config.h"
#include "engine/engine.h"
#include "server/cron_scheduler.h"
#include "server/flow_registry.h"
#include "server/metrics.h"
#include "server/node.h"
#include "server/node_membership.h"
#include "server/retention_pruner.h"
#include "store/store.h"

namespace flowrun {

struct RuntimeOptions {
  // The configuration with command-line overrides already applied (see ApplyServeOverrides in
  // serve_command.cc). Config::workers <= 0 means "size for the machine": 2 x cores, at least 4.
  Config config;
  // The clock for the engine, timers and cron. Default (null): the system clock. With another
  // clock, call Runtime::Wake after moving it so the timer thread looks again. REQUIRES: outlives
  // the runtime.
  const Clock* clock = nullptr;
  // Passed to OpenNode: see NodeOptions::secrets and NodeOptions::node_id (node.h).
  std::optional<std::map<std::string, std::string>> secrets;
  std::string node_id;
  // How often the watcher thread checks the flows directory; zero disables hot reload, and so
  // does Config::watch_flows = false. Default: 1 s.
  Duration reload_interval = std::chrono::seconds(1);
  // Runs each worker leases per AdvanceReadyRuns call. The walks of one call commit together, so
  // with the workers' calls that queue behind one commit this bounds how many runs a group commit
  // carries, and how many runs one claim leases. Larger groups cost the store less per run; event
  // ingest shares the writer, so much larger ones make a burst's events wait longer for their
  // acknowledgement (bench/w1_results.md, "128 runs per worker call"). Default: 128.
  int batch_size = 128;
  // Options for the cron scheduler (catch-up bound, grace). Default: see cron_scheduler.h.
  CronSchedulerOptions cron;
};

// One run with its step journal.
struct RunDetail {
  store::RunRecord run;
  std::vector<store::JournalEntry> journal;
};

class Runtime {
 public:
  // Opens the store, registers the built-in actions and reads the secrets (OpenNode, node.h),
  // loads the flows (invalid files are reported, not fatal) and recovers work a previous process
  // left unfinished.
  // Errors: the store's (kDataLoss corrupt, kUnavailable locked, kFailedPrecondition newer
  // schema); kInvalidArgument for a bad store URL or an unreadable secret configuration;
  // kNotFound for a flows directory that does not exist.
  [[nodiscard]] static StatusOr<std::unique_ptr<Runtime>> Open(RuntimeOptions options);
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  ~Runtime();

  // Starts the worker, timer and watcher threads. kFailedPrecondition when called twice or
  // after Shutdown.
  [[nodiscard]] Status Start();
  // Stops intake at once, lets steps in flight finish until `grace` has passed (on the wall
  // clock), then stops the threads and closes the store. Runs still leased at the deadline are
  // resumed by the next process (their leases are released). Idempotent.
  void Shutdown(Duration grace = std::chrono::seconds(30));

  // --- Intake (durable when they return) ---

  // Stores events ({name, data?, id?, ts?} objects) and starts the runs they trigger; the ids are
  // returned only after the commit. kInvalidArgument names the first malformed event (nothing is
  // stored then); kUnavailable during shutdown.
  [[nodiscard]] StatusOr<std::vector<IngestedEvent>> IngestEvents(const std::vector<Json>& events);
  // Starts the current revision of a flow by hand with `data` as its event's data; the run id.
  // kNotFound for an unknown or retired flow; kAlreadyExists when idempotency drops the start.
  [[nodiscard]] StatusOr<std::string> InvokeFlow(std::string_view flow_id, Json data);
  // Asks a run to stop at its next step boundary. kNotFound; kFailedPrecondition when finished.
  [[nodiscard]] Status CancelRun(std::string_view run_id);
  // Starts a new run of the same revision as a finished or unfinished run, with the same trigger
  // event (Engine::RerunRun). With `from_step` (a top-level step id), the steps before it keep
  // their recorded results and are not executed again; execution starts at that step. Returns the
  // new run id. kNotFound for an unknown run; kInvalidArgument for an unknown step.
  [[nodiscard]] StatusOr<std::string> RerunRun(std::string_view run_id,
                                               std::optional<std::string> from_step = {});

  // --- Queries ---

  [[nodiscard]] StatusOr<std::vector<store::RunRecord>> ListRuns(const store::RunFilter& filter);
  // nullopt for an unknown run.
  [[nodiscard]] StatusOr<std::optional<RunDetail>> GetRun(std::string_view run_id);
  [[nodiscard]] StatusOr<std::vector<store::EventRecord>> ListEvents(
      const store::EventFilter& filter);
  [[nodiscard]] StatusOr<std::optional<store::EventRecord>> GetEvent(std::string_view event_id);

  // Flows with their current revisions, validation state and the diagnostics of the last load.
  FlowRegistryStatus Flows() const;
  // Every stored revision of a flow, oldest first.
  [[nodiscard]] StatusOr<std::vector<store::FlowRevisionRecord>> FlowRevisions(
      std::string_view flow_id) const;
  // Reloads the flows directory now (the watcher does this by itself when files change).
  [[nodiscard]] StatusOr<ReloadReport> ReloadFlows();
  // Loads `flows_dir` (the current directory or another) all or nothing, as SIGHUP does
  // (FlowRegistry::ReloadAll): either every flow file in it compiles and it becomes the directory
  // served, or nothing changes and the error lists every problem.
  [[nodiscard]] StatusOr<ReloadReport> ReloadFlowsFrom(const std::string& flows_dir);

  // The newest outbox messages, newest first.
  [[nodiscard]] StatusOr<std::vector<OutboxMessage>> Outbox(size_t limit) const;

  // --- Operations ---

  MetricsRegistry& metrics() { return metrics_; }
  // The service's metric handles; the API layer counts http_requests here.
  const ServiceMetrics& service_metrics() const { return service_metrics_; }
  // True between Start and the beginning of Shutdown (for /readyz), unless the store file was
  // found damaged at run time (StoreDamaged).
  bool Ready() const { return ready_.load() && !StoreDamaged(); }
  // True once SQLite reported the store file damaged (SQLITE_CORRUPT, SQLITE_NOTADB): the store
  // is then read-only, intake answers kUnavailable and a "DATA_LOSS" error was logged once.
  bool StoreDamaged() const { return node_.data_loss && node_.data_loss->tripped(); }
  const Config& config() const { return options_.config; }
  // Secrets for resolving `${{ secrets.NAME }}` in webhook definitions, and their redactor.
  const Secrets& secrets() const { return *node_.secrets; }
  const SecretRedactor& redactor() const { return *node_.redactor; }
  // Wakes the timer thread and the workers (after a simulated clock moved, or new work).
  void Wake();

  Engine& TEST_engine() { return *node_.engine; }
  CronScheduler& TEST_cron() { return *cron_; }

 private:
  explicit Runtime(RuntimeOptions options);
  [[nodiscard]] Status Initialize();
  void WorkerLoop();
  void TimerLoop();
  void WatcherLoop();
  // Marks new work: bumps work_generation_ and wakes workers and the timer thread.
  void NotifyWork() FLOWRUN_EXCLUDES(mu_);
  // Bumps work_generation_ and wakes one worker, not the timer: an action came back.
  void NotifyWorkers() FLOWRUN_EXCLUDES(mu_);
  [[nodiscard]] Status CheckIntake() const;
  // The runs with `status` (for the gauges); 0 when the store cannot say.
  double CountRuns(store::RunStatus status);

  RuntimeOptions options_;
  SystemClock system_clock_;
  const Clock* clock_ = nullptr;

  // The store, secrets, actions, flows and engine (node.h). Its wake-up listener is dropped first
  // in Shutdown, before mu_ is taken; the rest closes at the end of Shutdown.
  Node node_;
  std::unique_ptr<CronScheduler> cron_;
  MetricsRegistry metrics_;
  ServiceMetrics service_metrics_;
  // Started by Start, stopped in Shutdown before the store closes.
  std::unique_ptr<RetentionPruner> pruner_;
  std::unique_ptr<NodeMembership> membership_;  // heartbeats and takeover of dead nodes

  std::atomic<bool> ready_{false};
  std::atomic<bool> intake_open_{true};
  std::atomic<int> in_flight_{0};  // workers inside AdvanceReadyRuns

  Mutex mu_;
  std::condition_variable work_cv_;   // workers wait here for work_generation_ to move
  std::condition_variable timer_cv_;  // the timer and watcher threads wait here
  uint64_t work_generation_ FLOWRUN_GUARDED_BY(mu_) = 0;  // bumped by NotifyWork
  uint64_t idle_reports_ FLOWRUN_GUARDED_BY(mu_) = 0;     // bumped when a worker finds no work
  bool started_ FLOWRUN_GUARDED_BY(mu_) = false;
  bool stopping_ FLOWRUN_GUARDED_BY(mu_) = false;
  bool shut_down_ FLOWRUN_GUARDED_BY(mu_) = false;
  int running_workers_ FLOWRUN_GUARDED_BY(mu_) = 0;  // workers not yet returned
  std::condition_variable exit_cv_;                  // signalled when a worker returns
  std::vector<std::thread> workers_;                 // started by Start, joined by Shutdown
  std::vector<std::thread> services_;                // the timer and watcher threads
};

}  // namespace flowrun
