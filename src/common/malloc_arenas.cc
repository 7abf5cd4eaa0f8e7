#include "common/malloc_arenas.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string_view>
#include <thread>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace flowrun {

std::optional<int> MallocArenaLimit(unsigned cores, const EnvironmentLookup& environment) {
  if (environment("MALLOC_ARENA_MAX") != nullptr) return std::nullopt;
  const char* tunables = environment("GLIBC_TUNABLES");
  if (tunables != nullptr &&
      std::string_view(tunables).find("glibc.malloc.arena_max") != std::string_view::npos) {
    return std::nullopt;
  }
  return static_cast<int>(cores > 0 ? cores : 1);
}

bool MallocIsJemalloc() { return dlsym(RTLD_DEFAULT, "mallctl") != nullptr; }

std::optional<int> LimitMallocArenas() {
  if (MallocIsJemalloc()) return std::nullopt;
#if defined(__GLIBC__)
  std::optional<int> limit = MallocArenaLimit(std::thread::hardware_concurrency(),
                                              [](const char* name) { return std::getenv(name); });
  if (limit && mallopt(M_ARENA_MAX, *limit) == 1) return limit;
#endif
  return std::nullopt;
}

}  // namespace flowrun
