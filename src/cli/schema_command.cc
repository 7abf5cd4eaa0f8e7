// `flowrun schema [--config]`: prints the JSON Schema of flow files (or, with --config, of
// flowrun.yaml) as embedded in this binary, for editors and other tools:
//
//   flowrun schema > flow.schema.json
//   # yaml-language-server: $schema=flow.schema.json
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "common/embedded_files.h"

namespace flowrun::cli {
namespace {

struct SchemaOptions {
  bool config = false;
};

int RunSchema(const SchemaOptions& options) {
  const char* path = options.config ? "schemas/config.schema.json" : "schemas/flow.schema.json";
  auto text = EmbeddedFile(path);
  if (!text) {
    std::cerr << "flowrun schema: " << path << " is not embedded in this binary\n";
    return kExitFailure;
  }
  std::cout << *text;
  if (text->empty() || text->back() != '\n') std::cout << '\n';
  std::cout.flush();
  return std::cout ? kExitOk : kExitFailure;
}

}  // namespace

void SetupSchemaCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<SchemaOptions>();
  CLI::App* command = app.add_subcommand(
      "schema", "Print the JSON Schema (draft-07) of flow files, or of flowrun.yaml with --config");
  command->add_flag("--config", options->config, "Print the schema of the service config instead");
  command->callback([options, &exit_code] { exit_code = RunSchema(*options); });
}

}  // namespace flowrun::cli
