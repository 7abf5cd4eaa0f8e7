// PostgresServer: a private PostgreSQL 15 server for tests, started from Debian's
// postgresql-15 binaries (/usr/lib/postgresql/15/bin): initdb into a fresh temp dir, then pg_ctl
// start on a free loopback port with its socket in that dir, trust authentication, fsync off.
// Run as root, it runs the server as the `postgres` user (runuser), which owns the temp dir.
//
// Thread-safety: use from one test thread.
#pragma once

#include <memory>
#include <string>

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
  int port_ = 0;
  std::string dir_;
  bool as_postgres_user_ = false;
};

}  // namespace flowrun::testing
