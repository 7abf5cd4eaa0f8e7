// The resident set size of this process, for benchmarks that report memory.
#pragma once

#include <fstream>
#include <string>

namespace flowrun::bench {

// A field of /proc/self/status in kB ("VmRSS:", "VmHWM:"); 0 when /proc is not readable.
inline long ProcessStatusKb(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(field.size()));
  }
  return 0;
}

// VmRSS of this process in kB (0 when /proc is not readable).
inline long ProcessRssKb() { return ProcessStatusKb("VmRSS:"); }

// The peak resident set size of this process (VmHWM) in kB (0 when /proc is not readable).
inline long ProcessPeakRssKb() { return ProcessStatusKb("VmHWM:"); }

}  // namespace flowrun::bench
