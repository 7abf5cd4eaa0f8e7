// Ways to damage a SQLite store file in tests, the way a failing disk or a stray tool would:
// overwrite whole pages with garbage, or flip random bits. Also a digest to show a file was not
// written.
//
// Thread-safety: plain file I/O; call while nothing else writes the file.
#pragma once

#include <cstdint>
#include <string>

namespace flowrun::testing {

// Overwrites `count` pages of `page_size` bytes, starting at page index `first` (0-based), with
// pseudo-random bytes from `seed`.
void OverwritePages(const std::string& path, int64_t first, int64_t count, uint32_t seed,
                    int page_size = 4096);

// Flips `flips` bits at pseudo-random positions (from `seed`) after the first page, which holds
// the header (a damaged header is the simpler "not a database" case).
void FlipRandomBits(const std::string& path, int flips, uint32_t seed, int page_size = 4096);

// The file's bytes, for comparing before and after.
std::string ReadWholeFile(const std::string& path);

// Pages in the file.
int64_t PageCount(const std::string& path, int page_size = 4096);

}  // namespace flowrun::testing
