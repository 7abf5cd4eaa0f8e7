#include "testing/power_cut_vfs.h"

#include <sqlite3.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace flowrun::testing {
namespace {

std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

struct PowerCutVfs::File {
  sqlite3_file base;  // first: SQLite sees a File as a sqlite3_file
  PowerCutVfs* owner;
  std::string* path;   // null for temporary files
  sqlite3_file* real;  // the default VFS's file, szOsFile bytes
};

namespace {

using File = PowerCutVfs::File;

File* AsFile(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
PowerCutVfs* Owner(sqlite3_vfs* vfs) { return static_cast<PowerCutVfs*>(vfs->pAppData); }

int FileClose(sqlite3_file* f) {
  File* file = AsFile(f);
  int rc = file->real->pMethods ? file->real->pMethods->xClose(file->real) : SQLITE_OK;
  std::free(file->real);
  delete file->path;
  return rc;
}
int FileRead(sqlite3_file* f, void* buffer, int amount, sqlite3_int64 offset) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xRead(real, buffer, amount, offset);
}
int FileWrite(sqlite3_file* f, const void* buffer, int amount, sqlite3_int64 offset) {
  File* file = AsFile(f);
  if (file->owner->PowerIsOff()) return SQLITE_IOERR_WRITE;
  return file->real->pMethods->xWrite(file->real, buffer, amount, offset);
}
int FileTruncate(sqlite3_file* f, sqlite3_int64 size) {
  File* file = AsFile(f);
  if (file->owner->PowerIsOff()) return SQLITE_IOERR_TRUNCATE;
  return file->real->pMethods->xTruncate(file->real, size);
}
int FileSync(sqlite3_file* f, int flags) { return AsFile(f)->owner->Sync(AsFile(f), flags); }
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xFileSize(real, size);
}
int FileLock(sqlite3_file* f, int level) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xLock(real, level);
}
int FileUnlock(sqlite3_file* f, int level) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xUnlock(real, level);
}
int FileCheckReservedLock(sqlite3_file* f, int* out) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xCheckReservedLock(real, out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xFileControl(real, op, arg);
}
int FileSectorSize(sqlite3_file* f) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xSectorSize(real);
}
int FileDeviceCharacteristics(sqlite3_file* f) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xDeviceCharacteristics(real);
}
int FileShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xShmMap(real, region, size, extend, out);
}
int FileShmLock(sqlite3_file* f, int offset, int n, int flags) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xShmLock(real, offset, n, flags);
}
void FileShmBarrier(sqlite3_file* f) {
  sqlite3_file* real = AsFile(f)->real;
  real->pMethods->xShmBarrier(real);
}
int FileShmUnmap(sqlite3_file* f, int delete_flag) {
  sqlite3_file* real = AsFile(f)->real;
  return real->pMethods->xShmUnmap(real, delete_flag);
}

// Version 2: shared memory for WAL, and no memory-mapped I/O (xFetch), which would bypass xRead.
const sqlite3_io_methods kMethods = {2,
                                     FileClose,
                                     FileRead,
                                     FileWrite,
                                     FileTruncate,
                                     FileSync,
                                     FileSize,
                                     FileLock,
                                     FileUnlock,
                                     FileCheckReservedLock,
                                     FileControl,
                                     FileSectorSize,
                                     FileDeviceCharacteristics,
                                     FileShmMap,
                                     FileShmLock,
                                     FileShmBarrier,
                                     FileShmUnmap,
                                     nullptr,
                                     nullptr};

int VfsOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  return Owner(vfs)->Open(name, AsFile(f), flags, out_flags);
}
int VfsDelete(sqlite3_vfs* vfs, const char* name, int sync_dir) {
  return Owner(vfs)->Delete(name, sync_dir);
}
int VfsAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  sqlite3_vfs* real = Owner(vfs)->real();
  return real->xAccess(real, name, flags, out);
}
int VfsFullPathname(sqlite3_vfs* vfs, const char* name, int size, char* out) {
  sqlite3_vfs* real = Owner(vfs)->real();
  return real->xFullPathname(real, name, size, out);
}
int VfsRandomness(sqlite3_vfs* vfs, int size, char* out) {
  sqlite3_vfs* real = Owner(vfs)->real();
  return real->xRandomness(real, size, out);
}
int VfsSleep(sqlite3_vfs* vfs, int micros) {
  sqlite3_vfs* real = Owner(vfs)->real();
  return real->xSleep(real, micros);
}
int VfsCurrentTime(sqlite3_vfs* vfs, double* out) {
  sqlite3_vfs* real = Owner(vfs)->real();
  return real->xCurrentTime(real, out);
}
int VfsGetLastError(sqlite3_vfs* vfs, int size, char* out) {
  sqlite3_vfs* real = Owner(vfs)->real();
  return real->xGetLastError(real, size, out);
}
int VfsCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  sqlite3_vfs* real = Owner(vfs)->real();
  return real->xCurrentTimeInt64(real, out);
}

}  // namespace

