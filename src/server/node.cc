#include "server/node.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <utility>

#include "actions/builtin_actions.h"

namespace flowrun {
namespace {

Status OpenStoreOf(const NodeOptions& options, Node& node) {
  const Config& config = options.config;
  if (options.keep_node_identity) {
    ASSIGN_OR_RETURN(
        node.identity,
        store::NodeIdentity::Acquire(store::NodeStateDir(config.store, config.base_dir),
                                     options.node_id.empty() ? config.node_id : options.node_id));
    node.node_id = node.identity->id();
  } else {
    node.node_id = options.node_id.empty() ? EngineOptions().node_id : options.node_id;
  }
  // A node paused inside a store transaction loses its session (and the row locks the others
  // wait on) after half the takeover time, before its runs are taken over; at least 1 s, so that
  // a busy but live writer is never cut off between two statements.
  const Duration idle_in_transaction =
      std::max<Duration>(config.takeover_after / 2, std::chrono::seconds(1));
  auto opened = store::OpenStore(
      config.store, {.clock = options.clock,
                     .pending_migrations = config.migrate_auto ? store::PendingMigrations::kApply
                                                               : store::PendingMigrations::kRefuse,
                     .idle_in_transaction_timeout = idle_in_transaction});
  if (!opened.ok()) return opened.status().WithContext("opening the store " + config.store);
  node.data_loss = std::move(opened->data_loss);
  node.store = std::move(opened->store);
  node.outbox = std::move(opened->outbox);
  node.wakes = std::move(opened->wakes);
  return OkStatus();
}

Status ReadSecrets(const NodeOptions& options, Node& node) {
  if (options.secrets) {
    node.secrets = std::make_unique<Secrets>(*options.secrets);
  } else {
    auto secrets = Secrets::Load(options.config.secrets);
    if (!secrets.ok()) return secrets.status().WithContext("reading secrets");
    node.secrets = std::make_unique<Secrets>(std::move(*secrets));
  }
  node.redactor = std::make_unique<SecretRedactor>(SecretRedactor::FromObject(node.secrets->All()));
  return OkStatus();
}

Status RegisterActions(const NodeOptions& options, Node& node) {
  node.outbound_loop = std::make_unique<OutboundLoop>(OutboundLoopFor(options.config));
  RETURN_IF_ERROR(node.outbound_loop->Start());
  node.actions = std::make_unique<ActionRegistry>();
  RETURN_IF_ERROR(RegisterBuiltinActions(*node.actions, options.config,
                                         BuiltinActionEnvironment{.loop = node.outbound_loop.get(),
                                                                  .secrets = node.secrets.get(),
                                                                  .outbox = node.outbox.get(),
                                                                  .redactor = node.redactor.get(),
                                                                  .clock = options.clock,
                                                                  .ca_file = ""}));
  node.actions->Freeze();
  return OkStatus();
}

// The FlowRegistry publishes through the engine, which needs the registry first (its catalog):
// `engine` is filled in once the engine exists, before anything is loaded.
Status MakeFlowRegistry(const NodeOptions& options, std::shared_ptr<Engine*> engine, Node& node) {
  const std::string& flows_dir = options.config.flows;
  std::error_code error;
  if (!std::filesystem::is_directory(flows_dir, error)) {
    return NotFoundError("flows directory \"" + flows_dir + "\" does not exist");
  }
  const Secrets* secrets = node.secrets.get();
  node.flows = std::make_unique<FlowRegistry>(
      *node.store,
      FlowRegistryOptions{
          .flows_dir = flows_dir,
          .compile = node.compile_options(),
          .clock = options.clock,
          .publish =
              [engine](const Program& program) { return (*engine)->PublishRevision(program); },
          .secret_is_set =
              [secrets](const std::string& name) { return secrets->Get(name).has_value(); }});
  return OkStatus();
}

}  // namespace

CompileOptions Node::compile_options() const {
  CompileOptions compile;
  compile.action_names = actions->Names();
  compile.check_action = [actions = actions.get()](std::string_view name,
                                                   const Json& arguments) -> Status {
    Action* action = actions->Find(name);
    return action ? action->CheckArguments(arguments) : OkStatus();
  };
  return compile;
}

void Node::Close() {
  engine.reset();
  outbox.reset();
  store.reset();
  identity.reset();
}

void Node::Abandon() {
  (void)engine.release();
  (void)flows.release();
  (void)outbox.release();
  (void)store.release();
  identity.reset();
}

StatusOr<Node> OpenNode(NodeOptions options) {
  Node node;
  RETURN_IF_ERROR(OpenStoreOf(options, node));
  RETURN_IF_ERROR(ReadSecrets(options, node));
  RETURN_IF_ERROR(RegisterActions(options, node));

  auto engine_for_publish = std::make_shared<Engine*>(nullptr);
  const ProgramCatalog* catalog = options.catalog;
  if (!catalog) {
    RETURN_IF_ERROR(MakeFlowRegistry(options, engine_for_publish, node));
    catalog = node.flows.get();
  }

  const LimitsConfig& limits = options.config.limits;
  EngineOptions engine_options = std::move(options.engine);
  engine_options.node_id = node.node_id;
  engine_options.max_inflight_actions = limits.max_inflight_actions;
  engine_options.max_actions_per_run = limits.max_actions_per_run;
  engine_options.max_step_output_bytes = limits.max_step_output_bytes;
  node.engine = std::make_unique<Engine>(
      *node.store, *catalog,
      [actions = node.actions.get()](std::string_view name) { return actions->Find(name); },
      *options.clock, node.secrets.get(), std::move(engine_options));
  *engine_for_publish = node.engine.get();
  return node;
}

}  // namespace flowrun
