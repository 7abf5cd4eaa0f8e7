// The shape every subcommand file follows (CLI11's subcommands-in-files pattern): it defines
//
//   void Setup<Name>Command(CLI::App& app, int& exit_code);
//
// which adds the subcommand with its options struct and a callback that runs it and stores its
// exit code. app.cc lists the Setup functions explicitly, in one place.
#pragma once

#include <CLI/CLI.hpp>

namespace flowrun::cli {

// Exit codes shared by all subcommands.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
// `serve` refused a damaged store file (restore a backup; see docs/operations.md).
inline constexpr int kExitDamagedStore = 3;

void SetupValidateCommand(CLI::App& app, int& exit_code);
void SetupSchemaCommand(CLI::App& app, int& exit_code);
void SetupGraphCommand(CLI::App& app, int& exit_code);
void SetupRunCommand(CLI::App& app, int& exit_code);
void SetupServeCommand(CLI::App& app, int& exit_code);
void SetupSendCommand(CLI::App& app, int& exit_code);
void SetupRunsCommand(CLI::App& app, int& exit_code);
void SetupBackupCommand(CLI::App& app, int& exit_code);
void SetupCheckStoreCommand(CLI::App& app, int& exit_code);
void SetupMigrateCommand(CLI::App& app, int& exit_code);
void SetupNodesCommand(CLI::App& app, int& exit_code);
void SetupTestCommand(CLI::App& app, int& exit_code);

}  // namespace flowrun::cli
