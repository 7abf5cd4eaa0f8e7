// `flowrun test [PATHS...] [--flows DIR]... [--format text|json|junit|github] [--coverage]
//  [--case-timeout SECONDS]`: runs `*.test.yaml` files (a directory is searched recursively)
// in virtual time with mocks, and reports each failure at `file:line:col` with expected against
// actual. Flows are looked up beside each test file, then under --flows.
//
// Exit codes: 0 every case passed, 1 a case failed, 2 a test file is invalid or a usage error.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli/command.h"
#include "cli/flow_test_report.h"
#include "cli/flow_test_runner.h"
#include "flow/flow_set.h"
#include "store/unsynced_sqlite_vfs.h"

namespace flowrun::cli {
namespace {

namespace fs = std::filesystem;

struct TestOptions {
  std::vector<std::string> paths = {"."};
  std::vector<std::string> flows_dirs;
  std::string format = "text";
  std::string color = "auto";
  bool coverage = false;
  double case_timeout_seconds = 30;
};

// The test files under `paths`, sorted per directory; errors for paths that do not exist.
std::vector<std::string> FindTestFiles(const std::vector<std::string>& paths,
                                       std::vector<std::string>& errors) {
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code error;
    if (fs::is_regular_file(path, error)) {
      files.push_back(path);
      continue;
    }
    if (!fs::is_directory(path, error)) {
      errors.push_back(path + ": no such file or directory");
      continue;
    }
    std::vector<std::string> found;
    fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, error);
    for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      const std::string name = it->path().filename().string();
      if (it->is_directory(error) && (name.starts_with(".") || name == "node_modules")) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(error) && IsTestFileName(name)) found.push_back(it->path().string());
    }
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

int RunTests(const TestOptions& options) {
  std::vector<std::string> errors;
  std::vector<std::string> files = FindTestFiles(options.paths, errors);
  for (const std::string& dir : options.flows_dirs) {
    if (!fs::is_directory(dir)) errors.push_back("--flows " + dir + ": not a directory");
  }
  for (const std::string& error : errors) std::cerr << "flowrun test: " << error << "\n";
  if (!errors.empty()) return kExitUsage;
  if (files.empty()) {
    std::cerr << "flowrun test: no test files (*.test.yaml) found\n";
    return kExitUsage;
  }
  // Every SQLite file of a test run is scratch, deleted when its case ends: fsync only waits.
  if (Status s = store::InstallUnsyncedSqliteVfs(); !s.ok()) {
    std::cerr << "flowrun test: " << s.message() << "\n";
    return kExitUsage;
  }
  FlowTestRunner runner({.flows_dirs = options.flows_dirs,
                         .case_timeout = std::chrono::milliseconds(
                             static_cast<long long>(options.case_timeout_seconds * 1000))});
  std::vector<FileResult> results;
  for (const std::string& file : files) results.push_back(runner.RunFile(file));

  TestReportFormat format = options.format == "json"     ? TestReportFormat::kJson
                            : options.format == "junit"  ? TestReportFormat::kJunit
                            : options.format == "github" ? TestReportFormat::kGithub
                                                         : TestReportFormat::kText;
  bool color = options.color == "always" || (options.color == "auto" && isatty(STDOUT_FILENO));
  PrintTestReport(std::cout, results, format, options.coverage, color);
  TestTotals totals = CountResults(results);
  if (format == TestReportFormat::kJson || format == TestReportFormat::kJunit) {
    std::cerr << totals.passed << " passed, " << totals.failed << " failed\n";
  }
  if (totals.invalid_files > 0) return kExitUsage;
  return totals.failed > 0 ? kExitFailure : kExitOk;
}

}  // namespace

void SetupTestCommand(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<TestOptions>();
  CLI::App* command =
      app.add_subcommand("test", "Run *.test.yaml files: cases with mocks, in virtual time");
  command->add_option("paths", options->paths,
                      "Test files or directories searched for *.test.yaml (default: .)");
  command->add_option("--flows", options->flows_dirs,
                      "Where to find flows besides each test file's directory (repeatable)");
  command->add_option("--format", options->format, "Output format")
      ->check(CLI::IsMember({"text", "json", "junit", "github"}));
  command->add_flag("--coverage", options->coverage, "List the steps that no case executed");
  command
      ->add_option("--case-timeout", options->case_timeout_seconds,
                   "Real seconds one case may take before it fails (default: 30)")
      ->check(CLI::PositiveNumber);
  command->add_option("--color", options->color, "Colored output")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  command->callback([options, &exit_code] { exit_code = RunTests(*options); });
}

}  // namespace flowrun::cli
