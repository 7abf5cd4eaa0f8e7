// The resident set size of this process, for benchmarks that report memory.
#pragma once

#include <fstream>
#include <string>

namespace flowrun::bench {

// VmRSS of this process in kB (0 when /proc is not readable).
inline long ProcessRssKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

}  // namespace flowrun::bench
