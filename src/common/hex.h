// Hex: bytes to lower-case hex digits and back.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace flowrun {

// Lower-case hex, two digits per byte.
std::string HexEncode(std::string_view bytes);
// Hex of either case, even length; nullopt for anything else.
std::optional<std::string> HexDecode(std::string_view hex);
// The value of one hex digit of either case (0 to 15); -1 for any other character.
int HexDigitValue(char c);

}  // namespace flowrun
