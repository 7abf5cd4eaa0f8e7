// Runs a program as a subprocess and captures its output, for tests that exercise the built
// `flowrun` binary the way a user runs it.
#pragma once

#include <string>
#include <vector>

namespace flowrun::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when the process did not exit normally
  std::string out;
  std::string err;
};

// Runs `argv` (argv[0] is the program path) in `working_dir` (empty: the current directory),
// waits for it, and returns its exit code and output.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::string& working_dir = "");

}  // namespace flowrun::testing
