#include "server/runtime.h"

#include <algorithm>
#include <filesystem>

#include "actions/builtin_actions.h"
#include "common/log.h"

namespace flowrun {
namespace {

// The longest the timer thread sleeps without looking at the store again, so that runs made
// due by another node sharing the store are not left waiting long.
constexpr Duration kMaxTimerSleep = std::chrono::seconds(30);
// How long the timer thread leaves due runs alone after the workers found none they could take
// (every one held back by a concurrency limit or another node's lease).
constexpr Duration kBlockedRetry = std::chrono::seconds(1);
constexpr Duration kErrorBackoff = std::chrono::seconds(1);
// How long past the shutdown deadline the workers may take to record the batch they are in.
constexpr std::chrono::seconds kWorkerDrainSlack{5};

std::chrono::milliseconds WallWait(Duration d) {
  return std::clamp<std::chrono::milliseconds>(d, std::chrono::milliseconds(0), kMaxTimerSleep);
}

}  // namespace

Runtime::Runtime(RuntimeOptions options) : options_(std::move(options)) {
  clock_ = options_.clock ? options_.clock : &system_clock_;
}

StatusOr<std::unique_ptr<Runtime>> Runtime::Open(RuntimeOptions options) {
  std::unique_ptr<Runtime> runtime(new Runtime(std::move(options)));
  RETURN_IF_ERROR(runtime->Initialize());
  return runtime;
}

Status Runtime::Initialize() {
  const Config& config = options_.config;

  EngineOptions engine_options;
  // An action came back from its I/O thread: a worker records its result.
  engine_options.on_work_ready = [this] { NotifyWorkers(); };
  engine_options.on_run_started = [this](const std::string& flow_id) {
    service_metrics_.runs_started->WithLabels({flow_id}).Increment();
  };
  engine_options.on_run_skipped = [this](const std::string& flow_id, const std::string& cause) {
    service_metrics_.runs_skipped->WithLabels({flow_id, cause}).Increment();
  };
  engine_options.on_run_finished = [this](const std::string& flow_id, store::RunStatus status) {
    if (status == store::RunStatus::kCompleted) {
      service_metrics_.runs_completed->WithLabels({flow_id}).Increment();
    } else if (status == store::RunStatus::kFailed) {
      service_metrics_.runs_failed->WithLabels({flow_id}).Increment();
    }
  };
  engine_options.on_step_finished = [this](const std::string& action, Duration duration) {
    service_metrics_.step_duration->WithLabels({action}).ObserveDuration(duration);
  };
  engine_options.log = [](const std::string& run_id, const std::string& step_key,
                          const std::string& message) {
    LogInfo(message, {{"run", run_id}, {"step", step_key}});
  };
  ASSIGN_OR_RETURN(node_, OpenNode({.config = config,
                                    .clock = clock_,
                                    .secrets = options_.secrets,
                                    .node_id = options_.node_id,
                                    .engine = std::move(engine_options)}));

  // Registered before any run moves: the engine's observers feed these counters.
  ServiceGaugeSources gauges;
  gauges.queue_depth = [this] { return CountRuns(store::RunStatus::kQueued); };
  gauges.timers_pending = [this] { return CountRuns(store::RunStatus::kSleeping); };
  gauges.waits_pending = [this] { return CountRuns(store::RunStatus::kWaiting); };
  gauges.actions_in_flight = [this] {
    return node_.engine ? static_cast<double>(node_.engine->ActionsInFlight()) : 0.0;
  };
  gauges.max_inflight_actions = config.limits.max_inflight_actions;
  gauges.max_actions_per_run = config.limits.max_actions_per_run;
  auto action_stats = [this] {
    return ReadBuiltinActionStats(*node_.actions, node_.outbound_loop.get());
  };
  gauges.outbound_transfers = [action_stats] {
    return static_cast<double>(action_stats().transfers_in_flight);
  };
  gauges.db_statements_queued = [action_stats] {
    return static_cast<double>(action_stats().db_statements_queued);
  };
  gauges.smtp_sessions = [action_stats] {
    return static_cast<double>(action_stats().smtp_sessions_in_use);
  };
  gauges.smtp_waiting = [action_stats] { return static_cast<double>(action_stats().smtp_waiting); };
  if (config.smtp) gauges.smtp_max_sessions = config.smtp->max_sessions;
  ASSIGN_OR_RETURN(service_metrics_, ServiceMetrics::Register(metrics_, std::move(gauges)));
  pruner_ = std::make_unique<RetentionPruner>(config.retention, node_.store.get(),
                                              node_.outbox.get(), service_metrics_.pruned);

  ASSIGN_OR_RETURN(membership_, NodeMembership::Create({.node_id = node_.node_id,
                                                        .takeover_after = config.takeover_after,
                                                        .on_takeover = [this] { NotifyWork(); }},
                                                       node_.store.get(), clock_, metrics_));

  auto loaded = node_.flows->Reload();
  if (!loaded.ok()) return loaded.status();
  RETURN_IF_ERROR(node_.engine->Recover());
  cron_ = std::make_unique<CronScheduler>(*node_.engine, *node_.flows, *clock_, options_.cron);

  const FlowRegistryStatus flows = node_.flows->Snapshot();
  LogInfo("runtime opened", {{"store", config.store},
                             {"node_id", node_.node_id},
                             {"flows_dir", config.flows},
                             {"flows", flows.flows.size()},
                             {"invalid_files", loaded->invalid.size()}});
  return OkStatus();
}

Runtime::~Runtime() {
  bool shut_down;
  {
    MutexLock lock(mu_);
    shut_down = shut_down_;
  }
  if (!shut_down) Shutdown(std::chrono::seconds(5));
}

Status Runtime::Start() {
  MutexLock lock(mu_);
  if (started_ || stopping_) return FailedPreconditionError("the runtime was already started");
  started_ = true;
  // Another node's event or wake-up may concern runs this node holds or waits on.
  if (node_.wakes) node_.wakes->Subscribe([this] { NotifyWork(); });
  // The scheduler's first pass sets its cursors (and catches up on ticks missed while down) now,
  // so a tick that falls due right after Start is not mistaken for one before it.
  CronScheduler::Result cron = cron_->FireDue();
  if (!cron.error.ok()) LogError("cron", {{"error", cron.error.ToString()}});
  int workers = options_.config.workers;
  if (workers <= 0) workers = Config::DefaultWorkers();
  running_workers_ = workers;
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  pruner_->Start();
  membership_->Start();
  services_.emplace_back([this] { TimerLoop(); });
  if (options_.reload_interval > Duration::zero() && options_.config.watch_flows) {
    services_.emplace_back([this] { WatcherLoop(); });
  }
  ready_ = true;
  LogInfo("runtime started", {{"workers", workers}});
  return OkStatus();
}

void Runtime::Shutdown(Duration grace) {
  const auto deadline = std::chrono::steady_clock::now() + grace;
  intake_open_ = false;
  ready_ = false;
  // Before taking mu_: the listener's thread may be inside NotifyWork, waiting for it.
  node_.wakes.reset();
  MutexLock lock(mu_);
  if (shut_down_) return;
  shut_down_ = true;
  if (node_.engine && started_) {
    // Actions in flight may return and be recorded until the deadline; no new run is claimed.
    node_.engine->StopClaiming();
    const auto poll = std::chrono::milliseconds(10);
    while (node_.engine->ResultsPending() && std::chrono::steady_clock::now() < deadline) {
      lock.WaitFor(exit_cv_, std::min<std::chrono::steady_clock::duration>(
                                 deadline - std::chrono::steady_clock::now(), poll));
    }
    if (node_.engine->ActionsInFlight() > 0) {
      LogWarn("shutdown deadline passed with actions in flight; their runs resume on restart",
              {{"actions_in_flight", node_.engine->ActionsInFlight()}});
    }
  }
  stopping_ = true;
  work_cv_.notify_all();
  timer_cv_.notify_all();
  // Workers finish the batch they are in (its steps' results commit) and return. A batch never
  // waits on the network (actions are asynchronous), so it gets a little time past the deadline
  // when the actions in flight used the whole grace period.
  const auto drain_deadline =
      std::max(deadline, std::chrono::steady_clock::now() + kWorkerDrainSlack);
  bool drained = lock.WaitUntil(exit_cv_, drain_deadline,
                                [this]() FLOWRUN_REQUIRES(mu_) { return running_workers_ == 0; });
  const int workers_busy = running_workers_;
  lock.Unlock();
  for (std::thread& thread : services_) thread.join();
  services_.clear();
  if (pruner_) pruner_->Stop();
  if (membership_) membership_->Stop();
  if (drained) {
    for (std::thread& thread : workers_) thread.join();
    workers_.clear();
    if (node_.outbound_loop) node_.outbound_loop->Stop();
  } else {
    // Steps still in flight past the deadline: leave them to the process exit. The objects they
    // use must outlive them, so they are released without being destroyed.
    LogWarn("shutdown deadline passed with steps in flight; their runs resume on restart",
            {{"workers_busy", workers_busy}});
    for (std::thread& thread : workers_) thread.detach();
    workers_.clear();
    cron_.release();
    node_.Abandon();
    return;
  }
  // Runs this node holds in memory (queued for a worker) become due for the next process at once.
  if (Status released = node_.engine ? node_.engine->ReleaseLeases() : OkStatus(); !released.ok()) {
    LogWarn("releasing leases at shutdown failed; they run out on their own",
            {{"error", released.ToString()}});
  }
  // Close in dependency order; the store's destructor finishes its last commit. The outbox's
  // connection closes first, so that the store's close is the file's last (see
  // store/clean_shutdown_marker.h).
  cron_.reset();
  node_.Close();
  LogInfo("runtime stopped");
}

void Runtime::NotifyWork() {
  MutexLock lock(mu_);
  ++work_generation_;
  work_cv_.notify_one();
  timer_cv_.notify_all();
}

void Runtime::NotifyWorkers() {
  MutexLock lock(mu_);
  ++work_generation_;
  work_cv_.notify_one();
}

void Runtime::Wake() { NotifyWork(); }

void Runtime::WorkerLoop() {
  const int batch = std::max(1, options_.batch_size);
  for (;;) {
    uint64_t seen;
    {
      MutexLock lock(mu_);
      if (stopping_) break;
      seen = work_generation_;
    }
    auto advanced = node_.engine->AdvanceReadyRuns(batch);
    MutexLock lock(mu_);
    if (stopping_) break;
    if (!advanced.ok()) {
      lock.Unlock();
      LogError("advancing runs failed", {{"error", advanced.status().ToString()}});
      lock.Lock();
      lock.WaitFor(work_cv_, kErrorBackoff, [this]() FLOWRUN_REQUIRES(mu_) { return stopping_; });
      continue;
    }
    if (*advanced > 0) {
      // A full batch suggests more is ready: bring another worker in.
      if (*advanced >= batch) {
        ++work_generation_;
        work_cv_.notify_one();
      }
      continue;
    }
    ++idle_reports_;
    timer_cv_.notify_all();
    lock.Wait(work_cv_,
              [&]() FLOWRUN_REQUIRES(mu_) { return stopping_ || work_generation_ != seen; });
  }
  MutexLock lock(mu_);
  --running_workers_;
  exit_cv_.notify_all();
}

void Runtime::TimerLoop() {
  std::optional<TimePoint> kicked_due;  // the due time the workers were last woken for
  uint64_t idle_at_kick = 0;            // idle_reports_ when they were
  for (;;) {
    {
      MutexLock lock(mu_);
      if (stopping_) return;
    }
    CronScheduler::Result cron = cron_->FireDue();
    if (!cron.error.ok()) LogError("cron", {{"error", cron.error.ToString()}});
    if (!cron.fired.empty()) NotifyWork();
    const std::optional<TimePoint> next_prune = pruner_->Poke(clock_->Now());

    auto due = node_.engine->NextDueTime();
    const TimePoint now = clock_->Now();
    Duration wait = kMaxTimerSleep;
    bool kick = false;
    MutexLock lock(mu_);
    if (!due.ok()) {
      lock.Unlock();
      LogError("reading the next due time failed", {{"error", due.status().ToString()}});
      lock.Lock();
      wait = kErrorBackoff;
    } else if (*due && **due <= now) {
      // Something is due. Wake the workers, unless they already looked after the last wake-up
      // for this same due time and left it (a concurrency limit or a live lease holds it).
      bool blocked = kicked_due == **due && idle_reports_ != idle_at_kick;
      if (blocked) {
        wait = kBlockedRetry;
        kicked_due.reset();
      } else {
        kick = true;
        kicked_due = **due;
        idle_at_kick = idle_reports_;
        wait = kBlockedRetry;
      }
    } else if (*due) {
      wait = **due - now;
    }
    if (cron.next) wait = std::min(wait, *cron.next - now);
    if (next_prune) wait = std::min(wait, *next_prune - now);
    if (kick) {
      ++work_generation_;
      work_cv_.notify_one();
    }
    const uint64_t generation = work_generation_;
    const uint64_t idle = idle_reports_;
    // Workers going idle wake it too: what they committed may be due sooner (a retry, a sleep)
    // than what it was waiting for.
    lock.WaitFor(timer_cv_, WallWait(wait), [&]() FLOWRUN_REQUIRES(mu_) {
      return stopping_ || work_generation_ != generation || idle_reports_ != idle;
    });
  }
}

void Runtime::WatcherLoop() {
  for (;;) {
    {
      MutexLock lock(mu_);
      lock.WaitFor(timer_cv_, options_.reload_interval,
                   [this]() FLOWRUN_REQUIRES(mu_) { return stopping_; });
      if (stopping_) return;
    }
    auto report = node_.flows->PollForChanges();
    if (!report.ok()) {
      LogError("reloading flows failed", {{"error", report.status().ToString()}});
      continue;
    }
    // New revisions may carry new cron triggers: let the timer thread look again.
    if (report->changed()) NotifyWork();
  }
}

Status Runtime::CheckIntake() const {
  if (!intake_open_) return UnavailableError("flowrun is shutting down");
  if (StoreDamaged()) return UnavailableError(node_.data_loss->Check().message());
  return OkStatus();
}

StatusOr<std::vector<IngestedEvent>> Runtime::IngestEvents(const std::vector<Json>& events) {
  RETURN_IF_ERROR(CheckIntake());
  auto result = node_.engine->IngestEvents(events);
  // Damage found by this very commit: the caller may retry later, against a restored store.
  if (!result.ok() && StoreDamaged()) return UnavailableError(node_.data_loss->Check().message());
  ASSIGN_OR_RETURN(std::vector<IngestedEvent> ingested, std::move(result));
  service_metrics_.events_received->Increment(events.size());
  NotifyWork();
  return ingested;
}

StatusOr<std::string> Runtime::InvokeFlow(std::string_view flow_id, Json data) {
  RETURN_IF_ERROR(CheckIntake());
  ASSIGN_OR_RETURN(std::string run_id, node_.engine->StartRun(flow_id, std::move(data)));
  NotifyWork();
  return run_id;
}

Status Runtime::CancelRun(std::string_view run_id) {
  RETURN_IF_ERROR(CheckIntake());
  RETURN_IF_ERROR(node_.engine->CancelRun(run_id));
  NotifyWork();
  return OkStatus();
}

StatusOr<std::string> Runtime::RerunRun(std::string_view run_id,
                                        std::optional<std::string> from_step) {
  RETURN_IF_ERROR(CheckIntake());
  ASSIGN_OR_RETURN(std::string rerun, node_.engine->RerunRun(run_id, std::move(from_step)));
  NotifyWork();
  return rerun;
}

StatusOr<std::vector<store::RunRecord>> Runtime::ListRuns(const store::RunFilter& filter) {
  return node_.engine->ListRuns(filter);
}

StatusOr<std::optional<RunDetail>> Runtime::GetRun(std::string_view run_id) {
  ASSIGN_OR_RETURN(std::optional<store::RunRecord> run, node_.engine->GetRun(run_id));
  if (!run) return std::optional<RunDetail>();
  ASSIGN_OR_RETURN(std::vector<store::JournalEntry> journal, node_.engine->GetJournal(run_id));
  return std::optional<RunDetail>(RunDetail{std::move(*run), std::move(journal)});
}

StatusOr<std::vector<store::EventRecord>> Runtime::ListEvents(const store::EventFilter& filter) {
  return node_.store->ListEvents(filter);
}

StatusOr<std::optional<store::EventRecord>> Runtime::GetEvent(std::string_view event_id) {
  return node_.store->GetEvent(event_id);
}

FlowRegistryStatus Runtime::Flows() const { return node_.flows->Snapshot(); }

StatusOr<std::vector<store::FlowRevisionRecord>> Runtime::FlowRevisions(
    std::string_view flow_id) const {
  return node_.flows->Revisions(flow_id);
}

StatusOr<ReloadReport> Runtime::ReloadFlows() {
  ASSIGN_OR_RETURN(ReloadReport report, node_.flows->Reload());
  if (report.changed()) NotifyWork();
  return report;
}

StatusOr<ReloadReport> Runtime::ReloadFlowsFrom(const std::string& flows_dir) {
  ASSIGN_OR_RETURN(ReloadReport report, node_.flows->ReloadAll(flows_dir));
  if (report.changed()) NotifyWork();
  return report;
}

StatusOr<std::vector<OutboxMessage>> Runtime::Outbox(size_t limit) const {
  return node_.outbox->List(limit);
}

double Runtime::CountRuns(store::RunStatus status) {
  auto count = node_.store->CountRuns(status);
  return count.ok() ? static_cast<double>(*count) : 0.0;
}

}  // namespace flowrun
