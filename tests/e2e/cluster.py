"""Several `flowrun serve` nodes sharing one store (a PostgreSQL URL or one SQLite file), for the
multi-node tests and the takeover bench. Each node has its own working directory (config, log),
port and node id; the flows, the application database (SQLite, for `db` steps), the fake APIs and
the SMTP sink are shared.

    with Cluster(3, store="postgres", flows={"order.yaml": FLOW}) as c:
        c.nodes[0].send([...])      # harness.Service: request, runs, log_path...
        c.kill(1); c.restart(1)     # SIGKILL, then start again with the same node id
        c.pause(2); c.resume(2)     # SIGSTOP / SIGCONT
"""

import os
import shutil
import signal
import tempfile
import time

import harness
from postgres_server import PostgresServer


class Cluster:
    def __init__(self, size, store="postgres", flows=None, app_schema="", takeover_after="2s",
                 extra_config="", pg=None):
        """`store`: "postgres" (a throwaway server, or `pg` when given) or "sqlite" (one file).
        `flows`: file name -> flow text. `app_schema`: SQL for the shared app database."""
        self.dir = tempfile.mkdtemp(prefix="flowrun-cluster-")
        self.kind = store
        self.own_pg = None
        self.pg = pg
        self.api = None
        self.smtp = None
        self.nodes = []
        try:
            if store == "postgres" and self.pg is None:
                self.own_pg = self.pg = PostgresServer()
            self.api = harness.FakeApi()
            self.smtp = harness.SmtpServer()
            flows_dir = os.path.join(self.dir, "flows")
            os.makedirs(flows_dir)
            for name, text in (flows or {}).items():
                with open(os.path.join(flows_dir, name), "w") as f:
                    f.write(text)
            self.app_db = os.path.join(self.dir, "app.db")
            harness.make_app_db(self.app_db, app_schema)
            for i in range(size):
                node_id = self.node_id(i)
                workdir = os.path.join(self.dir, node_id)
                os.makedirs(workdir)
                if store == "postgres":
                    # application_name names the node's sessions in pg_stat_activity.
                    url = self.pg.url + "?application_name=" + node_id
                else:
                    url = "sqlite:" + os.path.join(self.dir, "flowrun.db")
                config = ("store: '%s'\nnode_id: %s\ntakeover_after: %s\nflows: '%s'\n"
                          "databases: {app: 'sqlite:%s'}\n"
                          "smtp: {url: '%s', from: 'flowrun <noreply@example.com>'}\n"
                          "secrets: {env: [API_URL]}\n%s"
                          % (url, node_id, takeover_after, flows_dir, self.app_db,
                             self.smtp.url, extra_config))
                self.nodes.append(harness.Service(workdir, config, {"API_URL": self.api.url}))
        except Exception:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def node_id(self, i):
        return "node-%d" % (i + 1)

    def kill(self, i):
        self.nodes[i].kill()

    def restart(self, i):
        self.nodes[i].start()

    def pause(self, i):
        self.nodes[i].proc.send_signal(signal.SIGSTOP)

    def resume(self, i):
        self.nodes[i].proc.send_signal(signal.SIGCONT)

    def alive(self):
        return [n for n in self.nodes if n.proc and n.proc.poll() is None]

    def log_lines(self, i, needle):
        with open(self.nodes[i].log_path, errors="replace") as f:
            return [line for line in f if needle in line]

    def runs(self, flow):
        """The runs of `flow`, asked of the first live node that answers."""
        last = None
        for node in self.alive():
            try:
                return node.runs(flow=flow)
            except (AssertionError, OSError) as e:
                last = e
        raise AssertionError("no node answered GET /v1/runs: %s" % last)

    def log_tails(self, n=15):
        return "\n".join("--- %s\n%s" % (self.node_id(i), node.log_tail(n))
                         for i, node in enumerate(self.nodes))

    def close(self):
        for node in self.nodes:
            if node.proc and node.proc.poll() is None:
                try:
                    node.proc.send_signal(signal.SIGCONT)
                except OSError:
                    pass
            node.stop()
        if self.api:
            self.api.close()
        if self.smtp:
            self.smtp.close()
        if self.own_pg:
            self.own_pg.close()
        if os.environ.get("FLOWRUN_KEEP_CLUSTER"):
            print("cluster files kept in %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def slow_api(api, delay_s=0.4):
    """Makes /slow/* answer after `delay_s` (the fake API is threaded)."""
    respond = api.respond

    def slowly(r):
        if r["path"].startswith("/slow/"):
            time.sleep(delay_s)
        return respond(r)
    api.respond = slowly
