// The resource limits of the expression language, in one place so that the parser, the evaluator
// and the documentation agree. Every limit turns hostile input into a clean error.
//
// Thread-safety: constants.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flowrun::expr {

// The longest expression or template source accepted, in bytes.
inline constexpr size_t kMaxSourceBytes = 64 * 1024;

// The deepest syntactic nesting (parentheses, lists, maps, calls, unary operators, indexes) and
// the tallest syntax tree the parser builds. Bounding the tree bounds every recursion over it.
inline constexpr int kMaxNesting = 128;

// The largest string any operation may produce, in bytes.
inline constexpr size_t kMaxStringBytes = 16 * 1024 * 1024;

// The most elements any operation may put in a list it builds.
inline constexpr size_t kMaxListElements = 1024 * 1024;

// Regular expressions: the longest pattern and the memory RE2 may use to compile one.
inline constexpr size_t kMaxRegexPatternBytes = 4096;
inline constexpr int64_t kMaxRegexMemory = 1024 * 1024;
// RE2 is linear in the text, but when its DFA runs out of memory it falls back to an NFA whose
// cost is the program size times the text length. Matches whose product exceeds this budget are
// refused, so that a large pattern over a long text cannot take minutes.
inline constexpr uint64_t kMaxRegexWork = 100'000'000;

// The longest format_time format string.
inline constexpr size_t kMaxTimeFormatBytes = 256;

}  // namespace flowrun::expr
