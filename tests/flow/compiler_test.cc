#include "flow/compiler.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "flow/flow_set.h"
#include "testing/paths.h"

namespace flowrun {
namespace {

namespace fs = std::filesystem;

CompiledFlow Compile(const std::string& yaml) { return CompileFlow(LoadYaml("flow.yaml", yaml)); }

std::string Describe(const std::vector<Diagnostic>& diagnostics) {
  std::ostringstream out;
  for (const auto& d : diagnostics) {
    out << "  " << d.pos.line << ":" << d.pos.column << " [" << d.rule << "] " << d.message << "\n";
  }
  return out.str();
}

// Each file in testdata/invalid starts with `# expect: LINE:COL RULE` lines: exactly those errors
// must be reported.
TEST(CompilerTest, InvalidCorpusReportsEachRuleAtItsPosition) {
  fs::path dir = fs::path(testing::SourceDir()) / "tests/flow/testdata/invalid";
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 40u);
  std::set<std::string> rules_covered;
  std::regex expect_line(R"(# expect: (\d+):(\d+) ([a-z-]+))");
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    std::ifstream in(file);
    std::string line;
    std::vector<std::tuple<int, int, std::string>> expected;
    while (std::getline(in, line)) {
      std::smatch m;
      if (!std::regex_search(line, m, expect_line)) break;
      expected.emplace_back(std::stoi(m[1]), std::stoi(m[2]), m[3]);
    }
    ASSERT_FALSE(expected.empty()) << "no # expect line";
    CompiledFlow compiled = CompileFlow(LoadYamlFile(file.string()));
    EXPECT_EQ(compiled.program, nullptr);
    std::vector<std::tuple<int, int, std::string>> actual;
    for (const auto& d : compiled.diagnostics) {
      if (d.severity == Severity::kError) actual.emplace_back(d.pos.line, d.pos.column, d.rule);
      EXPECT_EQ(d.path, file.string());
      EXPECT_FALSE(d.message.empty());
    }
    EXPECT_EQ(actual, expected) << Describe(compiled.diagnostics);
    for (const auto& e : expected) rules_covered.insert(std::get<2>(e));
  }
  // Every rule that a single file can trigger has a case.
  for (const char* rule : {"syntax",
                           "duplicate-key",
                           "merge-key",
                           "unquoted-template",
                           "unknown-key",
                           "required-key",
                           "type",
                           "schema",
                           "missing-action",
                           "multiple-actions",
                           "duplicate-step-id",
                           "step-reference",
                           "expression",
                           "unknown-variable",
                           "unknown-function",
                           "arity",
                           "duration",
                           "cron",
                           "timezone",
                           "wait-timeout",
                           "flow-control"}) {
    EXPECT_TRUE(rules_covered.count(rule)) << "no invalid case for rule " << rule;
  }
}

TEST(CompilerTest, BundledFlowsCompile) {
  fs::path dir = fs::path(testing::SourceDir()) / "flows";
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml" || IsTestFileName(entry.path().string())) continue;
    SCOPED_TRACE(entry.path().filename().string());
    CompiledFlow compiled = CompileFlow(LoadYamlFile(entry.path().string()));
    EXPECT_NE(compiled.program, nullptr) << Describe(compiled.diagnostics);
    ++count;
  }
  EXPECT_GE(count, 12u);
}

