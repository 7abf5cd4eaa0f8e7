// Metrics for GET /metrics: a registry of counters, gauges and histograms, rendered in the
// Prometheus text exposition format 0.0.4.
//
// A family is one metric name with its HELP text, its type and its label names; each distinct set
// of label values is a series (a Counter, Gauge or Histogram). Families are registered once at
// start-up (duplicate or malformed names are refused); series appear on first use through
// WithLabels. Callers on hot paths look a series up once and keep the reference: it stays valid
// for the registry's lifetime. Updating a series costs one or two relaxed atomic operations;
// counters are striped over cache lines so that threads incrementing the same counter do not
// contend.
//
// Thread-safety: everything here is safe to use from many threads. Render may run while series
// are updated and created; a histogram's buckets and count in one rendering agree with each
// other, its sum may include an observation more or less. Gauge callbacks run on the rendering
// thread, with no lock of the registry held.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace flowrun {

// A monotonically increasing count.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Increment(uint64_t n = 1);
  uint64_t Value() const;

 private:
  static constexpr size_t kStripes = 8;
  struct alignas(64) Stripe {
    std::atomic<uint64_t> value{0};
  };
  std::array<Stripe, kStripes> stripes_;
};

// A value that goes up and down.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Observations counted into fixed buckets, with their sum.
class Histogram {
 public:
  // REQUIRES: `upper_bounds` strictly increasing and finite (the registry checks).
  explicit Histogram(std::vector<double> upper_bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `value` in the first bucket whose upper bound is >= value (+Inf beyond the last).
  // NaN is ignored.
  void Observe(double value);
  // Observes a duration in seconds, the unit Prometheus expects.
  void ObserveDuration(Duration d) { Observe(static_cast<double>(d.count()) / 1000.0); }

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per upper bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Collect() const;

  const std::vector<double>& upper_bounds() const { return upper_bounds_; }

 private:
  const std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // one per bound, then +Inf; not cumulative
  std::atomic<double> sum_{0};
};

// Label values are matched to the family's label names by position. A family holds at most
// kMaxSeriesPerFamily series; label values beyond that share one series whose values are all
// "overflow", so a runaway label cannot exhaust memory.
inline constexpr size_t kMaxSeriesPerFamily = 10000;

class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  const std::string& name() const { return name_; }

 protected:
  MetricFamily(std::string name, std::string help, std::string type,
               std::vector<std::string> label_names);

 private:
  friend class MetricsRegistry;
  // Appends HELP, TYPE and every series, in label-value order.
  virtual void Render(std::string& out) const = 0;

 protected:
  const std::string name_;
  const std::string help_;
  const std::string type_;
  const std::vector<std::string> label_names_;
};

// A family whose series are objects of type T, created on first use.
template <typename T>
class SeriesFamily : public MetricFamily {
 public:
  // The series for `values`. REQUIRES: one value per label name; missing values are taken as ""
  // and extra ones are dropped.
  T& WithLabels(const std::vector<std::string>& values = {});

 protected:
  using MetricFamily::MetricFamily;
  virtual std::unique_ptr<T> NewSeries() const = 0;
  // The series in label-value order, for rendering.
  std::vector<std::pair<std::vector<std::string>, const T*>> Series() const;

 private:
  mutable Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> series_ FLOWRUN_GUARDED_BY(mu_);
};

class CounterFamily final : public SeriesFamily<Counter> {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);

 private:
  std::unique_ptr<Counter> NewSeries() const override { return std::make_unique<Counter>(); }
  void Render(std::string& out) const override;
};

class GaugeFamily final : public SeriesFamily<Gauge> {
 public:
  GaugeFamily(std::string name, std::string help, std::vector<std::string> label_names);

 private:
  std::unique_ptr<Gauge> NewSeries() const override { return std::make_unique<Gauge>(); }
  void Render(std::string& out) const override;
};

