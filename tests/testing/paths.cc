#include "testing/paths.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <vector>

namespace flowrun::testing {
namespace {

std::mutex temp_dirs_mutex;
std::vector<std::string>* temp_dirs = nullptr;

void RemoveTempDirs() {
  std::lock_guard lock(temp_dirs_mutex);
  if (!temp_dirs) return;
  std::error_code ignored;
  for (const auto& dir : *temp_dirs) std::filesystem::remove_all(dir, ignored);
}

}  // namespace

std::string SourceDir() { return FLOWRUN_SOURCE_DIR; }
std::string FlowrunBinary() { return FLOWRUN_BINARY; }

std::string MakeTempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "flowrun-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  std::lock_guard lock(temp_dirs_mutex);
  if (!temp_dirs) {
    temp_dirs = new std::vector<std::string>();
    std::atexit(RemoveTempDirs);
  }
  temp_dirs->push_back(pattern);
  return pattern;
}

}  // namespace flowrun::testing
