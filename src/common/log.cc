#include "common/log.h"

#include <cstdio>
#include <exception>
#include <utility>

#include "common/timestamp.h"

namespace flowrun {
namespace {

// What a string becomes when the redaction hook fails: nothing of the original may leak.
constexpr std::string_view kRedactionFailed = "[redaction failed]";

std::string Redact(const LogOptions& options, std::string text) {
  if (!options.redact) return text;
  try {
    return options.redact(std::move(text));
  } catch (...) {
    return std::string(kRedactionFailed);
  }
}

Json RedactStrings(const LogOptions& options, const Json& value) {
  if (value.is_string()) return Redact(options, value.get<std::string>());
  if (value.is_object()) {
    Json out = Json::object();
    for (const auto& [key, member] : value.items()) out[key] = RedactStrings(options, member);
    return out;
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json& element : value) out.push_back(RedactStrings(options, element));
    return out;
  }
  return value;
}

std::string Dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void AppendMember(std::string& line, std::string_view key, const Json& value) {
  line += ',';
  line += Dump(Json(std::string(key)));
  line += ':';
  line += Dump(value);
}

void WriteToStderr(std::string_view line) {
  std::string with_newline(line);
  with_newline += '\n';
  std::fwrite(with_newline.data(), 1, with_newline.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

Logger::Logger(LogOptions options)
    : options_(std::make_shared<const LogOptions>(std::move(options))) {}

void Logger::Configure(LogOptions options) {
  auto next = std::make_shared<const LogOptions>(std::move(options));
  MutexLock lock(options_mu_);
  options_ = std::move(next);
}

std::shared_ptr<const LogOptions> Logger::Snapshot() const {
  MutexLock lock(options_mu_);
  return options_;
}

bool Logger::Enabled(LogLevel level) const { return level >= Snapshot()->min_level; }

std::string Logger::Format(LogLevel level, std::string_view msg, const Json& fields) const {
  return FormatWith(*Snapshot(), level, msg, fields);
}

std::string Logger::FormatWith(const LogOptions& options, LogLevel level, std::string_view msg,
                               const Json& fields) {
  static const SystemClock system_clock;
  const Clock& clock = options.clock != nullptr ? *options.clock : system_clock;
  std::string line = "{\"ts\":";
  line += Dump(Json(FormatTimestamp(clock.Now())));
  line += ",\"level\":";
  line += Dump(Json(std::string(LogLevelName(level))));
  line += ",\"msg\":";
  line += Dump(Json(Redact(options, std::string(msg))));
  if (fields.is_object()) {
    for (const auto& [key, value] : fields.items()) {
      bool reserved = key == "ts" || key == "level" || key == "msg";
      AppendMember(line, reserved ? "field." + key : key, RedactStrings(options, value));
    }
  } else if (!fields.is_null()) {
    AppendMember(line, "fields", RedactStrings(options, fields));
  }
  line += '}';
  return line;
}

void Logger::Log(LogLevel level, std::string_view msg, const Json& fields) {
  std::shared_ptr<const LogOptions> options = Snapshot();
  if (level < options->min_level) return;
  std::string line = FormatWith(*options, level, msg, fields);
  MutexLock lock(write_mu_);
  if (!options->sink) {
    WriteToStderr(line);
    return;
  }
  try {
    options->sink(line);
  } catch (...) {
    // A failing sink must not take the caller down; the line is lost, as with a full disk.
  }
}

Logger& DefaultLogger() {
  static Logger* logger = new Logger();  // never destroyed: threads may log during exit
  return *logger;
}

void Log(LogLevel level, std::string_view msg, const Json& fields) {
  DefaultLogger().Log(level, msg, fields);
}
void LogDebug(std::string_view msg, const Json& fields) {
  DefaultLogger().Log(LogLevel::kDebug, msg, fields);
}
void LogInfo(std::string_view msg, const Json& fields) {
  DefaultLogger().Log(LogLevel::kInfo, msg, fields);
}
void LogWarn(std::string_view msg, const Json& fields) {
  DefaultLogger().Log(LogLevel::kWarn, msg, fields);
}
void LogError(std::string_view msg, const Json& fields) {
  DefaultLogger().Log(LogLevel::kError, msg, fields);
}

}  // namespace flowrun
