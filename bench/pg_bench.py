"""W1 on the PostgreSQL store: W1-noop (three no-op steps), W1-io (http -> db -> email against
the loopback sinks of bench/w1_sinks) and W1-slow (W1-io with an API that answers after 200 ms)
through `flowrun serve` with 1 node and with 3 nodes on one throwaway PostgreSQL 15 server
(tests/e2e/postgres_server.py, durable: fsync, synchronous commit and full-page writes on, as in
production), the events sent round-robin to the nodes while --idle connections per node stay
open and silent. Prints runs/s, the CPU seconds of flowrun (every node) and of
PostgreSQL (every server process), PostgreSQL's share of the two, and the row updates of the runs
table per run with the share PostgreSQL wrote in place (HOT, without touching an index).

Then the cross-node wake-up: runs wait for an event (wait_for_event) after starting on node A; the
awaited event is sent to node B, one at a time; the time from B's acknowledgement of the event
until the step after the wait reaches a loopback HTTP sink (its node named in the request) is
the wake latency. Prints p50 and max, over all waits and over those resumed on another node than
the one that took the event.

    FLOWRUN_BIN=$PWD/build/flowrun /usr/bin/python3 bench/pg_bench.py \
        [--events N] [--workload noop|io|slow|both|all] [--nodes 1,3] [--repeat N] [--waits N]
        [--statements] [--idle N] [--trickle N]

--statements loads pg_stat_statements and prints the statements and transactions per run.
--trickle N first sends N single events one at a time (50 ms apart), with ANALYZE halfway as
autovacuum would run it on a new database, and waits for their runs: a new deployment's first
runs on tiny tables. The figures cover the burst that follows alone.
Every node writes its application database rows (the db step) into one SQLite file in WAL mode,
as W1 does; the PostgreSQL figures are the store's alone.
"""

import argparse
import http.client
import http.server
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import harness  # noqa: E402
import slow_io  # noqa: E402
import w1_bench  # noqa: E402
from postgres_server import PostgresServer  # noqa: E402

# How often the nodes' /metrics are read to see whether every run ended. The figures come from
# the store's own timestamps (first event stored to last run ended), so this interval does not
# change them; it sets how much the reads add to the load. Each read counts the runs by status
# and the leases of each node: read every 0.2 s they took PostgreSQL about 10% of its CPU at
# 10,000 W1-io runs, where a Prometheus server reads every 15 s or so.
METRICS_POLL_S = 1.0

# name, flow, event, whether it has side effects to check, node config beyond the store's.
WORKLOADS = {
    "noop": ("W1-noop", w1_bench.NOOP_FLOW, "w1/noop", False, ""),
    "io": ("W1-io", w1_bench.IO_FLOW, "w1/io", True, ""),
    "slow": ("W1-slow", slow_io.W1_SLOW, "slow/w1", True, slow_io.SLOW_PEER_CONFIG),
}
WORKLOAD_SETS = {"both": ["noop", "io"], "all": ["noop", "io", "slow"]}

WAKE_FLOW = """
id: wake
on: [{event: wake/start}]
steps:
  - id: wait
    wait_for_event: {event: wake/go, match: data.k, timeout: 1h}
  - id: tell
    http: {method: POST, url: "${{ secrets.API_URL }}/woke", json: {k: "${{ event.data.k }}", node: "${{ secrets.NODE }}"}}
"""

# The same with a concurrency limit: the node that resolves the wait does not lease the run in
# that transaction (a run with a limit is claimed through its slot), so the run is made due and
# every node learns of it by NOTIFY; the one that claims it first resumes it.
WAKE_FLOW_NOTIFIED = WAKE_FLOW.replace("steps:", "concurrency: {limit: 1000}\nsteps:")


