#include "server/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace flowrun {
namespace {

using ::testing::HasSubstr;

template <typename T>
T* Ok(StatusOr<T*> result) {
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : nullptr;
}

TEST(MetricsTest, RendersCountersWithAndWithoutLabels) {
  MetricsRegistry registry;
  CounterFamily* events = Ok(registry.AddCounter("events_total", "Events received."));
  CounterFamily* runs = Ok(registry.AddCounter("runs_total", "Runs, per flow.", {"flow"}));
  events->WithLabels().Increment();
  events->WithLabels().Increment(4);
  runs->WithLabels({"billing"}).Increment();
  runs->WithLabels({"alpha"}).Increment(2);
  EXPECT_EQ(registry.Render(),
            "# HELP events_total Events received.\n"
            "# TYPE events_total counter\n"
            "events_total 5\n"
            "# HELP runs_total Runs, per flow.\n"
            "# TYPE runs_total counter\n"
            "runs_total{flow=\"alpha\"} 2\n"
            "runs_total{flow=\"billing\"} 1\n");
}

TEST(MetricsTest, UnlabelledFamiliesRenderZeroBeforeFirstUse) {
  MetricsRegistry registry;
  Ok(registry.AddCounter("a_total", "A."));
  Ok(registry.AddCounter("b_total", "B.", {"x"}));
  Ok(registry.AddGauge("c", "C."));
  EXPECT_EQ(registry.Render(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
            "# HELP b_total B.\n# TYPE b_total counter\n"
            "# HELP c C.\n# TYPE c gauge\nc 0\n");
}

TEST(MetricsTest, EscapesLabelValuesAndHelpText) {
  MetricsRegistry registry;
  CounterFamily* family =
      Ok(registry.AddCounter("escaped_total", "Line one\nback\\slash \"quoted\"", {"a", "b"}));
  family->WithLabels({"say \"hi\"", "C:\\dir\nnext"}).Increment();
  EXPECT_EQ(registry.Render(),
            "# HELP escaped_total Line one\\nback\\\\slash \"quoted\"\n"
            "# TYPE escaped_total counter\n"
            "escaped_total{a=\"say \\\"hi\\\"\",b=\"C:\\\\dir\\nnext\"} 1\n");
}

TEST(MetricsTest, RendersGaugesAndCallbacks) {
  MetricsRegistry registry;
  GaugeFamily* temperature = Ok(registry.AddGauge("temperature", "Degrees.", {"room"}));
  temperature->WithLabels({"hall"}).Set(20.5);
  temperature->WithLabels({"hall"}).Add(-1);
  temperature->WithLabels({"attic"}).Set(-3);
  int depth = 7;
  ASSERT_TRUE(registry.AddGaugeCallback("depth", "Queue depth.", [&] { return depth; }).ok());
  ASSERT_TRUE(registry
                  .AddGaugeCallback("broken", "Throws.",
                                    []() -> double { throw std::runtime_error("unavailable"); })
                  .ok());
  ASSERT_TRUE(registry
                  .AddGaugeCallback("infinite", "Inf.",
                                    [] { return std::numeric_limits<double>::infinity(); })
                  .ok());
  ASSERT_TRUE(registry.AddGaugeCallback("nan", "NaN.", [] { return std::nan(""); }).ok());
  std::string first = registry.Render();
  depth = 8;
  EXPECT_EQ(first,
            "# HELP broken Throws.\n# TYPE broken gauge\n"
            "# HELP depth Queue depth.\n# TYPE depth gauge\ndepth 7\n"
            "# HELP infinite Inf.\n# TYPE infinite gauge\ninfinite +Inf\n"
            "# HELP nan NaN.\n# TYPE nan gauge\nnan NaN\n"
            "# HELP temperature Degrees.\n# TYPE temperature gauge\n"
            "temperature{room=\"attic\"} -3\n"
            "temperature{room=\"hall\"} 19.5\n");
  EXPECT_THAT(registry.Render(), HasSubstr("depth 8\n"));
}

TEST(MetricsTest, RendersHistogramsCumulativelyWithSumAndCount) {
  MetricsRegistry registry;
  HistogramFamily* latency =
      Ok(registry.AddHistogram("latency_seconds", "Latency.", {0.25, 0.5, 1}, {"action"}));
  Histogram& http = latency->WithLabels({"http"});
  http.Observe(0.0625);
  http.Observe(0.25);  // on the bound: counted in le="0.25"
  http.Observe(0.375);
  http.Observe(2);
  http.Observe(std::nan(""));  // ignored
  latency->WithLabels({"email"}).ObserveDuration(std::chrono::milliseconds(750));
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{action=\"email\",le=\"0.25\"} 0\n"
            "latency_seconds_bucket{action=\"email\",le=\"0.5\"} 0\n"
            "latency_seconds_bucket{action=\"email\",le=\"1\"} 1\n"
            "latency_seconds_bucket{action=\"email\",le=\"+Inf\"} 1\n"
            "latency_seconds_sum{action=\"email\"} 0.75\n"
            "latency_seconds_count{action=\"email\"} 1\n"
            "latency_seconds_bucket{action=\"http\",le=\"0.25\"} 2\n"
            "latency_seconds_bucket{action=\"http\",le=\"0.5\"} 3\n"
            "latency_seconds_bucket{action=\"http\",le=\"1\"} 3\n"
            "latency_seconds_bucket{action=\"http\",le=\"+Inf\"} 4\n"
            "latency_seconds_sum{action=\"http\"} 2.6875\n"
            "latency_seconds_count{action=\"http\"} 4\n");
}

TEST(MetricsTest, RendersAnUnlabelledHistogram) {
  MetricsRegistry registry;
  HistogramFamily* sizes = Ok(registry.AddHistogram("size_bytes", "Sizes.", {1024}));
  sizes->WithLabels().Observe(10);
  EXPECT_EQ(registry.Render(),
            "# HELP size_bytes Sizes.\n# TYPE size_bytes histogram\n"
            "size_bytes_bucket{le=\"1024\"} 1\n"
            "size_bytes_bucket{le=\"+Inf\"} 1\n"
            "size_bytes_sum 10\n"
            "size_bytes_count 1\n");
}

TEST(MetricsTest, RefusesDuplicateAndMalformedNames) {
  MetricsRegistry registry;
  ASSERT_NE(Ok(registry.AddCounter("x_total", "X.")), nullptr);
  EXPECT_EQ(registry.AddGauge("x_total", "again").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddGaugeCallback("x_total", "again", [] { return 0.0; }).code(),
            StatusCode::kAlreadyExists);
  for (std::string bad : {"", "9lives", "has-dash", "space name", "ünicode"}) {
    EXPECT_EQ(registry.AddCounter(bad, "h").status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(registry.AddCounter("ns:sub_total", "colons are allowed").ok());
  EXPECT_EQ(registry.AddCounter("a_total", "h", {"__reserved"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("b_total", "h", {"a:b"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddCounter("c_total", "h", {"flow", "flow"}).status().message(),
            "metric c_total: label \"flow\" repeated");
  EXPECT_EQ(registry.AddHistogram("h1", "h", {1}, {"le"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h2", "h", {1, 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h3", "h", {2, 1}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddHistogram("h4", "h", {1, std::numeric_limits<double>::infinity()})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(registry.AddGaugeCallback("g", "h", nullptr).code(), StatusCode::kInvalidArgument);
}

TEST(MetricsTest, MissingLabelValuesAreEmptyAndExtraOnesDropped) {
  MetricsRegistry registry;
  CounterFamily* family = Ok(registry.AddCounter("pairs_total", "P.", {"a", "b"}));
  family->WithLabels({"x"}).Increment();
  family->WithLabels({"x", "", "extra"}).Increment();
  EXPECT_EQ(&family->WithLabels({"x"}), &family->WithLabels({"x", ""}));
  EXPECT_THAT(registry.Render(), HasSubstr("pairs_total{a=\"x\",b=\"\"} 2\n"));
}

TEST(MetricsTest, TooManySeriesShareAnOverflowSeries) {
  MetricsRegistry registry;
  CounterFamily* family = Ok(registry.AddCounter("ids_total", "Ids.", {"id"}));
  for (size_t i = 0; i < kMaxSeriesPerFamily + 5; ++i) {
    family->WithLabels({std::to_string(i)}).Increment();
  }
  EXPECT_THAT(registry.Render(), HasSubstr("ids_total{id=\"overflow\"} 5\n"));
  EXPECT_EQ(family->WithLabels({"0"}).Value(), 1u);
}

TEST(MetricsTest, CountsExactlyUnderFourThreads) {
  MetricsRegistry registry;
  CounterFamily* runs = Ok(registry.AddCounter("runs_total", "Runs.", {"flow"}));
  CounterFamily* events = Ok(registry.AddCounter("events_total", "Events."));
  HistogramFamily* steps =
      Ok(registry.AddHistogram("step_seconds", "Steps.", {0.5, 1.5}, {"action"}));
  GaugeFamily* depth = Ok(registry.AddGauge("depth", "Depth."));
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter& mine = runs->WithLabels({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kIterations; ++i) {
        mine.Increment();
        events->WithLabels().Increment();
        steps->WithLabels({"http"}).Observe(i % 2 == 0 ? 0.25 : 1.0);
        depth->WithLabels().Add(1);
        if (i % 1000 == 0) registry.Render();  // rendering while others write
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::string text = registry.Render();
  int total = kThreads * kIterations;
  EXPECT_THAT(text, HasSubstr("events_total " + std::to_string(total) + "\n"));
  EXPECT_THAT(text, HasSubstr("runs_total{flow=\"even\"} " + std::to_string(total / 2) + "\n"));
  EXPECT_THAT(text, HasSubstr("runs_total{flow=\"odd\"} " + std::to_string(total / 2) + "\n"));
  EXPECT_THAT(text, HasSubstr("step_seconds_bucket{action=\"http\",le=\"0.5\"} " +
                              std::to_string(total / 2) + "\n"));
  EXPECT_THAT(text, HasSubstr("step_seconds_bucket{action=\"http\",le=\"1.5\"} " +
                              std::to_string(total) + "\n"));
  EXPECT_THAT(text,
              HasSubstr("step_seconds_count{action=\"http\"} " + std::to_string(total) + "\n"));
  // 0.25 and 1.0 are exact in binary, so the sum is exact whatever the order of additions.
  EXPECT_THAT(text, HasSubstr("step_seconds_sum{action=\"http\"} 50000\n"));
  EXPECT_THAT(text, HasSubstr("depth " + std::to_string(total) + "\n"));
}

TEST(ServiceMetricsTest, RegistersTheMetricsOfTheService) {
  MetricsRegistry registry;
  StatusOr<ServiceMetrics> metrics = ServiceMetrics::Register(
      registry, {[] { return 3.0; }, [] { return 2.0; }, [] { return 1.0; }});
  ASSERT_TRUE(metrics.ok()) << metrics.status().ToString();
  metrics->events_received->Increment(2);
  metrics->runs_started->WithLabels({"billing"}).Increment();
  metrics->runs_completed->WithLabels({"billing"}).Increment();
  metrics->runs_failed->WithLabels({"sync"}).Increment();
  metrics->step_duration->WithLabels({"http"}).ObserveDuration(std::chrono::milliseconds(20));
  metrics->http_requests->WithLabels({"/e/{event_key}", "200"}).Increment();
  std::string text = registry.Render();
  for (std::string line : {
           "# TYPE flowrun_events_received_total counter\nflowrun_events_received_total 2\n",
           "flowrun_runs_started_total{flow=\"billing\"} 1\n",
           "flowrun_runs_completed_total{flow=\"billing\"} 1\n",
           "flowrun_runs_failed_total{flow=\"sync\"} 1\n",
           "# TYPE flowrun_step_duration_seconds histogram\n",
           "flowrun_step_duration_seconds_bucket{action=\"http\",le=\"0.01\"} 0\n",
           "flowrun_step_duration_seconds_bucket{action=\"http\",le=\"0.025\"} 1\n",
           "flowrun_step_duration_seconds_bucket{action=\"http\",le=\"300\"} 1\n",
           "flowrun_step_duration_seconds_sum{action=\"http\"} 0.02\n",
           "flowrun_http_requests_total{route=\"/e/{event_key}\",code=\"200\"} 1\n",
           "# TYPE flowrun_queue_depth gauge\nflowrun_queue_depth 3\n",
           "flowrun_timers_pending 2\n",
           "flowrun_waits_pending 1\n",
       }) {
    EXPECT_THAT(text, HasSubstr(line));
  }
  EXPECT_EQ(ServiceMetrics::Register(registry,
                                     {[] { return 0.0; }, [] { return 0.0; }, [] { return 0.0; }})
                .status()
                .code(),
            StatusCode::kAlreadyExists);
  MetricsRegistry other;
  EXPECT_EQ(ServiceMetrics::Register(other, {}).status().code(), StatusCode::kInvalidArgument);
}

TEST(ServiceMetricsTest, ExportsTheSmtpSessionsAndTheirLimit) {
  MetricsRegistry registry;
  ServiceGaugeSources sources;
  sources.queue_depth = [] { return 0.0; };
  sources.timers_pending = [] { return 0.0; };
  sources.waits_pending = [] { return 0.0; };
  sources.smtp_sessions = [] { return 16.0; };
  sources.smtp_waiting = [] { return 40.0; };
  sources.smtp_max_sessions = 16;
  ASSERT_TRUE(ServiceMetrics::Register(registry, std::move(sources)).ok());
  std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("flowrun_smtp_sessions_in_use 16\n"));
  EXPECT_THAT(text, HasSubstr("flowrun_smtp_messages_waiting 40\n"));
  EXPECT_THAT(text, HasSubstr("flowrun_limit_smtp_max_sessions 16\n"));
}

}  // namespace
}  // namespace flowrun
