// Where tests find the project's files and the built binary.
#pragma once

#include <string>

namespace flowrun::testing {

// The project's source root (holds flows/, schemas/, tests/).
std::string SourceDir();
// The path of the built `flowrun` binary, for tests that run it as a subprocess.
std::string FlowrunBinary();
// A fresh, empty directory under the system temp dir, removed when the process exits.
std::string MakeTempDir();

}  // namespace flowrun::testing
