// Identifiers for runs and events. Ids derived from their cause (a run from its trigger event and
// flow, an emitted event from its run, step key and index) are deterministic, so replaying a step
// after a crash produces the same id and the store's uniqueness makes the effect happen once.
// Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace flowrun {

// A 32-hex-digit id with a short prefix ("run_", "evt_") derived from `parts`.
std::string DeterministicId(std::string_view prefix, std::initializer_list<std::string_view> parts);

// A random id with the same shape.
std::string RandomId(std::string_view prefix);

// A random UUID v4 string.
std::string RandomUuid();

}  // namespace flowrun
