// The flow compiler: turns a loaded flow document into an immutable Program, checking it on the
// way. It runs the JSON Schema (schemas/flow.schema.json) and then the semantic checks that a
// schema cannot express: step ids, references to earlier steps, expressions (parsed once, here),
// variables in scope, durations, cron expressions and time zones, one action per step, waits with
// timeouts. Every problem becomes a located Diagnostic with a rule name from docs/rules.md.
//
// Thread-safety: CompileFlow is a pure function of its inputs; call it from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "flow/diagnostic.h"
#include "flow/program.h"
#include "flow/yaml_loader.h"

namespace flowrun {

struct CompileOptions {
  // The step keys that name an action (ActionRegistry::Names()). A step holding one of them is a
  // StepKind::kAction step. Default (empty): the actions schemas/flow.schema.json declares
  // (SchemaActionNames in step_kinds.h).
  std::vector<std::string> action_names;
  // Checks an action's arguments beyond the schema, for example that a `db` step names a
  // configured database. Called with the action's name for every kAction step. Default: none.
  std::function<Status(std::string_view action, const Json& arguments)> check_action;
  // Only the diagnostics are wanted (`flowrun validate`): no Program is returned, and what only
  // a Program needs, its copy of the document and its revision hash, is not computed. The checks
  // are the same. Default: false.
  bool diagnostics_only = false;
};

struct CompiledFlow {
  // Set only when `diagnostics` holds no errors, and never with `diagnostics_only`.
  std::shared_ptr<const Program> program;
  std::vector<Diagnostic> diagnostics;
};

// Compiles a loaded document. A document with load errors yields those errors and no program.
CompiledFlow CompileFlow(const LoadedDocument& document, const CompileOptions& options = {});

// The keys that select what a leaf step does: `action_names` (empty: SchemaActionNames()), then
// the internal step keys of the StepKinds table.
std::vector<std::string> StepActionKeys(const std::vector<std::string>& action_names);
// The keys of the steps that hold other steps, from the StepKinds table.
std::vector<std::string> StepControlKeys();

}  // namespace flowrun
