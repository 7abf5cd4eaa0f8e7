// The clean-shutdown marker: a small file next to the store (`<store>.clean-shutdown`) written
// when the store closes cleanly and taken (read and removed) when it opens. It records the size,
// modification time and inode of the store file as the clean close left it.
//
// Why a file and not a row in the store: a row cannot tell that the file was changed after the
// clean close (a restore copied over it, a disk or tool overwrote pages), and reading it already
// trusts the file. The marker matches only when the last close was clean AND the file is
// byte-for-byte where that close left it as far as the filesystem can tell (same inode, size and
// mtime, no write-ahead log left over). Anything else, including a missing marker after a crash,
// makes the next open run `PRAGMA quick_check`. Removal is made durable (the directory is synced)
// before the store is written, so a crash after open never leaves a stale marker.
//
// Thread-safety: free functions on files; one store file is opened by one process at a time.
#pragma once

#include <string>

#include "common/status.h"

namespace flowrun::store {

// "<db_path>.clean-shutdown".
std::string CleanShutdownMarkerPath(const std::string& db_path);

// Records that `db_path` was closed cleanly. REQUIRES: every connection to it is closed.
[[nodiscard]] Status WriteCleanShutdownMarker(const std::string& db_path);

// True when the marker exists and matches `db_path` as it is now; removes the marker in any case.
// Never fails: an unreadable marker is treated as absent.
bool TakeCleanShutdownMarker(const std::string& db_path);

}  // namespace flowrun::store
