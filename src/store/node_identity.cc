#include "store/node_identity.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/deterministic_id.h"

namespace flowrun::store {
namespace {

namespace fs = std::filesystem;

// More processes than this on one host and one store would be a configuration mistake.
constexpr int kMaxSlots = 64;

std::string ErrnoText() { return std::strerror(errno); }

// Opens (creating) `path` and takes an exclusive flock without waiting. Returns the descriptor;
// -1 with errno EWOULDBLOCK when another process (or another NodeIdentity) holds it.
int TryLock(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;
    ::close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "host";
  std::string host;
  for (char c : std::string(name)) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.') host += c;
    if (host.size() >= 32) break;
  }
  return host.empty() ? "host" : host;
}

std::string GeneratedId() {
  // RandomId starts with the time; its random tail tells nodes apart.
  const std::string random = RandomId("");
  return HostName() + "-" + random.substr(random.size() - 10);
}

StatusOr<std::string> ReadKeptId(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::string();
  std::string id;
  std::getline(in, id);
  return IsValidNodeId(id) ? id : std::string();
}

Status WriteKeptId(const std::string& path, const std::string& id) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << id << "\n";
    out.flush();
    if (!out) return UnavailableError("cannot write the node id to " + temp);
  }
  std::error_code error;
  fs::rename(temp, path, error);
  if (error)
    return UnavailableError("cannot write the node id to " + path + ": " + error.message());
  return OkStatus();
}

}  // namespace

bool IsValidNodeId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != ':' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

std::string NodeStateDir(const std::string& store_url, const std::string& fallback_dir) {
  if (store_url == "sqlite::memory:" || store_url == ":memory:") return "";
  if (store_url.starts_with("postgres://") || store_url.starts_with("postgresql://")) {
    return (fs::path(fallback_dir.empty() ? "." : fallback_dir) / ".flowrun-node").string();
  }
  std::string path = store_url.starts_with("sqlite:") ? store_url.substr(7) : store_url;
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  return (parent / ".flowrun-node").string();
}

StatusOr<std::unique_ptr<NodeIdentity>> NodeIdentity::Acquire(const std::string& state_dir,
                                                              const std::string& explicit_id) {
  if (!explicit_id.empty() && !IsValidNodeId(explicit_id)) {
    return InvalidArgumentError("node id \"" + explicit_id +
                                "\": expected 1 to 64 letters, digits, '.', '_', ':' or '-'");
  }
  if (state_dir.empty()) {
    std::string id = explicit_id.empty() ? GeneratedId() : explicit_id;
    return std::unique_ptr<NodeIdentity>(new NodeIdentity(std::move(id), -1));
  }
  std::error_code error;
  fs::create_directories(state_dir, error);
  if (error) {
    return UnavailableError("cannot create the node state directory " + state_dir + ": " +
                            error.message());
  }
  if (!explicit_id.empty()) {
    const std::string lock = (fs::path(state_dir) / ("id-" + explicit_id + ".lock")).string();
    int fd = TryLock(lock);
    if (fd >= 0) return std::unique_ptr<NodeIdentity>(new NodeIdentity(explicit_id, fd));
    if (errno == EWOULDBLOCK) {
      return FailedPreconditionError("node id \"" + explicit_id +
                                     "\" is in use by another flowrun process on this host; give "
                                     "each node its own node_id");
    }
    return UnavailableError("cannot lock " + lock + ": " + ErrnoText());
  }
  for (int slot = 0; slot < kMaxSlots; ++slot) {
    const fs::path base = fs::path(state_dir) / ("slot-" + std::to_string(slot));
    int fd = TryLock(base.string() + ".lock");
    if (fd < 0) {
      if (errno == EWOULDBLOCK) continue;
      return UnavailableError("cannot lock " + base.string() + ".lock: " + ErrnoText());
    }
    auto kept = ReadKeptId(base.string() + ".id");
    std::string id = kept.ok() ? *kept : std::string();
    if (id.empty()) {
      id = GeneratedId();
      if (Status written = WriteKeptId(base.string() + ".id", id); !written.ok()) {
        ::close(fd);
        return written;
      }
    }
    return std::unique_ptr<NodeIdentity>(new NodeIdentity(std::move(id), fd));
  }
  return FailedPreconditionError("all " + std::to_string(kMaxSlots) + " node slots in " +
                                 state_dir + " are held by running processes");
}

NodeIdentity::~NodeIdentity() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

}  // namespace flowrun::store
