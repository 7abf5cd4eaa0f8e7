// FlowTestRunner: runs the cases of `flowrun test` files (flow_test_file.h). Each case gets its
// own in-memory store, a virtual clock starting at the case's start time, scratch SQLite
// databases seeded from SQL, the mock actions of flow_test_actions.h, and the flow under test
// with the flows it invokes (real, or replaced by a mocked result). The trigger event starts the
// run; time then jumps from one due time or timed event to the next until the run ends, nothing
// is left to wake it, or `until` has passed. The expectations are checked afterwards
// (flow_test_expectations.h).
//
// A case that neither ends nor settles is stopped by a wall-clock guard (`case_timeout`) and
// fails with what it was doing, instead of hanging the command; so is an engine that stays due
// without advancing anything.
//
// Thread-safety: one runner per thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "actions/action_argument_checks.h"
#include "flow/diagnostic.h"
#include "flow/flow_set.h"
#include "flow/flow_test_file.h"

namespace flowrun::cli {

// One failed expectation (or a case that could not run), located in the test file.
struct TestFailure {
  SourcePos pos;
  std::string message;
  std::string expected;  // JSON or text; empty when there is nothing to compare
  std::string actual;
};

struct CaseResult {
  std::string name;
  SourcePos pos;  // the case's position in the test file
  std::vector<TestFailure> failures;
  double wall_ms = 0;
  std::set<std::string> executed_steps;  // ids of the flow's steps that ran (not skipped)
  bool passed() const { return failures.empty(); }
};

// A step of the flow under test, for coverage.
struct FlowStepInfo {
  std::string id;
  SourcePos pos;  // in the flow file
};

struct FileResult {
  std::string path;
  std::string flow;
  std::string flow_path;                // the flow file
  std::vector<Diagnostic> diagnostics;  // set when the test file is invalid: no case ran
  std::map<std::string, const SourceText*> sources;  // for printing diagnostics
  std::vector<CaseResult> cases;
  std::vector<FlowStepInfo> steps;  // every step of the flow under test
  bool invalid() const { return HasErrors(diagnostics); }
};

struct FlowTestOptions {
  // Where flows are looked up besides the test file's own directory.
  std::vector<std::string> flows_dirs;
  // The most real time one case may take. Default: 30 s (a case normally takes milliseconds).
  std::chrono::milliseconds case_timeout{30000};
};

class FlowTestRunner {
 public:
  explicit FlowTestRunner(FlowTestOptions options) : options_(std::move(options)) {}

  // Runs every case of the file. Never throws; problems become diagnostics or failures.
  FileResult RunFile(const std::string& path);

 private:
  // The flows of a set of directories, loaded once.
  const FlowSet& FlowsFor(const std::vector<std::string>& dirs);

  const FlowTestOptions options_;
  // Flows are compiled with serve's argument checks: a flow serve would refuse fails its tests.
  const ActionArgumentChecks action_checks_;
  std::map<std::vector<std::string>, std::unique_ptr<FlowSet>> flow_sets_;
  std::vector<std::unique_ptr<FlowTestFile>> files_;  // kept for their sources
};

}  // namespace flowrun::cli
