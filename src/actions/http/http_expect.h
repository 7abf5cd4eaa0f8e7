// The `expect` argument of an http step: which response statuses count as success. Shared by the
// http action and the http mocks of `flowrun test`, so both judge a status the same way.
//
// Thread-safety: pure functions.
#pragma once

#include <utility>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace flowrun {

// Accepted statuses: a list of [low, high] ranges.
using StatusRanges = std::vector<std::pair<int, int>>;

// Parses `expect`: a status (200), a class ("2xx"), or a list of them; null means 2xx.
// kInvalidArgument for anything else.
StatusOr<StatusRanges> ParseExpect(const Json& expect);

bool Accepted(const StatusRanges& ranges, int status);

// The error for a status outside `expect`: 429 kResourceExhausted and 5xx kUnavailable (both
// retried), any other kFailedPrecondition (final). `message` already names the request.
Status UnexpectedStatusError(int status, std::string message);

}  // namespace flowrun
