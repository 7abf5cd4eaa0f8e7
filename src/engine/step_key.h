// Step keys: the stable name of one execution of a step within a run, the step id followed by the
// index of every enclosing `foreach` iteration, outermost first: "send", "send[3]",
// "notify[1][0]". Step ids are unique in a flow, so the key is unique in a run. It names journal
// entries and forms idempotency keys ("<run id>/<step key>"). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace flowrun {

std::string StepKey(std::string_view step_id, const std::vector<int>& loop_indices);

// "<run id>/<step key>": the same on every attempt and after every restart.
std::string IdempotencyKey(std::string_view run_id, std::string_view step_key);

}  // namespace flowrun
