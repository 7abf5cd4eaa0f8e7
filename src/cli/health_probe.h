// HealthProbe: whether `flowrun serve`'s HTTP front still answers, for the systemd watchdog.
// serve sends WATCHDOG=1 only after a probe succeeds, so a process whose I/O threads are stuck
// stops pinging and systemd restarts it (WatchdogSec= in packaging/flowrun.service).
//
// A probe is one GET /healthz over a new loopback connection to the port serve listens on
// (127.0.0.1 for a wildcard IPv4 listen address, ::1 for a wildcard IPv6 one, otherwise the
// address itself). Any HTTP answer counts: a server that answers 503 because every connection
// is busy is alive. Only no answer within the timeout fails.
//
// Thread-safety: Probe may be called from one thread at a time.
#pragma once

#include <chrono>
#include <string>

#include "common/status.h"

namespace flowrun::cli {

class HealthProbe {
 public:
  // `host` and `port` as serve listens on them.
  HealthProbe(const std::string& host, int port);

  // OK when GET /healthz got an HTTP answer within `timeout` (connecting and reading each);
  // kUnavailable naming the address otherwise.
  [[nodiscard]] Status Probe(std::chrono::milliseconds timeout) const;

 private:
  std::string host_;
  int port_;
};

}  // namespace flowrun::cli
