// Malloc arenas of the long-running service. glibc gives each thread that allocates while another
// holds an arena's lock an arena of its own, up to 8 per core, and memory freed into one arena is
// never reused by another. `flowrun serve` runs a dozen threads or more (workers, HTTP request
// threads, timer, watcher), so each of them ended up holding a partly used heap: 55 of the 75 MB
// the service peaked at in the W1 benchmark. Capping the arenas at one per core keeps a few
// heaps. One per two cores saved at most half a megabyte on 2 cores but made the threads queue on
// the one arena's lock: the W1 no-op rate fell from about 22,000 to 15,000 runs/s.
//
// An operator's own MALLOC_ARENA_MAX (or GLIBC_TUNABLES=glibc.malloc.arena_max=N) wins over the
// cap, to trade memory for allocator concurrency without a rebuild.
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

// Applies MallocArenaLimit(the machine's cores, the process environment) with mallopt. Returns
// the cap it applied; nullopt when the environment decides or the C library is not glibc.
std::optional<int> LimitMallocArenas();

}  // namespace flowrun