TEST(CompilerTest, BuildsTheProgramTree) {
  CompiledFlow compiled = Compile(R"(
id: demo
on:
  - event: shop/*
    if: event.data.total > 10
  - cron: "0 9 * * MON"
    timezone: Europe/Berlin
idempotency: {key: event.data.orderId, window: 7d}
concurrency: {limit: 2, key: event.data.userId}
cancel_on:
  - event: shop/refunded
    match: data.orderId
timeout: 30d
retry: {attempts: 3, delay: 10s}
steps:
  - id: fetch
    http: {url: "https://api.example.com/users/${{ event.data.userId }}"}
    retry: {attempts: 2}
    on_error: continue
  - id: wait
    wait_for_event: {event: user/confirmed, match: data.userId, timeout: 48h}
  - id: route
    switch:
      cases:
        - when: steps.wait.output != null
          steps:
            - id: ok
              log: "confirmed ${{ steps.fetch.output.body.name }}"
      default:
        - id: reminder
          log: reminder
  - id: each
    foreach:
      items: event.data.items
      as: item
      concurrency: 4
      steps:
        - id: line
          set: {last: "${{ item.sku }}"}
  - id: done
    return: "${{ steps.ok.output }}"
on_failure:
  - id: alert
    log: "${{ error.message }}"
)");
  ASSERT_NE(compiled.program, nullptr) << Describe(compiled.diagnostics);
  const Program& p = *compiled.program;
  EXPECT_EQ(p.flow_id, "demo");
  EXPECT_EQ(p.revision.size(), 16u);
  ASSERT_EQ(p.event_triggers.size(), 1u);
  EXPECT_TRUE(p.event_triggers[0].Matches("shop/order.created"));
  EXPECT_FALSE(p.event_triggers[0].Matches("billing/x"));
  ASSERT_EQ(p.cron_triggers.size(), 1u);
  EXPECT_EQ(p.cron_triggers[0].schedule.timezone(), "Europe/Berlin");
  EXPECT_EQ(p.idempotency_window, std::chrono::hours(24 * 7));
  EXPECT_EQ(p.concurrency_limit, 2);
  ASSERT_EQ(p.cancel_on.size(), 1u);
  ASSERT_TRUE(p.cancel_on[0].condition.has_value());
  EXPECT_EQ(p.cancel_on[0].condition->source(), "async.data.orderId == event.data.orderId");
  EXPECT_EQ(p.timeout, std::chrono::hours(24 * 30));
  EXPECT_EQ(p.retry.attempts, 3);
  ASSERT_EQ(p.steps.size(), 5u);
  EXPECT_EQ(p.steps[0].action, "http");
  EXPECT_EQ(p.steps[0].retry->attempts, 2);
  EXPECT_EQ(p.steps[0].on_error.mode, OnError::Mode::kContinue);
  EXPECT_TRUE(p.steps[1].wait_condition.has_value());
  EXPECT_TRUE(p.steps[1].wait_condition->AsAsyncEquality().has_value());
  EXPECT_EQ(p.steps[2].kind, CompiledStep::Kind::kSwitch);
  EXPECT_EQ(p.steps[2].cases.size(), 1u);
  EXPECT_EQ(p.steps[2].default_steps.size(), 1u);
  EXPECT_EQ(p.steps[3].kind, CompiledStep::Kind::kForeach);
  EXPECT_EQ(p.steps[3].concurrency, 4);
  EXPECT_EQ(p.steps[3].loop_variable, "item");
  EXPECT_EQ(p.on_failure.size(), 1u);
}

TEST(CompilerTest, CompilesEveryFlowControlKey) {
  CompiledFlow compiled = Compile(R"(
id: controlled
on: {event: doc/edited}
concurrency:
  - {limit: 5, key: event.data.accountId}
  - {limit: 50}
throttle: {limit: 10, period: 1m, burst: 2, key: event.data.accountId}
rate_limit: {limit: 3, period: 24h, key: event.data.userId}
debounce: {period: 5m, key: event.data.docId, timeout: 30m}
priority: {run: "event.data.plan == 'pro' ? 120 : 0"}
singleton: {key: event.data.userId, mode: cancel}
steps:
  - id: a
    log: hi
)");
  ASSERT_NE(compiled.program, nullptr) << Describe(compiled.diagnostics);
  const Program& p = *compiled.program;
  EXPECT_EQ(p.concurrency_limit, 5);
  ASSERT_TRUE(p.concurrency_key.has_value());
  ASSERT_EQ(p.flow_control.extra_concurrency.size(), 1u);
  EXPECT_EQ(p.flow_control.extra_concurrency[0].limit, 50);
  EXPECT_FALSE(p.flow_control.extra_concurrency[0].key.has_value());
  ASSERT_TRUE(p.flow_control.throttle.has_value());
  EXPECT_EQ(p.flow_control.throttle->limit, 10);
  EXPECT_EQ(p.flow_control.throttle->period, std::chrono::minutes(1));
  EXPECT_EQ(p.flow_control.throttle->burst, 2);
  ASSERT_TRUE(p.flow_control.rate_limit.has_value());
  EXPECT_EQ(p.flow_control.rate_limit->burst, 3);  // a rate limit lets `limit` start at once
  ASSERT_TRUE(p.flow_control.debounce.has_value());
  EXPECT_EQ(p.flow_control.debounce->timeout, std::chrono::minutes(30));
  EXPECT_TRUE(p.flow_control.priority.has_value());
  ASSERT_TRUE(p.flow_control.singleton.has_value());
  EXPECT_EQ(p.flow_control.singleton->mode, SingletonRule::Mode::kCancel);
  EXPECT_TRUE(p.flow_control.DecidedAtCreation());
}

TEST(CompilerTest, BatchMakesEventsAvailableToSteps) {
  CompiledFlow compiled = Compile(R"(
id: batched
on: {event: webhook/received}
batch: {max_size: 100, timeout: 5s, key: event.data.tenant}
steps:
  - id: write
    log: "${{ size(events) }} events, first ${{ event.id }}"
on_failure:
  - id: alert
    log: "${{ size(events) }}"
)");
  ASSERT_NE(compiled.program, nullptr) << Describe(compiled.diagnostics);
  ASSERT_TRUE(compiled.program->flow_control.batch.has_value());
  EXPECT_EQ(compiled.program->flow_control.batch->max_size, 100);
  EXPECT_EQ(compiled.program->flow_control.batch->timeout, std::chrono::seconds(5));
}

TEST(CompilerTest, RejectsHostileFlowControlValues) {
  for (const char* yaml : {
           "id: x\nconcurrency: []\nsteps: [{id: a, log: hi}]\n",
           "id: x\nconcurrency: [{limit: 0}]\nsteps: [{id: a, log: hi}]\n",
           "id: x\nconcurrency: [{limit: 1}, {limit: 1, key: a}, {limit: 1, key: b}, {limit: 1, "
           "key: c}, {limit: 1, key: d}]\nsteps: [{id: a, log: hi}]\n",
           "id: x\nthrottle: {limit: -1, period: 1m}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nthrottle: {limit: 99999999999, period: 1m}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nthrottle: {limit: 1, period: 30d}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nthrottle: {limit: 1}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nrate_limit: {limit: 1, period: 1m, burst: 2}\nsteps: [{id: a, log: hi}]\n",
           "id: x\ndebounce: {key: event.data.a}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nbatch: {max_size: 1001, timeout: 5s}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nbatch: {max_size: 10, timeout: 2h}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nbatch: {max_size: 10, timeout: 5s}\ndebounce: {period: 1m}\nsteps: [{id: a, "
           "log: hi}]\n",
           "id: x\npriority: 120\nsteps: [{id: a, log: hi}]\n",
           "id: x\npriority: {run: \"event.data.plan ==\"}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nsingleton: {key: event.data.a}\nsteps: [{id: a, log: hi}]\n",
           "id: x\nsingleton: {key: \"events\", mode: skip}\nsteps: [{id: a, log: hi}]\n",
       }) {
    SCOPED_TRACE(yaml);
    CompiledFlow compiled = Compile(yaml);
    EXPECT_EQ(compiled.program, nullptr);
    ASSERT_FALSE(compiled.diagnostics.empty());
    EXPECT_GT(compiled.diagnostics.front().pos.line, 0);
  }
}

TEST(CompilerTest, RevisionIgnoresFormattingButNotMeaning) {
  auto a = Compile("id: r\nsteps:\n  - id: a\n    log: hi\n");
  auto b = Compile("# comment\nid: r\nsteps: [{id: a, log: hi}]\n");
  auto c = Compile("id: r\nsteps:\n  - id: a\n    log: hello\n");
  ASSERT_TRUE(a.program && b.program && c.program);
  EXPECT_EQ(a.program->revision, b.program->revision);
  EXPECT_NE(a.program->revision, c.program->revision);
}

TEST(CompilerTest, AcceptsTemplatesInBareFieldsAndHandlerScopes) {
  auto compiled = Compile(R"(
id: scopes
steps:
  - id: a
    if: "${{ event.data.ok == true }}"
    http: {url: "https://example.com"}
    on_error:
      - id: compensate
        log: "${{ error.message }} in ${{ steps.a.status }}"
  - id: b
    log: "${{ steps.compensate.output }}"
)");
  EXPECT_NE(compiled.program, nullptr) << Describe(compiled.diagnostics);
}

TEST(CompilerTest, SuggestsCloseNames) {
  auto compiled = Compile(R"(
id: hints
steps:
  - id: fetch-user
    log: hi
  - id: b
    log: "${{ steps.fetch-usr.output }}"
)");
  ASSERT_EQ(compiled.diagnostics.size(), 1u);
  EXPECT_EQ(compiled.diagnostics[0].hint, "did you mean \"fetch-user\"?");
}

TEST(CompilerTest, CallsTheActionArgumentCheck) {
  CompileOptions options;
  options.check_action = [](std::string_view action, const Json& args) {
    if (action == "db" && args.value("database", "") != "app") {
      return InvalidArgumentError("unknown database \"" + args.value("database", "") + "\"");
    }
    return OkStatus();
  };
  auto compiled = CompileFlow(
      LoadYaml("f.yaml", "id: db\nsteps:\n  - id: q\n    db: {database: crm, sql: SELECT 1}\n"),
      options);
  ASSERT_EQ(compiled.diagnostics.size(), 1u) << Describe(compiled.diagnostics);
  EXPECT_EQ(compiled.diagnostics[0].message, "unknown database \"crm\"");
  EXPECT_EQ(compiled.diagnostics[0].pos, (SourcePos{4, 5}));
}

}  // namespace
}  // namespace flowrun
