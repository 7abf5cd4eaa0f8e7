// Malloc arenas of the long-running service. glibc gives each thread that allocates while another
// holds an arena's lock an arena of its own, up to 8 per core, and memory freed into one arena is
// never reused by another. `flowrun serve` runs a dozen threads or more (workers, HTTP request
// threads, timer, watcher), so each of them ends up holding a partly used heap, most of the
// service's memory. Capping the arenas at one per core keeps a few heaps; fewer make the threads
// queue on an arena's lock (the measurements are in bench/w1_results.md, "Malloc arenas").
//
// An operator's own MALLOC_ARENA_MAX (or GLIBC_TUNABLES=glibc.malloc.arena_max=N) wins over the
// cap, to trade memory for allocator concurrency without a rebuild.
//
// The `flowrun` binary is linked with jemalloc (CMakeLists.txt, FLOWRUN_JEMALLOC), whose malloc
// replaces glibc's: the cap then does not apply, and jemalloc's own MALLOC_CONF tunes it.
//
// Thread-safety: MallocArenaLimit is a pure function. LimitMallocArenas must run before the
// process starts threads (arenas already handed out stay).
#pragma once

#include <functional>
#include <optional>

namespace flowrun {

// Reads an environment variable: its value, or null when unset.
using EnvironmentLookup = std::function<const char*(const char* name)>;

// The arena cap for a machine with `cores` cores: one per core, at least one. nullopt when
// `environment` has MALLOC_ARENA_MAX, or GLIBC_TUNABLES naming glibc.malloc.arena_max, so that
// setting stands.
std::optional<int> MallocArenaLimit(unsigned cores, const EnvironmentLookup& environment);

// Whether the process's malloc is jemalloc's (linked or preloaded): it exports `mallctl`.
bool MallocIsJemalloc();

// Applies MallocArenaLimit(the machine's cores, the process environment) with mallopt. Returns
// the cap it applied; nullopt when the environment decides, the C library is not glibc, or malloc
// is jemalloc's.
std::optional<int> LimitMallocArenas();

}  // namespace flowrun
