// Structured logs: one JSON object per line,
//   {"ts":"2024-03-01T08:30:00.250Z","level":"info","msg":"run started","flow":"billing"}
// with the time, the level and the message first, then the caller's fields in key order.
//
// A Logger writes to a sink (stderr by default) and passes the message and every string in the
// fields, at any depth, through a redaction hook first, so that secrets never reach a log. The
// free functions Log/LogInfo/LogWarn/LogError write to the process-wide DefaultLogger().
//
// Thread-safety: a Logger is safe to use from many threads; each line reaches the sink whole,
// never interleaved with another. Configure may run concurrently with logging: a line uses either
// the old or the new options, never a mix. The sink and the hook are called from the logging
// thread; the sink is called with the logger's write lock held, so it must not log.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/json.h"
#include "common/thread_annotations.h"

namespace flowrun {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

// "debug", "info", "warn", "error".
std::string_view LogLevelName(LogLevel level);

struct LogOptions {
  // Lines below this level are dropped. Default: kInfo.
  LogLevel min_level = LogLevel::kInfo;
  // Receives each line, without its trailing newline. Default (empty): stderr, one line each.
  std::function<void(std::string_view line)> sink;
  // Applied to the message and to every string value in the fields. Default (empty): none.
  std::function<std::string(std::string)> redact;
  // Where "ts" comes from. Default (null): the system clock. REQUIRES: outlives the logger.
  const Clock* clock = nullptr;
};

class Logger {
 public:
  explicit Logger(LogOptions options = {});
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Replaces the options for the lines that follow.
  void Configure(LogOptions options);

  bool Enabled(LogLevel level) const;

  // Writes one line. `fields` is normally an object whose members follow "msg"; members named
  // ts, level or msg are renamed field.ts, field.level and field.msg rather than dropped. Any
  // other non-null value is written as "fields". Invalid UTF-8 is replaced, never thrown.
  void Log(LogLevel level, std::string_view msg, const Json& fields = Json::object());

  // The line Log would write, without writing it; for tests and for callers with their own sink.
  std::string Format(LogLevel level, std::string_view msg, const Json& fields) const;

 private:
  std::shared_ptr<const LogOptions> Snapshot() const;
  static std::string FormatWith(const LogOptions& options, LogLevel level, std::string_view msg,
                                const Json& fields);

  mutable Mutex options_mu_;
  std::shared_ptr<const LogOptions> options_ FLOWRUN_GUARDED_BY(options_mu_);  // never null
  Mutex write_mu_;  // serializes calls to the sink
};

// The process-wide logger used by the free functions below.
Logger& DefaultLogger();

void Log(LogLevel level, std::string_view msg, const Json& fields = Json::object());
void LogDebug(std::string_view msg, const Json& fields = Json::object());
void LogInfo(std::string_view msg, const Json& fields = Json::object());
void LogWarn(std::string_view msg, const Json& fields = Json::object());
void LogError(std::string_view msg, const Json& fields = Json::object());

}  // namespace flowrun
