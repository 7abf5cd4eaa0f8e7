#include "store/sqlite_backup.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "store/integrity_check.h"
#include "store/store_connection.h"

namespace flowrun::store {
namespace {

Status SyncFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return UnavailableError("cannot open " + path + " to sync it");
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return UnavailableError("cannot sync " + path);
  return OkStatus();
}

void SyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

void RemoveCopy(const std::string& path) {
  std::error_code ignored;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::filesystem::remove(path + suffix, ignored);
  }
}

// Copies `source` into the open `dest` connection.
Status Copy(sqlite::Connection& source, sqlite::Connection& dest, const BackupOptions& options,
            BackupReport& report) {
  sqlite3_backup* backup = sqlite3_backup_init(dest.handle(), "main", source.handle(), "main");
  if (backup == nullptr)
    return StoreSqliteError(dest.handle(), sqlite3_errcode(dest.handle()), "backup");
  const int step_pages = std::max(1, options.pages_per_step);
  int remaining_before = -1;
  int rc = SQLITE_OK;
  for (;;) {
    const bool all = report.restarts >= options.max_restarts;
    report.single_step = report.single_step || all;
    rc = sqlite3_backup_step(backup, all ? -1 : step_pages);
    ++report.steps;
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      // The busy handler already waited busy_timeout_ms for the lock.
      break;
    }
    if (rc != SQLITE_OK) break;
    const int remaining = sqlite3_backup_remaining(backup);
    // The copy starts over (remaining grows back) when another connection wrote in between.
    if (remaining_before >= 0 && remaining > remaining_before) ++report.restarts;
    remaining_before = remaining;
  }
  report.pages = sqlite3_backup_pagecount(backup);
  int finish = sqlite3_backup_finish(backup);
  if (rc == SQLITE_DONE) rc = finish;
  if (rc == SQLITE_OK || rc == SQLITE_DONE) return OkStatus();
  // The error belongs to whichever side failed; the source's message names a damaged store.
  Status status = StoreSqliteError(source.handle(), rc, "copying the store");
  if (status.code() == StatusCode::kInternal)
    status = StoreSqliteError(dest.handle(), rc, "writing");
  return status;
}

}  // namespace

StatusOr<BackupReport> BackupSqliteStore(const std::string& source, const std::string& dest,
                                         const BackupOptions& options) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(source, error)) {
    return NotFoundError("the store " + source + " does not exist (or is not a regular file)");
  }
  if (std::filesystem::exists(dest, error) && !options.overwrite) {
    return AlreadyExistsError(dest + " already exists (use --force to replace it)");
  }
  if (std::filesystem::equivalent(source, dest, error)) {
    return InvalidArgumentError("the backup " + dest + " is the store itself");
  }
  const std::string partial = dest + ".partial";
  RemoveCopy(partial);

  BackupReport report;
  Status status;
  {
    ASSIGN_OR_RETURN(std::unique_ptr<sqlite::Connection> from,
                     OpenStoreConnection(source, /*create=*/false, options.busy_timeout_ms));
    auto to = OpenStoreConnection(partial, /*create=*/true, options.busy_timeout_ms);
    if (!to.ok()) return to.status().WithContext("creating " + partial);
    status = Copy(*from, **to, options, report);
    if (status.ok()) {
      auto problems = CheckIntegrity(**to, IntegrityCheck::kQuick, 5);
      if (!problems.ok()) {
        status = problems.status();
      } else if (!problems->empty()) {
        status = DataLossError("the copy fails PRAGMA quick_check: " + problems->front() +
                               " (is the store itself damaged? run flowrun check-store)");
      }
    }
    // Closing the copy folds its own log into it: the file stands alone.
  }
  if (status.ok()) status = SyncFile(partial);
  if (status.ok()) {
    std::filesystem::rename(partial, dest, error);
    if (error)
      status = UnavailableError("renaming " + partial + " to " + dest + ": " + error.message());
  }
  if (!status.ok()) {
    RemoveCopy(partial);
    return status.WithContext("backing up " + source + " to " + dest);
  }
  SyncDirectoryOf(dest);
  report.bytes = static_cast<int64_t>(std::filesystem::file_size(dest, error));
  return report;
}

}  // namespace flowrun::store