class PgWithStatements(PostgresServer):
    """The throwaway server, durable, optionally with pg_stat_statements loaded."""

    def __init__(self, statements):
        super().__init__(durable=True)
        self.statements = statements
        if statements:
            conf = os.path.join(self.data, "postgresql.auto.conf")
            self._run(["sh", "-c", "echo \"shared_preload_libraries = 'pg_stat_statements'\" >> %s"
                       % conf])
            self._run([os.path.join("/usr/lib/postgresql/15/bin", "pg_ctl"), "-D", self.data,
                       "-l", os.path.join(self.dir, "server.log"), "-w", "-t", "60", "restart"])
            self.query("CREATE EXTENSION pg_stat_statements")

    def counters(self):
        """(statements, transactions committed) so far in the database."""
        commits = int(self.query("SELECT xact_commit FROM pg_stat_database WHERE datname = "
                                 "'postgres'")[0][0])
        calls = 0
        if self.statements:
            calls = int(self.query("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements")[0][0])
        return calls, commits

    def run_updates(self):
        """(row updates, of them HOT) of the runs table so far. A backend reports its counts when
        its transaction ends or it exits, up to seconds later: read them after the nodes stop."""
        row = self.query("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname "
                         "= 'runs'")[0]
        return int(row[0]), int(row[1])

    def top_statements(self, limit=12):
        return self.query("SELECT calls, round(total_exec_time::numeric, 1), "
                          "left(regexp_replace(query, '\\s+', ' ', 'g'), 110) FROM "
                          "pg_stat_statements ORDER BY total_exec_time DESC LIMIT %d" % limit)


def start_nodes(tmp, pg, count, flow_text, extra_config="", env=None, per_node_env=None):
    nodes = []
    for i in range(count):
        workdir = os.path.join(tmp, "node-%d" % (i + 1))
        os.makedirs(os.path.join(workdir, "flows"))
        with open(os.path.join(workdir, "flows", "flow.yaml"), "w") as f:
            f.write(flow_text)
        config = "store: '%s'\nnode_id: node-%d\nflows: flows\n%s" % (pg.url, i + 1, extra_config)
        node_env = dict(env or {})
        if per_node_env:
            node_env.update(per_node_env(i))
        nodes.append(harness.Service(workdir, config, node_env))
    return nodes


