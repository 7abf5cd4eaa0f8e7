// The `flowrun` command line: builds the CLI11 app, registers one subcommand per file in
// src/cli/, parses and dispatches. Exit codes: 0 success, 1 the command's own failure (an invalid
// flow, a failed run), 2 usage or I/O errors.
#pragma once

namespace flowrun::cli {

int Main(int argc, char** argv);

}  // namespace flowrun::cli
