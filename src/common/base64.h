// Base64: standard base64 (RFC 4648 section 4) on OpenSSL's codec.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flowrun {

// Standard base64 with padding, in one line.
std::string Base64Encode(std::string_view bytes);
// Standard base64; the trailing '=' padding may be left out. nullopt for any character outside
// the alphabet (whitespace included), misplaced padding, or an impossible length.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace flowrun
