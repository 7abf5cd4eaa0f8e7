// "Did you mean" suggestions: the closest candidate to a misspelled word.
//
// Distance is the optimal-string-alignment form of Damerau-Levenshtein (insertions, deletions,
// substitutions and transpositions of adjacent characters each cost 1), compared without regard
// to ASCII case. Thread-safe, pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace flowrun {

// The edit distance between `a` and `b`, ignoring ASCII case.
size_t EditDistance(std::string_view a, std::string_view b);

// Returns the candidate closest to `word`, or nullopt when none is close enough to be a plausible
// typo. "Close enough" grows with the length of `word`: 1 edit up to 4 characters, 2 up to 8,
// 3 beyond, never more than half the longer word, and always fewer than the length of `word`. A
// candidate equal to `word` except for case counts as close. Ties go to the earlier candidate.
// When nothing is that close, a word of at least 3 characters that begins exactly one candidate
// ("expo" for "exponential") matches it.
std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates);

}  // namespace flowrun
