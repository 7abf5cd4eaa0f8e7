"""A throwaway PostgreSQL 15 server for end-to-end tests and benchmarks, the Python twin of
tests/testing/postgres_server.h: initdb into a fresh temp dir, pg_ctl start on a free loopback
port (fsync off unless durable=True: the tests kill flowrun, never the database; benchmarks ask
for a durable server), pg_ctl stop -m immediate on close.
Run as root (CI), the server runs as the `postgres` user.

    with PostgresServer() as pg:
        pg.url          # postgresql://postgres@127.0.0.1:PORT/postgres
        pg.query("SELECT count(*) FROM runs")   # rows as lists of strings, through psql
        pg.cpu_seconds()                        # user+system CPU of every server process so far
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile

BIN_DIR = "/usr/lib/postgresql/15/bin"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, durable=False):
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not os.access(os.path.join(BIN_DIR, tool), os.X_OK):
                raise RuntimeError("PostgreSQL 15 server binaries are missing (%s); install the "
                                   "postgresql-15 package (scripts/test.sh does)" % BIN_DIR)
        self.dir = tempfile.mkdtemp(prefix="flowrun-pg-")
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self._run([os.path.join(BIN_DIR, "initdb"), "-D", self.data, "-U", "postgres",
                   "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"])
        self.port = _free_port()
        options = "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300" % (
            self.port, self.dir)
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run([os.path.join(BIN_DIR, "pg_ctl"), "-D", self.data, "-o", options, "-l",
                   os.path.join(self.dir, "server.log"), "-w", "-t", "60", "start"])
        self.url = "postgresql://postgres@127.0.0.1:%d/postgres" % self.port

    def _argv(self, argv):
        return ["/usr/sbin/runuser", "-u", "postgres", "--"] + argv if self._as_postgres else argv

    def _run(self, argv):
        done = subprocess.run(self._argv(argv), capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("%s failed:\n%s%s" % (argv[0], done.stdout, done.stderr))
        return done.stdout

    def query(self, sql):
        """Rows of `sql` as lists of strings (psql's unaligned output)."""
        out = subprocess.run(["psql", "-X", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                              "-d", "postgres", "-c", sql],
                             capture_output=True, text=True, check=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]

    def pids(self):
        """The postmaster and every backend it forked."""
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            postmaster = int(f.readline())
        children = subprocess.run(["ps", "-o", "pid=", "--ppid", str(postmaster)],
                                  capture_output=True, text=True).stdout.split()
        return [postmaster] + [int(pid) for pid in children]

    def cpu_seconds(self):
        """User plus system CPU seconds of the live server processes (exited backends included
        through the postmaster's reaped-children counters)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            # utime, stime, cutime, cstime are fields 14-17 (1-based); after the comm field the
            # list starts at field 3.
            total += sum(int(v) for v in fields[11:15])
        return total / ticks

    def close(self):
        if self.port:
            subprocess.run(self._argv([os.path.join(BIN_DIR, "pg_ctl"), "-D", self.data, "-m",
                                       "immediate", "-w", "stop"]), capture_output=True)
            self.port = 0
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