def open_idle(nodes, per_node):
    """`per_node` connections to every node that send nothing: a crowd of idle clients, 500 from
    each loopback address from 127.0.0.100 up (a node takes at most 1,000 from one address), so
    that the load generator on 127.0.0.1 keeps its own share."""
    idle = []
    for n in nodes:
        for i in range(per_node):
            s = socket.socket()
            s.settimeout(10)
            s.bind(("127.0.0.%d" % (100 + i // 500), 0))
            s.connect(("127.0.0.1", n.port))
            s.setblocking(False)  # still_open peeks without waiting
            idle.append(s)
    return idle


def still_open(sockets):
    """How many of `sockets` the server has not closed."""
    count = 0
    for s in sockets:
        try:
            count += s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:  # nothing to read: open and silent
            count += 1
        except OSError:
            pass
    return count


def post_round_robin(nodes, bodies, clients):
    """POSTs the request bodies to /v1/events from `clients` threads, each with a kept connection
    to every node; request k of client c goes to node (c + k) % len(nodes)."""

    def post(c, share):
        conns = [http.client.HTTPConnection("127.0.0.1", n.port, timeout=60) for n in nodes]
        try:
            for k, body in enumerate(share):
                node = nodes[(c + k) % len(nodes)]
                conn = conns[(c + k) % len(nodes)]
                conn.request("POST", "/v1/events", body=body, headers={
                    "Authorization": "Bearer " + node.token, "Content-Type": "application/json"})
                reply = conn.getresponse()
                text = reply.read()
                if reply.status != 200:
                    raise AssertionError("POST /v1/events answered %s: %s" % (reply.status, text))
        finally:
            for conn in conns:
                conn.close()

    errors = []

    def guarded(c, share):
        try:
            post(c, share)
        except Exception as e:  # noqa: BLE001 (reported after the join)
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(c, bodies[c::clients]))
               for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def send_trickle(nodes, pg, event_name, flow_id, count, first_n):
    """`count` single events, one at a time, with the tables analyzed halfway, as autovacuum
    would on a new database; returns, once every run ended, the highest event seq so far."""
    bodies = w1_bench.event_bodies(event_name, count, data_of=lambda n: {"n": first_n + n},
                                   batch=1)
    for i, body in enumerate(bodies):
        if i == count // 2:
            harness.wait_until(lambda: ended_runs(nodes, flow_id) >= i, 60,
                               what="the trickle's first runs to end")
            pg.query("ANALYZE")
        post_round_robin(nodes, [body], clients=1)
        time.sleep(0.05)
    harness.wait_until(lambda: ended_runs(nodes, flow_id) >= count, 60,
                       what="the trickle's runs to end")
    return int(pg.query("SELECT coalesce(max(seq), 0) FROM events")[0][0])


def ended_runs(nodes, flow_id):
    """Runs of the flow completed or failed so far, on every node (from /metrics)."""
    done = 0
    for n in nodes:
        text = w1_bench.metrics_text(n)
        done += (w1_bench.metric_total(text, "flowrun_runs_completed_total", flow_id) +
                 w1_bench.metric_total(text, "flowrun_runs_failed_total", flow_id))
    return done


def run_workload(key, node_count, events, statements, idle_per_node, trickle=0):
    name, flow_text, event_name, io, extra = WORKLOADS[key]
    flow_id = flow_text.split("id: ", 1)[1].split("\n", 1)[0]
    tmp = tempfile.mkdtemp(prefix="flowrun-pgbench-")
    pg = PgWithStatements(statements)
    sinks = None
    nodes = []
    idle = []
    try:
        env = {}
        if io:
            app_db = os.path.join(tmp, "app.db")
            harness.make_app_db(app_db, "PRAGMA journal_mode=WAL;"
                                "CREATE TABLE orders (n INTEGER PRIMARY KEY, run_id TEXT NOT NULL);")
            sinks = w1_bench.CppSinks()
            extra += ("databases: {app: 'sqlite:%s'}\n"
                     "smtp: {url: 'smtp://127.0.0.1:%d', from: 'w1 <w1@example.com>', starttls: off}\n"
                     "secrets: {env: [API_URL]}\n" % (app_db, sinks.smtp_port))
            env["API_URL"] = sinks.url
        nodes = start_nodes(tmp, pg, node_count, flow_text, extra, env)
        seq_before = 0
        if trickle:
            seq_before = send_trickle(nodes, pg, event_name, flow_id, trickle, events)
        if statements:
            pg.query("SELECT pg_stat_statements_reset()")
        calls0, commits0 = pg.counters()
        flowrun0 = sum(w1_bench.cpu_seconds(n.proc.pid) for n in nodes)
        pg0 = pg.cpu_seconds()
        sinks0 = sinks.cpu() if sinks else 0.0

        idle = open_idle(nodes, idle_per_node)
        bodies = w1_bench.event_bodies(event_name, events)
        started = time.monotonic()
        post_round_robin(nodes, bodies, clients=8 if node_count == 1 else 9)
        ingest = time.monotonic() - started
        deadline = time.monotonic() + 600
        while True:
            if ended_runs(nodes, flow_id) >= events + trickle or time.monotonic() > deadline:
                break
            time.sleep(METRICS_POLL_S)
        flowrun_cpu = sum(w1_bench.cpu_seconds(n.proc.pid) for n in nodes) - flowrun0
        pg_cpu = pg.cpu_seconds() - pg0
        sinks_cpu = sinks.cpu() - sinks0 if sinks else 0.0
        calls1, commits1 = pg.counters()
        top = pg.top_statements() if statements else []
        idle_held = still_open(idle)

        rows = pg.query("SELECT status, count(*) FROM runs GROUP BY status")
        completed = sum(int(r[1]) for r in rows if r[0] == "completed") - trickle
        # Span: from the burst's first event stored to the last run ended (both in epoch ms).
        span_ms = pg.query("SELECT (SELECT max(ended_at) FROM runs) - (SELECT min(ts) FROM events "
                           "WHERE seq > %d)" % seq_before)
        span = int(span_ms[0][0]) / 1000.0 if span_ms and span_ms[0][0] else float("nan")
        ok = completed == events
        check = "-"
        if io:
            keys, message_ids, _ = sinks.counts()
            app_rows = harness.query(app_db, "SELECT count(*) AS c FROM orders")[0]["c"]
            check = "%d http keys, %d Message-IDs, %d rows" % (keys, message_ids, app_rows)
            ok = (ok and keys == events + trickle and message_ids == events + trickle and
                  app_rows == events + trickle)
        for n in nodes:
            n.stop()
        nodes = []
        updates, hot = pg.run_updates()
        return {
            "workload": name, "nodes": node_count, "events": events, "completed": completed,
            "runs_per_s": completed / span if span else float("nan"), "ingest_s": ingest,
            "flowrun_cpu": flowrun_cpu, "pg_cpu": pg_cpu, "sinks_cpu": sinks_cpu,
            "statements_per_run": (calls1 - calls0) / events if statements else None,
            "commits_per_run": (commits1 - commits0) / events, "top": top,
            "updates_per_run": updates / (events + trickle), "hot_share": hot / updates if updates else 0.0,
            "check": check, "ok": ok, "idle": len(idle), "idle_held": idle_held,
        }
    finally:
        for s in idle:
            s.close()
        for n in nodes:
            n.kill()
        if sinks:
            sinks.close()
        pg.close()
        shutil.rmtree(tmp, ignore_errors=True)


class WokeSink(http.server.ThreadingHTTPServer):
    """Records, per key, when POST /woke arrived (time.monotonic()) and the node that sent it."""
    daemon_threads = True

    def __init__(self):
        self.arrivals = {}
        self.cond = threading.Condition()
        super().__init__(("127.0.0.1", 0), WokeHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class WokeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        arrived = time.monotonic()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.server.cond:
            self.server.arrivals.setdefault(str(body.get("k")), (arrived, body.get("node")))
            self.server.cond.notify_all()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def wake_latency(waits, flow_text):
    """Cross-node wake: `waits` runs wait on the event wake/go; each event goes to node B."""
    tmp = tempfile.mkdtemp(prefix="flowrun-pgwake-")
    pg = PostgresServer(durable=True)
    sink = WokeSink()
    nodes = []
    try:
        nodes = start_nodes(tmp, pg, 2, flow_text, "secrets: {env: [API_URL, NODE]}\n",
                            {"API_URL": "http://127.0.0.1:%d" % sink.server_address[1]},
                            lambda i: {"NODE": "node-%d" % (i + 1)})
        a, b = nodes
        a.send([{"name": "wake/start", "data": {"k": k}} for k in range(waits)])
        harness.wait_until(lambda: int(pg.query(
            "SELECT count(*) FROM waits WHERE event_name = 'wake/go'")[0][0]) == waits, 60,
            what="every run to wait")
        time.sleep(0.5)  # the waits' runs have released their leases
        conn = http.client.HTTPConnection("127.0.0.1", b.port, timeout=30)
        samples = []
        for k in range(waits):
            conn.request("POST", "/v1/events", body=json.dumps(
                [{"name": "wake/go", "data": {"k": k}}]).encode(), headers={
                "Authorization": "Bearer " + b.token, "Content-Type": "application/json"})
            reply = conn.getresponse()
            reply.read()
            acked = time.monotonic()
            if reply.status != 200:
                raise AssertionError("POST /v1/events answered %s" % reply.status)
            with sink.cond:
                if not sink.cond.wait_for(lambda: str(k) in sink.arrivals, 10):
                    raise AssertionError("wait %d was not resumed within 10 s" % k)
                arrived, node = sink.arrivals[str(k)]
            samples.append((max(0.0, arrived - acked) * 1000, node))
            time.sleep(0.02)
        conn.close()
        return samples
    finally:
        for n in nodes:
            n.stop()
        sink.shutdown()
        pg.close()
        shutil.rmtree(tmp, ignore_errors=True)


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--workload", choices=list(WORKLOADS) + list(WORKLOAD_SETS),
                        default="both", help="slow: W1-io with an API that answers after 200 ms; "
                        "both: noop and io; all: noop, io and slow")
    parser.add_argument("--nodes", default="1,3", help="node counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; prints every one "
                        "and the median")
    parser.add_argument("--waits", type=int, default=60,
                        help="cross-node wake-ups measured (0: skip)")
    parser.add_argument("--statements", action="store_true",
                        help="load pg_stat_statements: statements per run and the costliest")
    parser.add_argument("--idle", type=int, default=0,
                        help="idle client connections held open to every node during each run")
    parser.add_argument("--trickle", type=int, default=0,
                        help="single events sent one at a time before the burst, ANALYZE halfway")
    args = parser.parse_args()
    keys = WORKLOAD_SETS.get(args.workload, [args.workload])
    node_counts = [int(n) for n in args.nodes.split(",")]
    loads = [load_average()]
    rows = []
    for key in keys:
        for count in node_counts:
            for _ in range(args.repeat):
                row = run_workload(key, count, args.events, args.statements, args.idle,
                                   args.trickle)
                rows.append(row)
                print("%s, %d node(s): %.0f runs/s%s" % (
                    row["workload"], count, row["runs_per_s"], "" if row["ok"] else " (FAILED)"),
                    file=sys.stderr)
    loads.append(load_average())
    wakes = []
    if args.waits:
        wakes = [("resolving node leases the run", wake_latency(args.waits, WAKE_FLOW)),
                 ("concurrency limit: woken by NOTIFY",
                  wake_latency(args.waits, WAKE_FLOW_NOTIFIED))]
    loads.append(load_average())

    print()
    print("W1 on PostgreSQL 15 (%d events each%s, %d cores, %d idle connections per node, load "
          "average before/after: %s)" % (
              args.events, " after a trickle of %d" % args.trickle if args.trickle else "",
              os.cpu_count(), args.idle, " / ".join(loads)))
    print()
    print("| workload | nodes | completed | runs/s | all events acked in | flowrun CPU s "
          "| PostgreSQL CPU s | PG CPU share | sinks CPU s | commits/run | statements/run "
          "| run row updates/run (HOT) | idle connections still open | side effects |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
          "| ---: | --- |")
    for r in rows:
        share = r["pg_cpu"] / (r["pg_cpu"] + r["flowrun_cpu"]) * 100 if r["pg_cpu"] + r[
            "flowrun_cpu"] else float("nan")
        print("| %s | %d | %d/%d | %.0f | %.2f s | %.1f | %.1f | %.0f%% | %.1f | %.2f | %s | %.2f (%.0f%%) "
              "| %d/%d | %s |" % (
            r["workload"], r["nodes"], r["completed"], r["events"], r["runs_per_s"],
            r["ingest_s"], r["flowrun_cpu"], r["pg_cpu"], share, r["sinks_cpu"], r["commits_per_run"],
            "%.2f" % r["statements_per_run"] if r["statements_per_run"] is not None else "-",
            r["updates_per_run"], r["hot_share"] * 100,
            r["idle_held"], r["idle"], r["check"]))
    if args.repeat > 1:
        print()
        for key in keys:
            for count in node_counts:
                same = [r["runs_per_s"] for r in rows
                        if r["workload"] == WORKLOADS[key][0] and r["nodes"] == count]
                print("median of %d, %s, %d node(s): %.0f runs/s" % (
                    len(same), WORKLOADS[key][0], count, statistics.median(same)))
    if args.statements:
        for r in rows:
            print()
            print("%s, %d node(s), costliest statements (calls, total ms, query):" % (
                r["workload"], r["nodes"]))
            for calls, ms, query in r["top"]:
                print("  %8s %10s  %s" % (calls, ms, query))
    ok = all(r["ok"] for r in rows)
    if wakes:
        print()
        print("Cross-node wake-up (runs started on node-1, each awaited event sent to node-2, "
              "one at a time; from node-2's acknowledgement to the next step's HTTP request)")
        print()
        print("| flow | waits | p50 | p90 | max | resumed on node-1 | p50 of those | max of those |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, samples in wakes:
            latencies = sorted(s[0] for s in samples)
            cross = sorted(s[0] for s in samples if s[1] != "node-2")
            print("| %s | %d | %.1f ms | %.1f ms | %.1f ms | %d | %s | %s |" % (
                name, len(latencies), statistics.median(latencies),
                latencies[max(0, int(len(latencies) * 0.9) - 1)], latencies[-1], len(cross),
                "%.1f ms" % statistics.median(cross) if cross else "-",
                "%.1f ms" % cross[-1] if cross else "-"))
            ok = ok and latencies[-1] < 50
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
