// ASCII case for protocol tokens (header names, schemes, keywords), which compare without regard
// to case; bytes outside A-Z are left as they are, whatever the locale.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace flowrun {

// `text` with A-Z turned into a-z.
std::string AsciiLower(std::string_view text);

// True when `a` and `b` are equal once A-Z are turned into a-z.
bool EqualsIgnoringAsciiCase(std::string_view a, std::string_view b);

}  // namespace flowrun
