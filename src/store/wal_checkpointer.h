// WalCheckpointer: moves a SQLite database's write-ahead log back into the database file on a
// thread of its own, instead of SQLite's automatic checkpoint, which runs inside whichever commit
// crosses the threshold and adds the copy and its fsyncs to that commit's latency.
//
// Attach() replaces the writer connection's automatic checkpoint with a hook that wakes the
// checkpointer after a commit leaves `threshold_pages` or more in the log. The checkpointer then
// runs a PASSIVE checkpoint on its own connection: it copies what no reader still needs and
// never blocks the writer or the readers. When the writer keeps outrunning it and the log reaches
// 4 x threshold_pages, the hook makes that commit checkpoint itself (as SQLite would), so the log
// stays bounded.
//
// Thread-safety: Attach is called once, before the writer is used; the hook runs on the writer's
// thread. The destructor stops the thread (call it before closing the writer connection).
#pragma once

#include <sqlite3.h>

#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "store/store_connection.h"

namespace flowrun::store {

class WalCheckpointer {
 public:
  // Opens the checkpointer's own connection to `path`.
  [[nodiscard]] static StatusOr<std::unique_ptr<WalCheckpointer>> Open(const std::string& path,
                                                                       int threshold_pages);
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;
  ~WalCheckpointer();

  // Takes over checkpointing for `writer` (a connection to the same database in WAL mode).
  void Attach(sqlite3* writer);
  // Checkpoints run so far by the thread (for tests).
  int64_t checkpoints() const;

 private:
  WalCheckpointer(std::unique_ptr<sqlite::Connection> db, int threshold_pages);
  static int OnCommit(void* self, sqlite3* db, const char* name, int pages);
  void Loop();

  std::unique_ptr<sqlite::Connection> db_;
  const int threshold_pages_;
  mutable Mutex mu_;
  std::condition_variable wake_;
  bool pending_ FLOWRUN_GUARDED_BY(mu_) = false;
  bool stopping_ FLOWRUN_GUARDED_BY(mu_) = false;
  int64_t checkpoints_ FLOWRUN_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace flowrun::store
