// Prints the results of `flowrun test`:
//
//   text    per file, one line per case (ok / FAIL and its real time), each failure at
//           `file:line:col` with expected against actual as a line diff; invalid files as
//           diagnostics with a caret; then coverage (with --coverage) and "N passed, N failed".
//   json    one object: {files: [{path, flow, errors, cases: [{name, passed, line, column,
//           duration_ms, failures: [{path, line, column, message, expected, actual}]}],
//           not_executed}], passed, failed, invalid}.
//   junit   JUnit XML: a testsuite per file, a testcase per case, <failure> with the diff, and
//           an <error> test case for an invalid file.
//   github  GitHub Actions annotations (::error file=…,line=…,col=…::…) for each failure, then
//           the summary line.
//
// Thread-safety: pure functions.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "cli/flow_test_runner.h"

namespace flowrun::cli {

enum class TestReportFormat { kText, kJson, kJunit, kGithub };

struct TestTotals {
  int passed = 0;
  int failed = 0;
  int invalid_files = 0;
};

TestTotals CountResults(const std::vector<FileResult>& results);

// The steps of a file's flow that none of its cases executed.
std::vector<FlowStepInfo> NotExecuted(const FileResult& result);

void PrintTestReport(std::ostream& out, const std::vector<FileResult>& results,
                     TestReportFormat format, bool coverage, bool color);

}  // namespace flowrun::cli
