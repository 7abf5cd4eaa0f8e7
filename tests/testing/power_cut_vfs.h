// PowerCutVfs: a SQLite VFS over the default one that loses, on demand, every write that was not
// synced, the way SQLite's own crash tests do. It remembers for each file it opens the content
// that is durable: what the file held when first opened (or that it did not exist), replaced by
// the file's whole content at each successful xSync. CutAt(k) makes the k-th sync from then on
// the moment the power goes: that sync fails, and so does every later write, truncate and sync,
// so nothing more reaches the disk. RestoreDurableState, once the connections are closed, puts
// every file back to its durable content, as a machine that reboots finds it, and removes the
// shared-memory index files (-shm), which a reboot loses too.
//
// Deleting a file is taken as durable at once. Files opened without a name (temporary files) are
// passed through and not tracked.
//
// Registered as the process's default VFS while it lives: every connection opened meanwhile
// (the store's, the outbox's) goes through it. One at a time per process.
//
// Thread-safety: the VFS may be used from many threads; CutAt and RestoreDurableState are called
// by the test thread.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>

struct sqlite3_vfs;

namespace flowrun::testing {

class PowerCutVfs {
 public:
  PowerCutVfs();
  ~PowerCutVfs();
  PowerCutVfs(const PowerCutVfs&) = delete;
  PowerCutVfs& operator=(const PowerCutVfs&) = delete;

  // Counts syncs from zero again; the k-th (1-based) cuts the power. 0: never.
  void CutAt(int k);
  // Syncs counted since the last CutAt (the one that cut included).
  int syncs() const;
  // The power was cut and not yet restored.
  bool cut() const;
  // REQUIRES: every connection through the VFS is closed. Restores the durable state (see above),
  // forgets every file, and turns the power back on.
  void RestoreDurableState();

  // Implementation, used by the VFS callbacks.
  struct File;
  int Open(const char* name, File* file, int flags, int* out_flags);
  int Delete(const char* name, int sync_dir);
  int Sync(File* file, int flags);
  bool PowerIsOff() const { return cut(); }
  sqlite3_vfs* real() const { return real_; }

 private:
  sqlite3_vfs* real_ = nullptr;
  sqlite3_vfs* shim_ = nullptr;
  mutable std::mutex mu_;
  int cut_at_ = 0;    // GUARDED_BY(mu_)
  int syncs_ = 0;     // GUARDED_BY(mu_)
  bool cut_ = false;  // GUARDED_BY(mu_)
  // GUARDED_BY(mu_): path -> durable content; nullopt: the file does not durably exist.
  std::map<std::string, std::optional<std::string>> durable_;
};

}  // namespace flowrun::testing
