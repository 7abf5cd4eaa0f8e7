// SystemdNotifier: the sd_notify(3) protocol, so that `flowrun serve` can run as a systemd
// service with Type=notify and WatchdogSec= (packaging/flowrun.service). It speaks the protocol
// itself rather than linking libsystemd: each message is one datagram of `KEY=VALUE` lines sent
// to the AF_UNIX socket named by $NOTIFY_SOCKET (a file path, or "@name" for the abstract
// namespace). The messages serve uses: READY=1 once it listens, WATCHDOG=1 every half watchdog
// interval, RELOADING=1 then READY=1 around a SIGHUP reload, STOPPING=1 at shutdown, STATUS=….
//
// Without $NOTIFY_SOCKET (not started by systemd) every call does nothing and succeeds.
//
// Thread-safety: immutable after construction; Notify may be called from any thread.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace flowrun {

class SystemdNotifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID.
  static SystemdNotifier FromEnvironment();
  // `socket_path`: as $NOTIFY_SOCKET (empty: disabled). `watchdog_usec` and `watchdog_pid`: as
  // $WATCHDOG_USEC and $WATCHDOG_PID (empty when unset).
  SystemdNotifier(std::string socket_path, std::string_view watchdog_usec,
                  std::string_view watchdog_pid);

  bool enabled() const { return !socket_path_.empty(); }

  // Sends `state` (newline-separated KEY=VALUE assignments) as one datagram. OK when disabled;
  // kInvalidArgument for a socket name that is neither absolute nor abstract or is too long;
  // kUnavailable when the datagram cannot be sent (the error names the socket).
  [[nodiscard]] Status Notify(std::string_view state) const;

  // How often systemd expects WATCHDOG=1: $WATCHDOG_USEC, when it is a positive number and
  // $WATCHDOG_PID is unset or this process's pid; nullopt otherwise (no watchdog).
  std::optional<std::chrono::microseconds> watchdog_interval() const { return watchdog_; }

 private:
  std::string socket_path_;
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace flowrun
