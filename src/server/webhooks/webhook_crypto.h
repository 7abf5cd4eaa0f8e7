// Byte-level primitives for webhook signatures, on OpenSSL: HMAC-SHA256 and a constant-time
// comparison. Bytes travel in std::string. The codecs the verifiers also use (SHA-256, hex,
// base64) are common/'s and come with this header.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base64.h"
#include "common/hex.h"
#include "common/sha256.h"
#include "common/status.h"

namespace flowrun {

// HMAC-SHA256 of the concatenation of `parts` under `key`: 32 raw bytes. Hashing the parts in
// turn spares a copy of a large body. REQUIRES: !key.empty(). Errors (OpenSSL failing, which
// means memory ran out) are kInternal.
StatusOr<std::string> HmacSha256(std::string_view key,
                                 std::initializer_list<std::string_view> parts);

// Whether `a` and `b` hold the same bytes. The time taken depends on the lengths only, never on
// where the contents differ (CRYPTO_memcmp), so comparing a forged signature against the expected
// one reveals nothing about the expected one.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Whether any of `candidates` equals `expected`, each compared with ConstantTimeEquals.
bool ConstantTimeEqualsAny(std::string_view expected, const std::vector<std::string>& candidates);

}  // namespace flowrun
