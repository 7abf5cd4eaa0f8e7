#include "testing/postgres_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

#include "testing/free_port.h"
#include "testing/paths.h"
#include "testing/subprocess.h"

namespace flowrun::testing {
namespace {

constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";

std::vector<std::string> AsServerUser(bool as_postgres, std::vector<std::string> argv) {
  if (!as_postgres) return argv;
  argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
  return argv;
}

}  // namespace

std::unique_ptr<PostgresServer> PostgresServer::Start() {
  std::string initdb = std::string(kBinDir) + "/initdb";
  std::string pg_ctl = std::string(kBinDir) + "/pg_ctl";
  if (access(initdb.c_str(), X_OK) != 0 || access(pg_ctl.c_str(), X_OK) != 0) {
    ADD_FAILURE() << "PostgreSQL 15 server binaries are missing (" << initdb
                  << "); install the postgresql-15 package (scripts/test.sh does)";
    return nullptr;
  }
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->dir_ = MakeTempDir();
  server->as_postgres_user_ = geteuid() == 0;
  if (server->as_postgres_user_) {
    passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      ADD_FAILURE() << "running as root, but there is no postgres user to run the server as";
      return nullptr;
    }
    if (chown(server->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      ADD_FAILURE() << "cannot give " << server->dir_ << " to the postgres user";
      return nullptr;
    }
  }
  std::string data = server->dir_ + "/data";
  ProcessResult init = RunProcess(
      AsServerUser(server->as_postgres_user_, {initdb, "-D", data, "-U", "postgres", "--auth=trust",
                                               "-E", "UTF8", "--locale=C", "--no-sync"}));
  if (init.exit_code != 0) {
    ADD_FAILURE() << "initdb failed:\n" << init.out << init.err;
    return nullptr;
  }
  server->port_ = FreeLoopbackPort();
  std::string options = "-p " + std::to_string(server->port_) + " -k " + server->dir_ +
                        " -c listen_addresses=127.0.0.1 -c fsync=off"
                        " -c synchronous_commit=off -c full_page_writes=off";
  ProcessResult start = RunProcess(AsServerUser(
      server->as_postgres_user_, {pg_ctl, "-D", data, "-o", options, "-l",
                                  server->dir_ + "/server.log", "-w", "-t", "60", "start"}));
  if (start.exit_code != 0) {
    ADD_FAILURE() << "pg_ctl start failed:\n" << start.out << start.err;
    return nullptr;
  }
  server->StartReaper();
  return server;
}

std::vector<std::string> PostgresServer::StopCommand() const {
  return AsServerUser(as_postgres_user_, {std::string(kBinDir) + "/pg_ctl", "-D", dir_ + "/data",
                                          "-m", "immediate", "-w", "stop"});
}

void PostgresServer::StartReaper() {
  int ends[2];
  if (pipe2(ends, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2 for the PostgreSQL reaper failed";
    return;
  }
  // `cat` returns once no process holds the write end: it is close-on-exec, so only this process
  // (and a child between its fork and exec) ever holds it.
  std::vector<std::string> argv = {"/bin/sh", "-c", "cat; exec \"$@\"", "reaper"};
  for (std::string& word : StopCommand()) argv.push_back(std::move(word));
  std::vector<char*> args;
  for (std::string& word : argv) args.push_back(word.data());
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    setsid();
    const int null = open("/dev/null", O_WRONLY);
    dup2(ends[0], 0);
    dup2(null, 1);
    dup2(null, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(ends[0]);
  if (pid < 0) {
    close(ends[1]);
    ADD_FAILURE() << "fork for the PostgreSQL reaper failed";
    return;
  }
  reaper_pipe_ = ends[1];
  reaper_pid_ = pid;
}

PostgresServer::~PostgresServer() {
  if (port_ == 0) return;
  ProcessResult stop = RunProcess(StopCommand());
  (void)stop;
  // The reaper finds the server stopped, and ends.
  if (reaper_pipe_ >= 0) close(reaper_pipe_);
  if (reaper_pid_ > 0) waitpid(reaper_pid_, nullptr, 0);
}

std::string PostgresServer::Url() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

}  // namespace flowrun::testing
