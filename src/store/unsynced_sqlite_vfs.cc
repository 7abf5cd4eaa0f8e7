#include "store/unsynced_sqlite_vfs.h"

#include <sqlite3.h>

#include <mutex>

namespace flowrun::store {
namespace {

sqlite3_vfs* real_vfs = nullptr;
sqlite3_vfs unsynced_vfs;
sqlite3_io_methods unsynced_methods;

// Each file is our sqlite3_file header followed by the real VFS's file object.
sqlite3_file* Real(sqlite3_file* file) { return file + 1; }

int Close(sqlite3_file* f) { return Real(f)->pMethods->xClose(Real(f)); }
int Read(sqlite3_file* f, void* buffer, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xRead(Real(f), buffer, amount, offset);
}
int Write(sqlite3_file* f, const void* buffer, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xWrite(Real(f), buffer, amount, offset);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int Sync(sqlite3_file*, int) { return SQLITE_OK; }
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}
int Fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  if (Real(f)->pMethods->iVersion < 3) {
    *out = nullptr;
    return SQLITE_OK;
  }
  return Real(f)->pMethods->xFetch(Real(f), offset, amount, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 offset, void* page) {
  if (Real(f)->pMethods->iVersion < 3) return SQLITE_OK;
  return Real(f)->pMethods->xUnfetch(Real(f), offset, page);
}

int Open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  int rc = real_vfs->xOpen(real_vfs, name, Real(file), flags, out_flags);
  // SQLite calls xClose only when pMethods is set, so a failed open must leave it null.
  file->pMethods = Real(file)->pMethods != nullptr ? &unsynced_methods : nullptr;
  return rc;
}
int Delete(sqlite3_vfs*, const char* name, int) { return real_vfs->xDelete(real_vfs, name, 0); }
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return real_vfs->xAccess(real_vfs, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int size, char* out) {
  return real_vfs->xFullPathname(real_vfs, name, size, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return real_vfs->xDlOpen(real_vfs, name); }
void DlError(sqlite3_vfs*, int size, char* out) { real_vfs->xDlError(real_vfs, size, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return real_vfs->xDlSym(real_vfs, handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { real_vfs->xDlClose(real_vfs, handle); }
int Randomness(sqlite3_vfs*, int size, char* out) {
  return real_vfs->xRandomness(real_vfs, size, out);
}
int Sleep(sqlite3_vfs*, int microseconds) { return real_vfs->xSleep(real_vfs, microseconds); }
int CurrentTime(sqlite3_vfs*, double* out) { return real_vfs->xCurrentTime(real_vfs, out); }
int GetLastError(sqlite3_vfs*, int size, char* out) {
  return real_vfs->xGetLastError(real_vfs, size, out);
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

}  // namespace

Status InstallUnsyncedSqliteVfs() {
  static std::once_flag once;
  static int rc = SQLITE_OK;
  std::call_once(once, [] {
    rc = sqlite3_initialize();
    if (rc != SQLITE_OK) return;
    real_vfs = sqlite3_vfs_find(nullptr);
    if (real_vfs == nullptr || real_vfs->iVersion < 2) {
      rc = SQLITE_ERROR;
      return;
    }
    unsynced_methods = {.iVersion = 3,
                        .xClose = Close,
                        .xRead = Read,
                        .xWrite = Write,
                        .xTruncate = Truncate,
                        .xSync = Sync,
                        .xFileSize = FileSize,
                        .xLock = Lock,
                        .xUnlock = Unlock,
                        .xCheckReservedLock = CheckReservedLock,
                        .xFileControl = FileControl,
                        .xSectorSize = SectorSize,
                        .xDeviceCharacteristics = DeviceCharacteristics,
                        .xShmMap = ShmMap,
                        .xShmLock = ShmLock,
                        .xShmBarrier = ShmBarrier,
                        .xShmUnmap = ShmUnmap,
                        .xFetch = Fetch,
                        .xUnfetch = Unfetch};
    unsynced_vfs = {.iVersion = 2,
                    .szOsFile = static_cast<int>(sizeof(sqlite3_file)) + real_vfs->szOsFile,
                    .mxPathname = real_vfs->mxPathname,
                    .pNext = nullptr,
                    .zName = "flowrun-unsynced",
                    .pAppData = nullptr,
                    .xOpen = Open,
                    .xDelete = Delete,
                    .xAccess = Access,
                    .xFullPathname = FullPathname,
                    .xDlOpen = DlOpen,
                    .xDlError = DlError,
                    .xDlSym = DlSym,
                    .xDlClose = DlClose,
                    .xRandomness = Randomness,
                    .xSleep = Sleep,
                    .xCurrentTime = CurrentTime,
                    .xGetLastError = GetLastError,
                    .xCurrentTimeInt64 = CurrentTimeInt64,
                    .xSetSystemCall = nullptr,
                    .xGetSystemCall = nullptr,
                    .xNextSystemCall = nullptr};
    rc = sqlite3_vfs_register(&unsynced_vfs, /*makeDflt=*/1);
  });
  if (rc != SQLITE_OK) {
    return InternalError(std::string("cannot install the unsynced SQLite VFS: ") +
                         sqlite3_errstr(rc));
  }
  return OkStatus();
}

}  // namespace flowrun::store
