#include "server/metrics.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <set>
#include <thread>
#include <utility>

namespace flowrun {
namespace {

// Each thread sticks to one stripe, picked from its id, so two threads rarely share a cache line.
size_t ThreadStripe(size_t stripes) {
  thread_local const size_t stripe = std::hash<std::thread::id>()(std::this_thread::get_id());
  return stripe % stripes;
}

bool IsMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

Status CheckNames(const std::string& name, const std::vector<std::string>& label_names) {
  if (!IsMetricName(name)) {
    return InvalidArgumentError("metric name \"" + name + "\" is not [a-zA-Z_:][a-zA-Z0-9_:]*");
  }
  std::set<std::string> seen;
  for (const std::string& label : label_names) {
    if (!IsLabelName(label)) {
      return InvalidArgumentError("metric " + name + ": label name \"" + label +
                                  "\" is not [a-zA-Z_][a-zA-Z0-9_]* or starts with __");
    }
    if (!seen.insert(label).second) {
      return InvalidArgumentError("metric " + name + ": label \"" + label + "\" repeated");
    }
  }
  return OkStatus();
}

// HELP text: backslash and newline escaped.
std::string EscapeHelp(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Label values: backslash, double quote and newline escaped.
std::string EscapeLabelValue(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// Shortest text that reads back as the same double; Prometheus spells the infinities +Inf/-Inf.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  if (error != std::errc()) return "NaN";
  return std::string(buffer, end);
}

void AppendHeader(std::string& out, const std::string& name, const std::string& help,
                  const std::string& type) {
  out += "# HELP " + name + " " + EscapeHelp(help) + "\n";
  out += "# TYPE " + name + " " + type + "\n";
}

// `name{a="x",b="y",le="0.5"} value`; no braces when there are no labels.
void AppendSample(std::string& out, const std::string& name, const std::vector<std::string>& keys,
                  const std::vector<std::string>& values, std::string_view le,
                  const std::string& value) {
  out += name;
  if (!keys.empty() || !le.empty()) {
    out += '{';
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i > 0) out += ',';
      out += keys[i] + "=\"" + EscapeLabelValue(values[i]) + "\"";
    }
    if (!le.empty()) {
      if (!keys.empty()) out += ',';
      out += "le=\"" + std::string(le) + "\"";
    }
    out += '}';
  }
  out += ' ';
  out += value;
  out += '\n';
}

// A gauge read from a callback at each rendering.
class CallbackGaugeFamily final : public MetricFamily {
 public:
  CallbackGaugeFamily(std::string name, std::string help, std::function<double()> read)
      : MetricFamily(std::move(name), std::move(help), "gauge", {}), read_(std::move(read)) {}

 private:
  void Render(std::string& out) const override {
    AppendHeader(out, name_, help_, type_);
    double value;
    try {
      value = read_();
    } catch (...) {
      return;
    }
    AppendSample(out, name_, {}, {}, "", FormatValue(value));
  }

  const std::function<double()> read_;
};

}  // namespace

// Counter ----------------------------------------------------------------------------------------

void Counter::Increment(uint64_t n) {
  stripes_[ThreadStripe(kStripes)].value.fetch_add(n, std::memory_order_relaxed);
}

uint64_t Counter::Value() const {
  uint64_t total = 0;
  for (const Stripe& stripe : stripes_) total += stripe.value.load(std::memory_order_relaxed);
  return total;
}

// Histogram --------------------------------------------------------------------------------------

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      buckets_(new std::atomic<uint64_t>[upper_bounds_.size() + 1]) {
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) buckets_[i].store(0);
}

