// PostgresServer: a private PostgreSQL 15 server for tests, started from Debian's
// postgresql-15 binaries (/usr/lib/postgresql/15/bin): initdb into a fresh temp dir, then pg_ctl
// start on a free loopback port with its socket in that dir, trust authentication, fsync off.
// Run as root, it runs the server as the `postgres` user (runuser), which owns the temp dir.
//
// The server never outlives the test process: beside it runs a reaper, a shell in a session of
// its own (so that a kill of the test's process group spares it), that waits for the end of a
// pipe only the test process writes to, and then stops the server. A test killed for its timeout
// (SIGKILL, no destructor) so leaves no server behind.
//
// Thread-safety: use from one test thread.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

namespace flowrun::testing {

class PostgresServer {
 public:
  // Starts a server. On failure (binaries missing, initdb or start failing) records a test
  // failure with the reason and returns nullptr; it never skips.
  static std::unique_ptr<PostgresServer> Start();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // postgresql://postgres@127.0.0.1:<port>/postgres
  std::string Url() const;

 private:
  PostgresServer() = default;
  // The command that stops the server at once.
  std::vector<std::string> StopCommand() const;
  // Starts the reaper (see above); a test failure when it cannot.
  void StartReaper();

  int port_ = 0;
  std::string dir_;
  bool as_postgres_user_ = false;
  int reaper_pipe_ = -1;  // the write end; closing it (or dying) lets the reaper stop the server
  pid_t reaper_pid_ = -1;
};

}  // namespace flowrun::testing
