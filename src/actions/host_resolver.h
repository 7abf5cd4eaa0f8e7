// HostResolver: turns a host name and port into socket addresses without blocking the
// OutboundLoop. IP literals are converted at once; names are looked up with glibc's
// getaddrinfo_a (its own helper thread does the lookup) and the loop checks for the answer on a
// timer, so a slow or silent DNS server delays only the connections that wait for it, never the
// loop. A lookup that has not answered by its `until` ends with kDeadlineExceeded. Answers are
// kept for a minute, as libcurl's DNS cache does.
//
// Lifecycle: calls back on the loop thread, never before Resolve returns. A lookup still running
// when the resolver is destroyed is cancelled; one glibc cannot cancel is left to finish on its
// own (its few bytes are not freed, since glibc still writes to them).
//
// Thread-safety: loop thread only (Resolve and the destructor).
#pragma once

#include <sys/socket.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "actions/outbound_loop.h"
#include "common/status.h"

namespace flowrun {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

class HostResolver {
 public:
  using Done = std::function<void(StatusOr<std::vector<SocketAddress>> addresses)>;

  explicit HostResolver(OutboundLoop& loop);
  ~HostResolver();
  HostResolver(const HostResolver&) = delete;
  HostResolver& operator=(const HostResolver&) = delete;

  // Errors: kUnavailable when the name does not resolve, kDeadlineExceeded when `until` passes.
  void Resolve(const std::string& host, int port, SteadyTime until, Done done);

 private:
  struct Lookup;
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace flowrun
