// `flowrun validate [paths…] [--format text|json|github] [--config FILE]`: checks flows the way
// CI should. With --config, also that every database, secret, SMTP setting and webhook secret
// the flows use is configured (config/flow_config_check.h); a secret counts as configured when
// the config lists it under secrets.env, its secrets file defines it, or, for an environment
// prefix, the variable is set where validate runs.
// Exit codes: 0 all valid (warnings allowed), 1 any error, 2 usage or I/O errors.
#include <unistd.h>

#include <functional>
#include <iostream>
#include <memory>
#include <set>

#include "actions/action_argument_checks.h"
#include "cli/command.h"
#include "config/config.h"
#include "config/flow_config_check.h"
#include "config/secrets.h"
#include "flow/diagnostic_printer.h"
#include "flow/flow_set.h"

namespace flowrun::cli {
namespace {

struct ValidateOptions {
  std::vector<std::string> paths = {"flows"};
  std::string format = "text";
  std::string color = "auto";
  std::string config;
};

// Whether the config's secrets source provides each name (see the file comment).
StatusOr<std::function<bool(const std::string&)>> SecretsOf(const Config& config) {
  SecretsConfig sources = config.secrets;
  std::set<std::string> listed(sources.env_names.begin(), sources.env_names.end());
  sources.env_names.clear();
  auto secrets = Secrets::Load(sources);
  if (!secrets.ok()) return secrets.status();
  return std::function<bool(const std::string&)>(
      [listed, secrets = std::make_shared<Secrets>(std::move(*secrets))](const std::string& name) {
        return listed.count(name) > 0 || secrets->Get(name).has_value();
      });
}

int RunValidate(const ValidateOptions& options) {
  LoadedConfig loaded_config;
  if (!options.config.empty()) loaded_config = LoadConfigFile(options.config);
  // The checks serve makes when it compiles a flow, so that what passes here serves.
  const ActionArgumentChecks action_checks(loaded_config.config ? loaded_config.config->http
                                                                : HttpConfig{});
  // --config checks read the flows' documents afterwards; without it only the text is needed.
  FlowSet set = LoadFlowSet(
      options.paths, action_checks.compile_options(),
      options.config.empty() ? FlowSetContents::kDiagnosticsOnly : FlowSetContents::kEverything);
  for (const auto& error : set.path_errors) std::cerr << "flowrun validate: " << error << "\n";
  if (!options.config.empty()) {
    set.diagnostics.insert(set.diagnostics.end(), loaded_config.diagnostics.begin(),
                           loaded_config.diagnostics.end());
    if (loaded_config.config) {
      auto secret_is_set = SecretsOf(*loaded_config.config);
      if (!secret_is_set.ok()) {
        std::cerr << "flowrun validate: --config " << options.config << ": "
                  << secret_is_set.status().message() << "\n";
        return kExitUsage;
      }
      for (Diagnostic& d :
           CheckFlowsAgainstConfig(set, *loaded_config.config, loaded_config, *secret_is_set)) {
        set.diagnostics.push_back(std::move(d));
      }
    }
  }
  auto sources = set.Sources();
  if (!options.config.empty()) sources[loaded_config.source.path()] = &loaded_config.source;

  DiagnosticFormat format = options.format == "json"     ? DiagnosticFormat::kJson
                            : options.format == "github" ? DiagnosticFormat::kGithub
                                                         : DiagnosticFormat::kText;
  bool color = options.color == "always" || (options.color == "auto" && isatty(STDOUT_FILENO));
  PrintDiagnostics(std::cout, set.diagnostics, format, sources, color);

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
  command->add_option("--config", options->config,
                      "Also check that the databases, secrets, SMTP and webhooks the flows use "
                      "are configured in this flowrun.yaml");
  command->add_option("--color", options->color, "Colored output")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  command->callback([options, &exit_code] { exit_code = RunValidate(*options); });
}

}  // namespace flowrun::cli
