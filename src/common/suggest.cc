#include "common/suggest.h"

#include <algorithm>

namespace flowrun {
namespace {

char Fold(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

size_t MaxEdits(size_t length) {
  if (length <= 4) return 1;
  if (length <= 8) return 2;
  return 3;
}

}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
  // Three rolling rows of the classic dynamic programme; the row before the previous one is what
  // a transposition looks back to.
  const size_t n = b.size();
  std::vector<size_t> before(n + 1), previous(n + 1), current(n + 1);
  for (size_t j = 0; j <= n; ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= n; ++j) {
      const bool same = Fold(a[i - 1]) == Fold(b[j - 1]);
      current[j] =
          std::min({previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (same ? 0 : 1)});
      if (i > 1 && j > 1 && Fold(a[i - 1]) == Fold(b[j - 2]) && Fold(a[i - 2]) == Fold(b[j - 1])) {
        current[j] = std::min(current[j], before[j - 2] + 1);
      }
    }
    std::swap(before, previous);
    std::swap(previous, current);
  }
  return previous[n];
}

std::optional<std::string> ClosestMatch(std::string_view word,
                                        const std::vector<std::string>& candidates) {
  if (word.empty()) return std::nullopt;
  std::optional<std::string> best;
  size_t best_distance = 0;
  for (const std::string& candidate : candidates) {
    if (candidate.empty()) continue;
    const size_t distance = EditDistance(word, candidate);
    const size_t longer = std::max(word.size(), candidate.size());
    const size_t limit = std::min(MaxEdits(word.size()), longer / 2);
    // At least one character of the word must survive, or any short word would match.
    if (distance > limit || distance >= word.size()) continue;
    if (!best || distance < best_distance) {
      best = candidate;
      best_distance = distance;
    }
  }
  if (best) return best;
  // An abbreviation ("expo" for "exponential") is too many edits away but still plain to see.
  constexpr size_t kMinPrefix = 3;
  if (word.size() < kMinPrefix) return std::nullopt;
  for (const std::string& candidate : candidates) {
    if (candidate.size() <= word.size() ||
        EditDistance(word, candidate.substr(0, word.size())) != 0) {
      continue;
    }
    if (best) return std::nullopt;  // ambiguous
    best = candidate;
  }
  return best;
}

}  // namespace flowrun
