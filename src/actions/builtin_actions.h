// RegisterBuiltinActions: adds flowrun's side-effecting actions (http, email, db) to a registry,
// each built once from the checked config. Adding an action takes its files, one line in
// builtin_actions.cc and its step in schemas/flow.schema.json: the compiler reads the action's
// step key and duration arguments from the schema (flow/step_kinds.h), and
// builtin_actions_test checks that the registry and the schema agree. `flowrun validate` checks
// its arguments (Action::CheckArguments) only once action_argument_checks.cc lists it too.
//
// Thread-safety: call once at start-up, before ActionRegistry::Freeze.
#pragma once

#include <string>

#include "actions/action_registry.h"
#include "actions/email/email_outbox.h"
#include "actions/outbound_loop.h"
#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "config/secrets.h"

namespace flowrun {

// What the actions need besides the config. Every pointer must outlive the registry.
struct BuiltinActionEnvironment {
  // Performs the outbound I/O of http, email and postgres db steps. REQUIRES: started, and stopped
  // by the owner before the registry is destroyed. Null: each action runs a loop of its own.
  OutboundLoop* loop = nullptr;
  const Secrets* secrets = nullptr;          // resolves ${{ secrets.NAME }} in smtp credentials
  EmailOutbox* outbox = nullptr;             // REQUIRES: set when the config has no smtp
  const SecretRedactor* redactor = nullptr;  // redacts action error messages; may be null
  const Clock* clock = nullptr;              // Default: the system clock
  std::string ca_file;  // trust anchors replacing the system CA bundle (tests); empty: system
};

// The outbound loop's limits from the config (http.max_connections_per_host, http.max_connections).
OutboundLoopOptions OutboundLoopFor(const Config& config);

// Cheap readings of the built-in actions' outbound work, for metrics.
struct BuiltinActionStats {
  long long transfers_in_flight = 0;   // HTTP requests in flight (waiting for a connection too)
  long long socket_waits = 0;          // PostgreSQL connections waiting on the server
  long long smtp_sessions_in_use = 0;  // messages in flight to the SMTP server
  long long smtp_waiting = 0;          // messages waiting for an SMTP session
  long long db_statements_queued = 0;  // db statements waiting for a connection or worker
};
// Reads them from the actions in `registry` (those it holds) and from `loop` (may be null).
BuiltinActionStats ReadBuiltinActionStats(const ActionRegistry& registry, const OutboundLoop* loop);

// Errors: a smtp credential naming a missing secret (kNotFound), a missing outbox
// (kFailedPrecondition), an smtp.from that is not an address (kInvalidArgument), a name already
// registered (kAlreadyExists).
[[nodiscard]] Status RegisterBuiltinActions(ActionRegistry& registry, const Config& config,
                                            const BuiltinActionEnvironment& environment);

}  // namespace flowrun
