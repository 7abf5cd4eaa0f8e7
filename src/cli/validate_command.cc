// `flowrun validate [paths…] [--format text|json|github]`: checks flows the way CI should.
// Exit codes: 0 all valid (warnings allowed), 1 any error, 2 usage or I/O errors.
#include <unistd.h>

#include <iostream>
#include <memory>

#include "cli/command.h"
#include "interpreter/diagnostic_printer.h"
#include "interpreter/flow_set.h"

namespace flowrun::cli {
namespace {

struct ValidateOptions {
  std::vector<std::string> paths = {"flows"};
  std::string format = "text";
  std::string color = "auto";
};

int RunValidate(const ValidateOptions& options) {
  FlowSet set = LoadFlowSet(options.paths);
  for (const auto& error : set.path_errors) std::cerr << "flowrun validate: " << error << "\n";

  DiagnosticFormat format = options.format == "json"     ? DiagnosticFormat::kJson
                            : options.format == "github" ? DiagnosticFormat::kGithub
                                                         : DiagnosticFormat::kText;
  bool color = options.color == "always" || (options.color == "auto" && isatty(STDOUT_FILENO));
  PrintDiagnostics(std::cout, set.diagnostics, format, set.Sources(), color);

  bool io_error = !set.path_errors.empty();
  size_t errors = 0;
  for (const auto& d : set.diagnostics) {
    if (d.severity == Severity::kError) ++errors;
    if (d.rule == "io") io_error = true;
  }
  if (format == DiagnosticFormat::kText) {
    size_t flows = 0;
    for (const auto& file : set.files) flows += file.is_config ? 0 : 1;
    if (errors == 0 && !io_error) {
      std::cerr << "checked " << set.files.size() << " file(s), " << flows
                << " flow(s): no problems\n";
    } else {
      std::cerr << "checked " << set.files.size() << " file(s): " << errors << " error(s)\n";
    }
  }
  if (io_error) return kExitUsage;
  return errors > 0 ? kExitFailure : kExitOk;
}

}  // namespace

void SetupValidateCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<ValidateOptions>();
  CLI::App* command = app.add_subcommand(
      "validate", "Check flow files: schema, expressions, references, cron, durations");
  command->add_option("paths", options->paths, "Flow files or directories (default: flows)");
  command->add_option("--format", options->format, "Output format")
      ->check(CLI::IsMember({"text", "json", "github"}));
  command->add_option("--color", options->color, "Colored output")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  command->callback([options, &exit_code] { exit_code = RunValidate(*options); });
}

}  // namespace flowrun::cli