void Histogram::Observe(double value) {
  if (std::isnan(value)) return;
  size_t bucket = 0;
  while (bucket < upper_bounds_.size() && value > upper_bounds_[bucket]) ++bucket;
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Collect() const {
  Snapshot snapshot;
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

// Families ---------------------------------------------------------------------------------------

MetricFamily::MetricFamily(std::string name, std::string help, std::string type,
                           std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(std::move(type)),
      label_names_(std::move(label_names)) {}

template <typename T>
T& SeriesFamily<T>::WithLabels(const std::vector<std::string>& values) {
  std::vector<std::string> key = values;
  key.resize(label_names_.size());
  MutexLock lock(mu_);
  auto it = series_.find(key);
  if (it != series_.end()) return *it->second;
  if (series_.size() >= kMaxSeriesPerFamily) {
    key.assign(label_names_.size(), "overflow");
    it = series_.find(key);
    if (it != series_.end()) return *it->second;
  }
  return *series_.emplace(std::move(key), NewSeries()).first->second;
}

template <typename T>
std::vector<std::pair<std::vector<std::string>, const T*>> SeriesFamily<T>::Series() const {
  std::vector<std::pair<std::vector<std::string>, const T*>> out;
  MutexLock lock(mu_);
  for (const auto& [values, series] : series_) out.emplace_back(values, series.get());
  return out;
}

template class SeriesFamily<Counter>;
template class SeriesFamily<Gauge>;
template class SeriesFamily<Histogram>;

CounterFamily::CounterFamily(std::string name, std::string help,
                             std::vector<std::string> label_names)
    : SeriesFamily(std::move(name), std::move(help), "counter", std::move(label_names)) {}

void CounterFamily::Render(std::string& out) const {
  AppendHeader(out, name_, help_, type_);
  for (const auto& [values, counter] : Series()) {
    AppendSample(out, name_, label_names_, values, "", std::to_string(counter->Value()));
  }
}

GaugeFamily::GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : SeriesFamily(std::move(name), std::move(help), "gauge", std::move(label_names)) {}

void GaugeFamily::Render(std::string& out) const {
  AppendHeader(out, name_, help_, type_);
  for (const auto& [values, gauge] : Series()) {
    AppendSample(out, name_, label_names_, values, "", FormatValue(gauge->Value()));
  }
}

HistogramFamily::HistogramFamily(std::string name, std::string help,
                                 std::vector<std::string> label_names,
                                 std::vector<double> upper_bounds)
    : SeriesFamily(std::move(name), std::move(help), "histogram", std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

void HistogramFamily::Render(std::string& out) const {
  AppendHeader(out, name_, help_, type_);
  for (const auto& [values, histogram] : Series()) {
    Histogram::Snapshot snapshot = histogram->Collect();
    for (size_t i = 0; i < upper_bounds_.size(); ++i) {
      AppendSample(out, name_ + "_bucket", label_names_, values, FormatValue(upper_bounds_[i]),
                   std::to_string(snapshot.cumulative[i]));
    }
    AppendSample(out, name_ + "_bucket", label_names_, values, "+Inf",
                 std::to_string(snapshot.count));
    AppendSample(out, name_ + "_sum", label_names_, values, "", FormatValue(snapshot.sum));
    AppendSample(out, name_ + "_count", label_names_, values, "", std::to_string(snapshot.count));
  }
}

// Registry ---------------------------------------------------------------------------------------

Status MetricsRegistry::Insert(std::unique_ptr<MetricFamily> family) {
  MutexLock lock(mu_);
  const std::string& name = family->name();
  if (families_.count(name) != 0) {
    return AlreadyExistsError("metric " + name + " is already registered");
  }
  families_.emplace(name, std::move(family));
  return OkStatus();
}

StatusOr<CounterFamily*> MetricsRegistry::AddCounter(std::string name, std::string help,
                                                     std::vector<std::string> label_names) {
  RETURN_IF_ERROR(CheckNames(name, label_names));
  auto family = std::make_unique<CounterFamily>(std::move(name), std::move(help), label_names);
  CounterFamily* raw = family.get();
  if (label_names.empty()) raw->WithLabels();
  RETURN_IF_ERROR(Insert(std::move(family)));
  return raw;
}

StatusOr<GaugeFamily*> MetricsRegistry::AddGauge(std::string name, std::string help,
                                                 std::vector<std::string> label_names) {
  RETURN_IF_ERROR(CheckNames(name, label_names));
  auto family = std::make_unique<GaugeFamily>(std::move(name), std::move(help), label_names);
  GaugeFamily* raw = family.get();
  if (label_names.empty()) raw->WithLabels();
  RETURN_IF_ERROR(Insert(std::move(family)));
  return raw;
}

StatusOr<HistogramFamily*> MetricsRegistry::AddHistogram(std::string name, std::string help,
                                                         std::vector<double> upper_bounds,
                                                         std::vector<std::string> label_names) {
  RETURN_IF_ERROR(CheckNames(name, label_names));
  for (const std::string& label : label_names) {
    if (label == "le")
      return InvalidArgumentError("histogram " + name + ": label \"le\" is reserved");
  }
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && upper_bounds[i] <= upper_bounds[i - 1])) {
      return InvalidArgumentError("histogram " + name +
                                  ": bucket bounds must be finite and strictly increasing");
    }
  }
  auto family = std::make_unique<HistogramFamily>(std::move(name), std::move(help), label_names,
                                                  std::move(upper_bounds));
  HistogramFamily* raw = family.get();
  if (label_names.empty()) raw->WithLabels();
  RETURN_IF_ERROR(Insert(std::move(family)));
  return raw;
}

Status MetricsRegistry::AddGaugeCallback(std::string name, std::string help,
                                         std::function<double()> read) {
  RETURN_IF_ERROR(CheckNames(name, {}));
  if (!read) return InvalidArgumentError("gauge " + name + " needs a callback");
  return Insert(
      std::make_unique<CallbackGaugeFamily>(std::move(name), std::move(help), std::move(read)));
}

std::string MetricsRegistry::Render() const {
  std::vector<const MetricFamily*> families;
  {
    MutexLock lock(mu_);
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  std::string out;
  for (const MetricFamily* family : families) family->Render(out);
  return out;
}

// Service metrics --------------------------------------------------------------------------------

const std::vector<double>& StepDurationBuckets() {
  static const std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                              2.5,   5,    10,    30,   60,  120,  300};
  return buckets;
}

StatusOr<ServiceMetrics> ServiceMetrics::Register(MetricsRegistry& registry,
                                                  ServiceGaugeSources sources) {
  if (!sources.queue_depth || !sources.timers_pending || !sources.waits_pending) {
    return InvalidArgumentError("service metrics need queue depth, timer and wait sources");
  }
  ServiceMetrics metrics;
  ASSIGN_OR_RETURN(CounterFamily * events,
                   registry.AddCounter("flowrun_events_received_total",
                                       "Events accepted by the event API and webhooks."));
  metrics.events_received = &events->WithLabels();
  ASSIGN_OR_RETURN(metrics.runs_started, registry.AddCounter("flowrun_runs_started_total",
                                                             "Runs started, per flow.", {"flow"}));
  ASSIGN_OR_RETURN(metrics.runs_completed,
                   registry.AddCounter("flowrun_runs_completed_total",
                                       "Runs that completed, per flow.", {"flow"}));
  ASSIGN_OR_RETURN(
      metrics.runs_failed,
      registry.AddCounter("flowrun_runs_failed_total", "Runs that failed, per flow.", {"flow"}));
  ASSIGN_OR_RETURN(metrics.runs_skipped,
                   registry.AddCounter("flowrun_runs_skipped_total",
                                       "Runs skipped by flow control, per flow and cause "
                                       "(rate_limit, singleton).",
                                       {"flow", "cause"}));
  ASSIGN_OR_RETURN(
      metrics.pruned,
      registry.AddCounter("flowrun_pruned_total",
                          "Rows deleted by retention, per kind (runs, events, outbox).", {"kind"}));
  ASSIGN_OR_RETURN(metrics.step_duration,
                   registry.AddHistogram("flowrun_step_duration_seconds",
                                         "Duration of step attempts, per action, in seconds.",
                                         StepDurationBuckets(), {"action"}));
  ASSIGN_OR_RETURN(
      metrics.http_requests,
      registry.AddCounter("flowrun_http_requests_total",
                          "HTTP requests answered, per route and status code.", {"route", "code"}));
  RETURN_IF_ERROR(registry.AddGaugeCallback("flowrun_queue_depth",
                                            "Runs waiting for a node to take them (queued).",
                                            std::move(sources.queue_depth)));
  RETURN_IF_ERROR(registry.AddGaugeCallback("flowrun_timers_pending",
                                            "Sleeps and retries waiting for their time.",
                                            std::move(sources.timers_pending)));
  RETURN_IF_ERROR(registry.AddGaugeCallback("flowrun_waits_pending", "Runs waiting for an event.",
                                            std::move(sources.waits_pending)));
  if (sources.actions_in_flight) {
    RETURN_IF_ERROR(registry.AddGaugeCallback("flowrun_actions_in_flight",
                                              "Actions started and not yet returned.",
                                              std::move(sources.actions_in_flight)));
  }
  auto constant = [](double value) { return [value] { return value; }; };
  if (sources.max_inflight_actions > 0) {
    RETURN_IF_ERROR(registry.AddGaugeCallback(
        "flowrun_limit_max_inflight_actions",
        "limits.max_inflight_actions: actions in flight at once on this node.",
        constant(sources.max_inflight_actions)));
  }
  if (sources.max_actions_per_run > 0) {
    RETURN_IF_ERROR(registry.AddGaugeCallback(
        "flowrun_limit_max_actions_per_run",
        "limits.max_actions_per_run: actions in flight at once in one run.",
        constant(sources.max_actions_per_run)));
  }
  if (sources.outbound_transfers) {
    RETURN_IF_ERROR(registry.AddGaugeCallback("flowrun_outbound_transfers_in_flight",
                                              "HTTP transfers in flight on the outbound loop, "
                                              "waiting for a connection included.",
                                              std::move(sources.outbound_transfers)));
  }
  if (sources.db_statements_queued) {
    RETURN_IF_ERROR(registry.AddGaugeCallback("flowrun_db_statements_queued",
                                              "db statements waiting for a connection or a worker.",
                                              std::move(sources.db_statements_queued)));
  }
  if (sources.smtp_sessions) {
    RETURN_IF_ERROR(registry.AddGaugeCallback("flowrun_smtp_sessions_in_use",
                                              "SMTP sessions in use by email steps.",
                                              std::move(sources.smtp_sessions)));
  }
  if (sources.smtp_waiting) {
    RETURN_IF_ERROR(registry.AddGaugeCallback("flowrun_smtp_messages_waiting",
                                              "email messages waiting for a free SMTP session.",
                                              std::move(sources.smtp_waiting)));
  }
  if (sources.smtp_max_sessions > 0) {
    RETURN_IF_ERROR(
        registry.AddGaugeCallback("flowrun_limit_smtp_max_sessions",
                                  "smtp.max_sessions: SMTP sessions open at once to the server.",
                                  constant(sources.smtp_max_sessions)));
  }
  return metrics;
}

}  // namespace flowrun
