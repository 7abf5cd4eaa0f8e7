// InstallUnsyncedSqliteVfs: makes every SQLite file the process opens afterwards skip fsync, for
// processes whose SQLite files are all scratch and deleted when they end (`flowrun test`: the
// run store and the cases' databases). Without it a case spends most of its time waiting for
// fsyncs the shared disk serves slowly; nothing is lost, since no file outlives the process.
//
// The VFS wraps the default one and forwards everything except xSync (and the directory sync of
// xDelete). Never install it in a process that writes files meant to survive a crash.
//
// Thread-safety: call before the process opens its first SQLite connection; idempotent.
#pragma once

#include "common/status.h"

namespace flowrun::store {

[[nodiscard]] Status InstallUnsyncedSqliteVfs();

}  // namespace flowrun::store