class HistogramFamily final : public SeriesFamily<Histogram> {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> upper_bounds);

 private:
  std::unique_ptr<Histogram> NewSeries() const override {
    return std::make_unique<Histogram>(upper_bounds_);
  }
  void Render(std::string& out) const override;

  const std::vector<double> upper_bounds_;
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Registering fails with kAlreadyExists for a name already taken, and kInvalidArgument for a
  // metric name outside [a-zA-Z_:][a-zA-Z0-9_:]*, a label name outside [a-zA-Z_][a-zA-Z0-9_]* or
  // starting with "__", a repeated label name, or (histograms) a label named "le" or bucket
  // bounds that are not finite and strictly increasing. The returned family lives as long as the
  // registry. A family without labels renders its single series from the start.
  [[nodiscard]] StatusOr<CounterFamily*> AddCounter(std::string name, std::string help,
                                                    std::vector<std::string> label_names = {});
  [[nodiscard]] StatusOr<GaugeFamily*> AddGauge(std::string name, std::string help,
                                                std::vector<std::string> label_names = {});
  [[nodiscard]] StatusOr<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                                        std::vector<double> upper_bounds,
                                                        std::vector<std::string> label_names = {});
  // A gauge without labels whose value `read` returns at each rendering. A callback that throws
  // leaves its sample out of that rendering.
  [[nodiscard]] Status AddGaugeCallback(std::string name, std::string help,
                                        std::function<double()> read);

  // Every family, sorted by name, in the text exposition format 0.0.4
  // (Content-Type: text/plain; version=0.0.4; charset=utf-8).
  std::string Render() const;

 private:
  Status Insert(std::unique_ptr<MetricFamily> family);

  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<MetricFamily>> families_ FLOWRUN_GUARDED_BY(mu_);
};

// The metrics of `flowrun serve`.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Upper bounds, in seconds, of flowrun_step_duration_seconds: 5 ms to 5 min.
const std::vector<double>& StepDurationBuckets();

// Read at each scrape.
struct ServiceGaugeSources {
  std::function<double()> queue_depth;     // runs ready to be worked on
  std::function<double()> timers_pending;  // sleeps and retries waiting for their time
  std::function<double()> waits_pending;   // runs waiting for an event
  // Optional: actions started and not yet returned, and the configured bounds on them.
  std::function<double()> actions_in_flight;
  double max_inflight_actions = 0;  // limits.max_inflight_actions; 0: not exported
  double max_actions_per_run = 0;   // limits.max_actions_per_run; 0: not exported
  // Optional (registered when set): the actions' outbound work.
  std::function<double()> outbound_transfers;    // HTTP transfers in flight
  std::function<double()> db_statements_queued;  // db statements waiting for a connection
  std::function<double()> smtp_sessions;         // SMTP sessions in use
  std::function<double()> smtp_waiting;          // messages waiting for an SMTP session
  double smtp_max_sessions = 0;                  // smtp.max_sessions; 0: not exported
};

struct ServiceMetrics {
  Counter* events_received = nullptr;       // flowrun_events_received_total
  CounterFamily* runs_started = nullptr;    // flowrun_runs_started_total{flow}
  CounterFamily* runs_completed = nullptr;  // flowrun_runs_completed_total{flow}
  CounterFamily* runs_failed = nullptr;     // flowrun_runs_failed_total{flow}
  // flowrun_runs_skipped_total{flow,cause}: runs created skipped by rate_limit or singleton.
  CounterFamily* runs_skipped = nullptr;
  HistogramFamily* step_duration = nullptr;  // flowrun_step_duration_seconds{action}
  CounterFamily* http_requests = nullptr;    // flowrun_http_requests_total{route,code}
  CounterFamily* pruned = nullptr;  // flowrun_pruned_total{kind}: rows deleted by retention
  // flowrun_queue_depth, flowrun_timers_pending and flowrun_waits_pending are callbacks, and so
  // are flowrun_outbound_transfers_in_flight, flowrun_db_statements_queued,
  // flowrun_smtp_sessions_in_use, flowrun_smtp_messages_waiting and
  // flowrun_limit_smtp_max_sessions when their sources are set.

  // Registers them all in `registry`. Errors: kInvalidArgument for a missing gauge source;
  // kAlreadyExists when they are registered twice.
  [[nodiscard]] static StatusOr<ServiceMetrics> Register(MetricsRegistry& registry,
                                                         ServiceGaugeSources sources);
};

}  // namespace flowrun
