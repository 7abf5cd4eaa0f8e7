#include "common/log.h"

#include <gtest/gtest.h>

#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace flowrun {
namespace {

class FixedClock final : public Clock {
 public:
  TimePoint Now() const override { return FromUnixMillis(1709281800250); }
};

// Collects the lines a logger writes.
class CapturedLines {
 public:
  std::function<void(std::string_view)> Sink() {
    return [this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    };
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

class LogTest : public ::testing::Test {
 protected:
  LogOptions Options() {
    LogOptions options;
    options.sink = captured_.Sink();
    options.clock = &clock_;
    return options;
  }

  FixedClock clock_;
  CapturedLines captured_;
};

TEST_F(LogTest, WritesOneJsonLineWithTimeLevelAndMessageFirst) {
  Logger logger(Options());
  logger.Log(LogLevel::kInfo, "run started", {{"flow", "billing"}, {"attempt", 2}});
  ASSERT_EQ(captured_.lines().size(), 1u);
  EXPECT_EQ(captured_.lines()[0],
            R"({"ts":"2024-03-01T08:30:00.250Z","level":"info","msg":"run started",)"
            R"("attempt":2,"flow":"billing"})");
}

TEST_F(LogTest, EveryLevelHasItsName) {
  LogOptions options = Options();
  options.min_level = LogLevel::kDebug;
  Logger logger(options);
  logger.Log(LogLevel::kDebug, "a");
  logger.Log(LogLevel::kInfo, "b");
  logger.Log(LogLevel::kWarn, "c");
  logger.Log(LogLevel::kError, "d");
  std::vector<std::string> lines = captured_.lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(Json::parse(lines[0])["level"], "debug");
  EXPECT_EQ(Json::parse(lines[1])["level"], "info");
  EXPECT_EQ(Json::parse(lines[2])["level"], "warn");
  EXPECT_EQ(Json::parse(lines[3])["level"], "error");
}

TEST_F(LogTest, DropsLinesBelowTheMinimumLevel) {
  LogOptions options = Options();
  options.min_level = LogLevel::kWarn;
  Logger logger(options);
  EXPECT_FALSE(logger.Enabled(LogLevel::kInfo));
  EXPECT_TRUE(logger.Enabled(LogLevel::kError));
  logger.Log(LogLevel::kDebug, "no");
  logger.Log(LogLevel::kInfo, "no");
  logger.Log(LogLevel::kWarn, "yes");
  logger.Log(LogLevel::kError, "yes");
  EXPECT_EQ(captured_.lines().size(), 2u);
}

TEST_F(LogTest, EscapesQuotesNewlinesAndControlCharacters) {
  Logger logger(Options());
  logger.Log(LogLevel::kError, "bad \"input\"\nline two\t\x01", {{"path", "C:\\tmp"}});
  std::string line = captured_.lines().at(0);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  Json parsed = Json::parse(line);
  EXPECT_EQ(parsed["msg"], "bad \"input\"\nline two\t\x01");
  EXPECT_EQ(parsed["path"], "C:\\tmp");
}

TEST_F(LogTest, ReplacesInvalidUtf8InsteadOfThrowing) {
  Logger logger(Options());
  logger.Log(LogLevel::kInfo, "bytes \xff\xfe", {{"body", std::string("\xc3\x28")}});
  ASSERT_EQ(captured_.lines().size(), 1u);
  Json parsed = Json::parse(captured_.lines()[0]);
  EXPECT_EQ(parsed["msg"], "bytes \xef\xbf\xbd\xef\xbf\xbd");
}

TEST_F(LogTest, RedactsTheMessageAndEveryStringFieldAtAnyDepth) {
  LogOptions options = Options();
  options.redact = [](std::string text) {
    for (size_t at; (at = text.find("s3cr3t")) != std::string::npos;) {
      text.replace(at, 6, "[redacted]");
    }
    return text;
  };
  Logger logger(options);
  logger.Log(LogLevel::kInfo, "token s3cr3t used",
             {{"header", "Bearer s3cr3t"},
              {"nested", {{"list", {"a", "s3cr3t", 7}}, {"deeper", {{"x", "xs3cr3tx"}}}}},
              {"count", 3}});
  std::string line = captured_.lines().at(0);
  EXPECT_EQ(line.find("s3cr3t"), std::string::npos) << line;
  Json parsed = Json::parse(line);
  EXPECT_EQ(parsed["msg"], "token [redacted] used");
  EXPECT_EQ(parsed["header"], "Bearer [redacted]");
  EXPECT_EQ(parsed["nested"]["list"], Json({"a", "[redacted]", 7}));
  EXPECT_EQ(parsed["nested"]["deeper"]["x"], "x[redacted]x");
  EXPECT_EQ(parsed["count"], 3);
}

TEST_F(LogTest, AFailingRedactionHookHidesTheText) {
  LogOptions options = Options();
  options.redact = [](std::string) -> std::string { throw std::runtime_error("boom"); };
  Logger logger(options);
  logger.Log(LogLevel::kInfo, "password=hunter2", {{"k", "hunter2"}});
  std::string line = captured_.lines().at(0);
  EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
  EXPECT_EQ(Json::parse(line)["msg"], "[redaction failed]");
}

TEST_F(LogTest, ReservedFieldNamesAreRenamedNotLost) {
  Logger logger(Options());
  logger.Log(LogLevel::kInfo, "m", {{"msg", "other"}, {"level", 9}, {"ts", "x"}});
  Json parsed = Json::parse(captured_.lines().at(0));
  EXPECT_EQ(parsed["msg"], "m");
  EXPECT_EQ(parsed["level"], "info");
  EXPECT_EQ(parsed["field.msg"], "other");
  EXPECT_EQ(parsed["field.level"], 9);
  EXPECT_EQ(parsed["field.ts"], "x");
}

TEST_F(LogTest, NonObjectFieldsGoUnderFields) {
  Logger logger(Options());
  logger.Log(LogLevel::kInfo, "m", Json::array({1, 2}));
  logger.Log(LogLevel::kInfo, "n", nullptr);
  EXPECT_EQ(Json::parse(captured_.lines().at(0))["fields"], Json::array({1, 2}));
  EXPECT_EQ(captured_.lines().at(1),
            R"({"ts":"2024-03-01T08:30:00.250Z","level":"info","msg":"n"})");
}

TEST_F(LogTest, ConfigureReplacesTheSink) {
  Logger logger(Options());
  logger.Log(LogLevel::kInfo, "first");
  CapturedLines other;
  LogOptions options = Options();
  options.sink = other.Sink();
  logger.Configure(options);
  logger.Log(LogLevel::kInfo, "second");
  EXPECT_EQ(captured_.lines().size(), 1u);
  ASSERT_EQ(other.lines().size(), 1u);
  EXPECT_EQ(Json::parse(other.lines()[0])["msg"], "second");
}

TEST_F(LogTest, FormatMatchesWhatLogWrites) {
  Logger logger(Options());
  std::string formatted = logger.Format(LogLevel::kWarn, "w", {{"a", 1}});
  logger.Log(LogLevel::kWarn, "w", {{"a", 1}});
  EXPECT_EQ(captured_.lines().at(0), formatted);
}

TEST_F(LogTest, LinesFromManyThreadsStayWhole) {
  Logger logger(Options());
  constexpr int kThreads = 4;
  constexpr int kLines = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&logger, t] {
      for (int i = 0; i < kLines; ++i) {
        logger.Log(LogLevel::kInfo, "tick", {{"thread", t}, {"i", i}});
      }
    });
  }
  // Reconfiguring while others log must not tear a line.
  logger.Configure(Options());
  for (std::thread& thread : threads) thread.join();
  std::vector<std::string> lines = captured_.lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kThreads * kLines));
  std::vector<int> per_thread(kThreads, 0);
  for (const std::string& line : lines) {
    Json parsed = Json::parse(line);
    ++per_thread.at(parsed["thread"].get<int>());
  }
  for (int count : per_thread) EXPECT_EQ(count, kLines);
}

TEST_F(LogTest, FreeFunctionsWriteToTheDefaultLogger) {
  DefaultLogger().Configure(Options());
  LogInfo("i", {{"k", "v"}});
  LogWarn("w");
  LogError("e");
  Log(LogLevel::kInfo, "plain");
  LogDebug("dropped at the default level");
  DefaultLogger().Configure({});
  std::vector<std::string> lines = captured_.lines();
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(Json::parse(lines[0])["k"], "v");
  EXPECT_EQ(Json::parse(lines[1])["level"], "warn");
  EXPECT_EQ(Json::parse(lines[2])["level"], "error");
  EXPECT_EQ(Json::parse(lines[3])["msg"], "plain");
}

}  // namespace
}  // namespace flowrun
