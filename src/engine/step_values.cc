#include "engine/step_values.h"

#include <string>

namespace flowrun {

Json StatusError(const Status& status, std::string_view step_id) {
  return Json{{"message", status.message()},
              {"code", std::string(StatusCodeName(status.code()))},
              {"step", std::string(step_id)},
              {"retryable", status.IsRetryable()}};
}

std::optional<TimePoint> TimeField(const Json& object, const char* field) {
  if (!object.is_object() || !object.contains(field) || !object[field].is_number()) {
    return std::nullopt;
  }
  return FromUnixMillis(object[field].get<int64_t>());
}

StatusOr<Duration> AsDuration(const Json& value, std::string_view what) {
  if (value.is_number()) return Duration(static_cast<int64_t>(value.get<double>()));
  if (value.is_string()) {
    auto parsed = ParseDuration(value.get<std::string>());
    if (!parsed.ok()) return parsed.status().WithContext(what);
    return parsed;
  }
  return InvalidArgumentError(std::string(what) + ": expected a duration, got " + value.dump());
}

Json Unwrap(const Json& value, std::initializer_list<const char*> keys) {
  if (!value.is_object()) return value;
  for (const char* key : keys) {
    if (value.contains(key)) return value[key];
  }
  return value;
}

}  // namespace flowrun
