// Byte-level primitives for webhook signatures, on OpenSSL: HMAC-SHA256, SHA-256, hex and base64
// codecs, and a constant-time comparison. Bytes travel in std::string.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace flowrun {

inline constexpr size_t kSha256Bytes = 32;

// HMAC-SHA256 of the concatenation of `parts` under `key`: 32 raw bytes. Hashing the parts in
// turn spares a copy of a large body. REQUIRES: !key.empty(). Errors (OpenSSL failing, which
// means memory ran out) are kInternal.
StatusOr<std::string> HmacSha256(std::string_view key,
                                 std::initializer_list<std::string_view> parts);

// SHA-256 of `data`: 32 raw bytes. Errors are kInternal.
StatusOr<std::string> Sha256(std::string_view data);

// Lower-case hex.
std::string HexEncode(std::string_view bytes);
// Hex of either case, even length; nullopt for anything else.
std::optional<std::string> HexDecode(std::string_view hex);

// Standard base64 (RFC 4648 section 4) with padding.
std::string Base64Encode(std::string_view bytes);
// Standard base64; the trailing '=' padding may be left out. nullopt for any character outside
// the alphabet (whitespace included), misplaced padding, or an impossible length.
std::optional<std::string> Base64Decode(std::string_view text);

// Whether `a` and `b` hold the same bytes. The time taken depends on the lengths only, never on
// where the contents differ (CRYPTO_memcmp), so comparing a forged signature against the expected
// one reveals nothing about the expected one.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Whether any of `candidates` equals `expected`, each compared with ConstantTimeEquals.
bool ConstantTimeEqualsAny(std::string_view expected, const std::vector<std::string>& candidates);

}  // namespace flowrun
