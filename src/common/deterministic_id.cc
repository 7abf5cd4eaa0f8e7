#include "common/deterministic_id.h"

#include <cstdint>
#include <cstdio>
#include <random>
#include <utility>

#include "common/clock.h"
#include "common/thread_annotations.h"

namespace flowrun {
namespace {

// Two independent 64-bit FNV-1a streams give a 128-bit digest: enough to keep ids of distinct
// causes apart; ids are not secrets.
uint64_t Fnv(uint64_t hash, std::string_view data) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

std::string Format(std::string_view prefix, uint64_t high, uint64_t low) {
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return std::string(prefix) + buffer;
}

Mutex random_mu;
// The engine random_mu guards.
std::mt19937_64& Random() FLOWRUN_REQUIRES(random_mu) {
  static std::mt19937_64 engine{std::random_device{}()};
  return engine;
}

// A 128-bit digest of `parts` (each length-prefixed, so part boundaries count).
std::pair<uint64_t, uint64_t> Digest(std::initializer_list<std::string_view> parts) {
  uint64_t a = 0xcbf29ce484222325ULL;
  uint64_t b = 0x84222325cbf29ce4ULL;
  for (std::string_view part : parts) {
    std::string length = std::to_string(part.size()) + ":";
    a = Fnv(Fnv(a, length), part);
    b = Fnv(Fnv(b, part), length);
  }
  return {Mix(a), Mix(b ^ a)};
}

// 12 hex digits of `at` (48 bits of Unix milliseconds), then the low 80 bits of (high, low).
std::string FormatTimeOrdered(std::string_view prefix, TimePoint at, uint64_t high, uint64_t low) {
  const uint64_t millis = static_cast<uint64_t>(ToUnixMillis(at)) & 0xffffffffffffULL;
  return Format(prefix, (millis << 16) | (high & 0xffff), low);
}

}  // namespace

std::string DeterministicId(std::string_view prefix,
                            std::initializer_list<std::string_view> parts) {
  auto [high, low] = Digest(parts);
  return Format(prefix, high, low);
}

std::string TimeOrderedId(std::string_view prefix, TimePoint at,
                          std::initializer_list<std::string_view> parts) {
  auto [high, low] = Digest(parts);
  return FormatTimeOrdered(prefix, at, high, low);
}

std::string RandomId(std::string_view prefix) {
  uint64_t high, low;
  {
    MutexLock lock(random_mu);
    high = Random()();
    low = Random()();
  }
  return FormatTimeOrdered(prefix, SystemClock().Now(), high, low);
}

std::string RandomUuid() {
  uint64_t high, low;
  {
    MutexLock lock(random_mu);
    high = Random()();
    low = Random()();
  }
  high = (high & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buffer[40];
  std::snprintf(buffer, sizeof buffer, "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(high >> 32),
                static_cast<unsigned long long>((high >> 16) & 0xffff),
                static_cast<unsigned long long>(high & 0xffff),
                static_cast<unsigned long long>(low >> 48),
                static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return buffer;
}

}  // namespace flowrun
