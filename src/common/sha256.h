// SHA-256 on OpenSSL.
//
// Thread-safety: pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace flowrun {

inline constexpr size_t kSha256Bytes = 32;

// SHA-256 of `data`: kSha256Bytes raw bytes.
std::string Sha256(std::string_view data);
// The same digest as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);

}  // namespace flowrun
