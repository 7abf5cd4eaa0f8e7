// Conversions the walker makes between step values (rendered arguments, journal records, step
// errors) and C++ types, shared by run_walker.cc and internal_steps.cc.
//
// - StatusError: the error object a failed step records ({message, code, step, retryable}).
// - TimeField: a time a journal record holds as Unix milliseconds; nullopt when absent.
// - AsDuration: a sleep, timeout or delay argument, either a duration string ("5m") or a number
//   of milliseconds; kInvalidArgument naming `what` otherwise.
// - Unwrap: the value of a step written short (`sleep: 72h`), or of the first of `keys` present
//   when written as a mapping (`sleep: {duration: 72h}`).
#pragma once

#include <initializer_list>
#include <optional>
#include <string_view>

#include "common/duration.h"
#include "common/json.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace flowrun {

Json StatusError(const Status& status, std::string_view step_id);
std::optional<TimePoint> TimeField(const Json& object, const char* field);
StatusOr<Duration> AsDuration(const Json& value, std::string_view what);
Json Unwrap(const Json& value, std::initializer_list<const char*> keys);

}  // namespace flowrun
