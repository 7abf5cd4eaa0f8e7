// Action: the interface of every built-in side-effecting step (http, email, db). One file pair per
// action under src/actions/, listed explicitly in the registry (action_registry.h).
//
// Steps that only touch the run itself (set, log, fail, return, sleep, sleep_until,
// wait_for_event, send_event, invoke) are interpreted by the engine and are not Actions.
//
// Thread-safety: Execute may be called from many threads at once; implementations synchronize
// any shared state (connection pools) themselves.
#pragma once

#include <string>
#include <string_view>

#include "common/duration.h"
#include "common/json.h"
#include "common/status.h"
#include "common/timestamp.h"

namespace flowrun {

// One attempt of one step.
struct ActionRequest {
  std::string run_id;
  std::string step_key;         // stable within the run: "send" or "send[3]"
  std::string idempotency_key;  // "<run id>/<step key>": the same on every attempt
  int attempt = 1;              // 1-based
  Json arguments;               // the step's arguments with every template rendered
  TimePoint deadline;           // the attempt must give up by then (kDeadlineExceeded)
};

class Action {
 public:
  virtual ~Action() = default;

  // The step key that selects this action, e.g. "http".
  virtual std::string_view name() const = 0;

  // Checks the arguments as written in the flow, at compile time, beyond the JSON Schema (for
  // example that a `db` step names a configured database). Strings may still hold templates.
  virtual Status CheckArguments(const Json& raw_arguments) const { return OkStatus(); }

  // Performs one attempt. Blocking. Returns the step's output, or an error whose code carries the
  // retry decision (Status::IsRetryable) and, when the peer asked for one, retry_after_ms.
  virtual StatusOr<Json> Execute(const ActionRequest& request) = 0;
};

}  // namespace flowrun