PowerCutVfs::PowerCutVfs() {
  real_ = sqlite3_vfs_find(nullptr);
  shim_ = new sqlite3_vfs{};
  shim_->iVersion = 2;
  shim_->szOsFile = sizeof(File);
  shim_->mxPathname = real_->mxPathname;
  shim_->zName = "power-cut";
  shim_->pAppData = this;
  shim_->xOpen = VfsOpen;
  shim_->xDelete = VfsDelete;
  shim_->xAccess = VfsAccess;
  shim_->xFullPathname = VfsFullPathname;
  shim_->xRandomness = VfsRandomness;
  shim_->xSleep = VfsSleep;
  shim_->xCurrentTime = VfsCurrentTime;
  shim_->xGetLastError = VfsGetLastError;
  shim_->xCurrentTimeInt64 = VfsCurrentTimeInt64;
  sqlite3_vfs_register(shim_, /*makeDflt=*/1);
}

PowerCutVfs::~PowerCutVfs() {
  sqlite3_vfs_unregister(shim_);
  sqlite3_vfs_register(real_, /*makeDflt=*/1);
  delete shim_;
}

void PowerCutVfs::CutAt(int k) {
  std::lock_guard lock(mu_);
  cut_at_ = k;
  syncs_ = 0;
}

int PowerCutVfs::syncs() const {
  std::lock_guard lock(mu_);
  return syncs_;
}

bool PowerCutVfs::cut() const {
  std::lock_guard lock(mu_);
  return cut_;
}

int PowerCutVfs::Open(const char* name, File* file, int flags, int* out_flags) {
  file->base.pMethods = nullptr;
  file->owner = this;
  file->path = nullptr;
  file->real = static_cast<sqlite3_file*>(std::calloc(1, real_->szOsFile));
  if (file->real == nullptr) return SQLITE_NOMEM;
  if (name != nullptr) {
    std::lock_guard lock(mu_);
    if (cut_ && (flags & SQLITE_OPEN_CREATE)) {
      std::free(file->real);
      return SQLITE_IOERR;
    }
    // First seen: what it holds now is durable (a file another era left synced).
    if (!durable_.count(name)) durable_[name] = ReadWholeFile(name);
  }
  int rc = real_->xOpen(real_, name, file->real, flags, out_flags);
  if (rc != SQLITE_OK) {
    if (file->real->pMethods) file->real->pMethods->xClose(file->real);
    std::free(file->real);
    return rc;
  }
  if (name != nullptr) file->path = new std::string(name);
  file->base.pMethods = &kMethods;
  return SQLITE_OK;
}

int PowerCutVfs::Delete(const char* name, int sync_dir) {
  {
    std::lock_guard lock(mu_);
    if (cut_) return SQLITE_IOERR_DELETE;
    durable_[name] = std::nullopt;
  }
  return real_->xDelete(real_, name, sync_dir);
}

int PowerCutVfs::Sync(File* file, int flags) {
  std::lock_guard lock(mu_);
  if (cut_) return SQLITE_IOERR_FSYNC;
  if (cut_at_ > 0 && ++syncs_ == cut_at_) {
    cut_ = true;
    return SQLITE_IOERR_FSYNC;
  }
  if (cut_at_ == 0) ++syncs_;
  int rc = file->real->pMethods->xSync(file->real, flags);
  if (rc == SQLITE_OK && file->path != nullptr) durable_[*file->path] = ReadWholeFile(*file->path);
  return rc;
}

void PowerCutVfs::RestoreDurableState() {
  std::lock_guard lock(mu_);
  for (const auto& [path, content] : durable_) {
    std::error_code ignored;
    if (!content) {
      std::filesystem::remove(path, ignored);
      continue;
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(content->data(), static_cast<std::streamsize>(content->size()));
  }
  for (const auto& [path, content] : durable_) {
    std::error_code ignored;
    std::filesystem::remove(path + "-shm", ignored);
  }
  durable_.clear();
  cut_ = false;
  cut_at_ = 0;
  syncs_ = 0;
}

}  // namespace flowrun::testing
