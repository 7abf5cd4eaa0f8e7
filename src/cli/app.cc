#include "cli/app.h"

#include <iostream>

#include "cli/command.h"

namespace flowrun::cli {

int Main(int argc, char** argv) {
  CLI::App app{"flowrun: a durable workflow engine whose workflows are YAML."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "flowrun 0.1.0");
  int exit_code = kExitOk;
  SetupValidateCommand(app, exit_code);
  SetupSchemaCommand(app, exit_code);
  SetupGraphCommand(app, exit_code);
  SetupRunCommand(app, exit_code);
  SetupServeCommand(app, exit_code);
  SetupSendCommand(app, exit_code);
  SetupRunsCommand(app, exit_code);
  SetupBackupCommand(app, exit_code);
  SetupCheckStoreCommand(app, exit_code);
  SetupMigrateCommand(app, exit_code);
  SetupNodesCommand(app, exit_code);
  SetupTestCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return exit_code;
}

}  // namespace flowrun::cli
