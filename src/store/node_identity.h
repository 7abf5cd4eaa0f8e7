// NodeIdentity: the id that names one flowrun process's leases in a shared store, so that a
// restarting node's recovery releases only its own leases and no two live processes ever hold
// leases under the same name.
//
// Where the id comes from, first match wins:
//   1. an explicit id (`--node-id`, or `node_id` in the config);
//   2. an id generated once and kept in the node's state directory (NodeStateDir): a folder
//      `.flowrun-node/` beside the SQLite file, or in the config's directory for other stores.
//      It holds slots `slot-N.id` (the kept id) guarded by `slot-N.lock`; a process takes the
//      first slot whose lock is free, so a restarted node gets its previous id back while a second
//      process started beside it gets another.
// Either way the process holds an exclusive file lock (flock) for as long as the NodeIdentity
// lives: a second process on this host with the same explicit id is refused (kFailedPrecondition).
//
// Thread-safety: a NodeIdentity is immutable after Acquire; destroy it after the store is closed.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace flowrun::store {

// The node state directory for a store URL: `<dir of the SQLite file>/.flowrun-node`, or
// `<fallback_dir>/.flowrun-node` for a store that is not a file (PostgreSQL). Empty for a private
// temporary store ("sqlite::memory:"), which no other process can share.
std::string NodeStateDir(const std::string& store_url, const std::string& fallback_dir);

class NodeIdentity {
 public:
  // Resolves the id as described above. `explicit_id` may be empty. With an empty `state_dir`
  // and no explicit id, a fresh random id is used and nothing is kept.
  // Errors: kInvalidArgument for an explicit id outside [A-Za-z0-9._:-]{1,64};
  // kFailedPrecondition when another live process holds the same id; kUnavailable when the state
  // directory cannot be written.
  [[nodiscard]] static StatusOr<std::unique_ptr<NodeIdentity>> Acquire(
      const std::string& state_dir, const std::string& explicit_id);
  ~NodeIdentity();
  NodeIdentity(const NodeIdentity&) = delete;
  NodeIdentity& operator=(const NodeIdentity&) = delete;

  const std::string& id() const { return id_; }

 private:
  NodeIdentity(std::string id, int lock_fd) : id_(std::move(id)), lock_fd_(lock_fd) {}
  const std::string id_;
  const int lock_fd_;  // holds the flock; -1 when nothing is locked
};

// Whether `id` is a valid node id: 1 to 64 of [A-Za-z0-9._:-].
bool IsValidNodeId(const std::string& id);

}  // namespace flowrun::store
