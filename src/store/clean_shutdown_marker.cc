#include "store/clean_shutdown_marker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace flowrun::store {
namespace {

// "inode size mtime_seconds mtime_nanoseconds", or empty when the file cannot be read.
std::string Stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  std::ostringstream out;
  out << st.st_ino << ' ' << st.st_size << ' ' << st.st_mtim.tv_sec << ' ' << st.st_mtim.tv_nsec;
  return out.str();
}

void SyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string CleanShutdownMarkerPath(const std::string& db_path) {
  return db_path + ".clean-shutdown";
}

Status WriteCleanShutdownMarker(const std::string& db_path) {
  const std::string stamp = Stamp(db_path);
  if (stamp.empty())
    return UnavailableError("cannot stat " + db_path + ": " + std::strerror(errno));
  const std::string marker = CleanShutdownMarkerPath(db_path);
  int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return UnavailableError("cannot write " + marker + ": " + std::strerror(errno));
  const std::string line = stamp + "\n";
  bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ok = ::fsync(fd) == 0 && ok;
  ::close(fd);
  if (!ok) {
    ::unlink(marker.c_str());
    return UnavailableError("cannot write " + marker);
  }
  SyncDirectoryOf(marker);
  return OkStatus();
}

bool TakeCleanShutdownMarker(const std::string& db_path) {
  const std::string marker = CleanShutdownMarkerPath(db_path);
  std::string recorded;
  {
    std::ifstream in(marker);
    if (!in) return false;
    std::getline(in, recorded);
  }
  ::unlink(marker.c_str());
  SyncDirectoryOf(marker);
  std::error_code ignored;
  const bool leftover_log = std::filesystem::file_size(db_path + "-wal", ignored) > 0 && !ignored;
  return !recorded.empty() && recorded == Stamp(db_path) && !leftover_log;
}

}  // namespace flowrun::store
