// Identifiers for runs and events. Ids derived from their cause (a run from its trigger event and
// flow, an emitted event from its run, step key and index) are deterministic, so replaying a step
// after a crash produces the same id and the store's uniqueness makes the effect happen once.
// Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

#include "common/timestamp.h"

namespace flowrun {

// A 32-hex-digit id with a short prefix ("run_", "evt_") derived from `parts`.
std::string DeterministicId(std::string_view prefix, std::initializer_list<std::string_view> parts);

// The same shape, time-ordered: 12 hex digits of `at` in Unix milliseconds, then 20 derived from
// `parts`. Ids made later sort later, so the store's indexes on them grow at their end instead of
// at random places (fewer pages touched per commit).
std::string TimeOrderedId(std::string_view prefix, TimePoint at,
                          std::initializer_list<std::string_view> parts);

// A random id with the same shape, time-ordered like TimeOrderedId: the current time, then 20
// random hex digits.
std::string RandomId(std::string_view prefix);

// A random UUID v4 string.
std::string RandomUuid();

}  // namespace flowrun
