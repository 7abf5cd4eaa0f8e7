// Action: the interface of every built-in side-effecting step (http, email, db). Each action lives
// in its own folder under src/actions/ and is listed explicitly in the registry
// (action_registry.h, builtin_actions.cc).
//
// Steps that only touch the run itself (the internal step kinds of flow/step_kinds.h) are
// interpreted by the engine and are not Actions.
//
// Actions are asynchronous: Start hands one attempt to the action and returns without waiting on
// a network; the action calls `done` once the attempt has finished, from whichever thread
// finished it (an I/O loop, a database pool, or the caller's own when the attempt fails before
// anything is sent). The engine keeps thousands of attempts in flight this way, and a run whose
// action is in flight holds no thread.
//
// Thread-safety: Start may be called from many threads at once; implementations synchronize any
// shared state (connection pools, I/O loops) themselves.
#pragma once

#include <functional>
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

// Receives an attempt's request back, unchanged, with its result: the step's output, or an error
// whose code carries the retry decision (Status::IsRetryable) and, when the peer asked for one,
// retry_after_ms. Must be quick and must not block: it runs on the action's I/O thread.
using ActionCallback = std::function<void(ActionRequest request, StatusOr<Json> result)>;

class Action {
 public:
  virtual ~Action() = default;

  // The step key that selects this action, e.g. "http".
  virtual std::string_view name() const = 0;

  // Checks the arguments as written in the flow, at compile time, beyond the JSON Schema (for
  // example that a `db` step names a configured database). Strings may still hold templates.
  virtual Status CheckArguments(const Json& raw_arguments) const { return OkStatus(); }

  // Starts one attempt and returns without waiting for it. `done` is called exactly once, possibly
  // before Start returns, and never after the attempt's deadline has long passed: the action
  // bounds the whole attempt (DNS, connect, the exchange) by request.deadline.
  virtual void Start(ActionRequest request, ActionCallback done) = 0;

  // Starts one attempt and blocks until it is done. For tests and one-off tools: the engine never
  // waits on an action.
  StatusOr<Json> Execute(ActionRequest request);
};

}  // namespace flowrun
