#include "testing/store_damage.h"

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace flowrun::testing {

void OverwritePages(const std::string& path, int64_t first, int64_t count, uint32_t seed,
                    int page_size) {
  std::mt19937 random(seed);
  std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
  std::string garbage(static_cast<size_t>(page_size), '\0');
  for (int64_t page = first; page < first + count; ++page) {
    for (char& c : garbage) c = static_cast<char>(random());
    file.seekp(page * page_size);
    file.write(garbage.data(), garbage.size());
  }
}

void FlipRandomBits(const std::string& path, int flips, uint32_t seed, int page_size) {
  const auto size = static_cast<int64_t>(std::filesystem::file_size(path));
  std::mt19937_64 random(seed);
  std::uniform_int_distribution<int64_t> offset(page_size, size - 1);
  std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
  for (int i = 0; i < flips; ++i) {
    const int64_t at = offset(random);
    char byte = 0;
    file.seekg(at);
    file.read(&byte, 1);
    byte = static_cast<char>(byte ^ (1 << (random() % 8)));
    file.seekp(at);
    file.write(&byte, 1);
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int64_t PageCount(const std::string& path, int page_size) {
  return static_cast<int64_t>(std::filesystem::file_size(path)) / page_size;
}

}  // namespace flowrun::testing
