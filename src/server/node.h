// Node: the composition root. OpenNode wires, once for every caller, the parts that run flows
// on a store: `flowrun serve` (Runtime) adds threads, cron and HTTP around them; `flowrun run`
// drives one run from the command line.
//
//   - the store (Config::store) with its email outbox, data-loss latch and wake-ups from other
//     nodes (store/store_factory.h); pending schema migrations are applied only with
//     Config::migrate_auto;
//   - the node's id, and with NodeOptions::keep_node_identity the lock that keeps it ours;
//   - the secrets (Config::secrets, or NodeOptions::secrets) and the redactor of their values;
//   - the outbound I/O loop and the built-in actions (http, email, db) in a frozen
//     ActionRegistry; compile_options() checks a step's arguments against them;
//   - the programs: a FlowRegistry over Config::flows (not loaded yet: call flows->Reload), or
//     a catalog of the caller's;
//   - the Engine over all of these, with the limits of Config::limits. Nothing is recovered yet:
//     the caller loads its flows, then calls engine->Recover().
//
// Life cycle: the members are declared in dependency order, so destroying a Node closes the
// engine first, then the actions and the outbound loop, then the outbox, and the store last.
// Close and Abandon are for a caller that stops before it is destroyed (Runtime::Shutdown).
//
// Thread-safety: OpenNode may be called from any thread. The parts are thread-safe themselves
// (see their headers); Close and Abandon must not race any use of them.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "actions/action_registry.h"
#include "actions/email/email_outbox.h"
#include "actions/outbound_loop.h"
#include "common/clock.h"
#include "common/secret_redactor.h"
#include "common/status.h"
#include "config/config.h"
#include "config/secrets.h"
#include "engine/engine.h"
#include "engine/program_catalog.h"
#include "flow/compiler.h"
#include "server/flow_registry.h"
#include "store/data_loss_latch.h"
#include "store/node_identity.h"
#include "store/store.h"
#include "store/store_factory.h"

namespace flowrun {

struct NodeOptions {
  // The store, the actions' settings (http, smtp, databases), the secrets, the limits and, for
  // the FlowRegistry, the flows directory.
  Config config;
  // The clock of the store, the engine and the actions. REQUIRES: set; outlives the node.
  const Clock* clock = nullptr;
  // When set, these secrets are used instead of reading Config::secrets.
  std::optional<std::map<std::string, std::string>> secrets;
  // The name of this node's leases. With keep_node_identity (the default): this, else
  // Config::node_id, else an id generated once and kept in the node's state directory beside
  // the store, locked against a second process while the node is open (store/node_identity.h).
  // Without: this id as given (default: EngineOptions's), and nothing is written (a private
  // store, as in `flowrun run`).
  std::string node_id;
  bool keep_node_identity = true;
  // Where the engine finds its programs. Default (null): a FlowRegistry over Config::flows that
  // publishes new revisions through the engine (Node::flows). Otherwise the caller's catalog.
  // REQUIRES: outlives the node.
  ProgramCatalog* catalog = nullptr;
  // The engine's observers and settings (on_work_ready, the metrics observers, log,
  // advance_on_ingest, ...). OpenNode sets node_id and the limits from Config::limits.
  EngineOptions engine;
};

struct Node {
  // Null without NodeOptions::keep_node_identity.
  std::unique_ptr<store::NodeIdentity> identity;
  std::string node_id;
  std::unique_ptr<store::Store> store;
  // Wake-ups from other nodes sharing the store; null when it has none (SQLite).
  std::unique_ptr<store::WakeListener> wakes;
  std::shared_ptr<store::DataLossLatch> data_loss;  // the store's
  std::unique_ptr<EmailOutbox> outbox;
  std::unique_ptr<Secrets> secrets;
  std::unique_ptr<SecretRedactor> redactor;
  // Outbound I/O of the actions (http, email, postgres); started.
  std::unique_ptr<OutboundLoop> outbound_loop;
  std::unique_ptr<ActionRegistry> actions;  // frozen
  // Null with a caller's catalog (NodeOptions::catalog).
  std::unique_ptr<FlowRegistry> flows;
  std::unique_ptr<Engine> engine;

  // Compile options that check each step's arguments against the registered actions.
  CompileOptions compile_options() const;

  // Destroys the engine, then closes the outbox and the store (the store's close is the file's
  // last; see store/clean_shutdown_marker.h), then lets go of the node's id. The flows, actions
  // and secrets stay.
  void Close();
  // For steps still in flight at a deadline, which use them until the process exits: lets go of
  // the engine, flows, outbox and store without destroying them, and frees the node's id for the
  // next process (a late write of those steps is fenced by its lease token).
  void Abandon();
};

// Opens the node's parts as above. Errors: the store's (kDataLoss corrupt, kUnavailable locked,
// kFailedPrecondition newer schema or pending migrations without Config::migrate_auto),
// NodeIdentity::Acquire's, kInvalidArgument for a bad store URL or an unreadable secret
// configuration, the actions' (builtin_actions.h), and kNotFound for a flows directory that does
// not exist (only without a caller's catalog).
[[nodiscard]] StatusOr<Node> OpenNode(NodeOptions options);

}  // namespace flowrun
