"""Slow I/O through the service: `flowrun serve` against loopback peers that answer late, to show
that a run whose action is in flight holds no thread. Workloads (issue goals in brackets):

  w1-slow      10,000 events; http (the API answers after 200 ms) -> db (SQLite app file) ->
               email (SMTP sink)                                   [>= 3,000 runs/s, RSS <= 100 MB]
  slow-5s      10,000 one-step runs whose API answers after 5 s    [all done within 8 s, RSS <= 150 MB]
  parallel     one run, `parallel` with 10 branches of 500 ms each  [<= 700 ms]
  foreach      one run, `foreach` over 100 items, concurrency 20, 200 ms each  [<= 1.5 s]

The peers are bench/w1_sinks (one Asio thread: a delayed HTTP API and a pipelining SMTP sink), as
light as bench/w1's; `--smtp aiosmtpd` sends w1-slow's email to Debian's aiosmtpd instead. Every
run's side effects are checked (distinct Idempotency-Keys, Message-IDs and rows). Prints one
markdown table; with --repeat N each figure is the median of N. The service's CPU per run counts
its user and system time from start to stop. With --timeline, each run also prints what
`/metrics` showed every 0.1 s (runs done, runs ready, actions in flight, HTTP transfers in
flight, messages waiting for an SMTP session, peak RSS so far): where a run stalls, and why its
memory peaks.

    FLOWRUN_BIN=$PWD/build-release/flowrun /usr/bin/python3 bench/slow_io.py \
        [--workload all|w1-slow|slow-5s|parallel|foreach] [--events N] [--repeat N]
        [--smtp sink|aiosmtpd] [--timeline]
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402
import w1_bench  # noqa: E402

# W1's http -> db -> email flow, with an API that answers after 200 ms.
W1_SLOW = (w1_bench.IO_FLOW.replace("id: w1-http-db-email", "id: w1-slow")
           .replace("event: w1/io", "event: slow/w1")
           .replace("/app/orders", "/delay/200/orders"))

SLOW_5S = """
id: slow-5s
on: [{event: slow/5s}]
steps:
  - id: call
    http: {method: POST, url: "${{ secrets.API_URL }}/delay/5000/x", json: {n: "${{ event.data.n }}"}, timeout: 30s}
"""

PARALLEL = """
id: fan-out
on: [{event: slow/parallel}]
steps:
  - id: all
    parallel:
      branches:
%s
""" % "\n".join('        b%d: [{id: b%d, http: {url: "${{ secrets.API_URL }}/delay/500/b%d"}}]' % (i, i, i)
                for i in range(10))

FOREACH = """
id: each
on: [{event: slow/foreach}]
steps:
  - id: items
    foreach:
      items: "${{ event.data.items }}"
      as: item
      concurrency: 20
      steps:
        - id: call
          http: {url: "${{ secrets.API_URL }}/delay/200/item/${{ item }}"}
"""

# Enough connections to one origin for every request in flight (one request per HTTP/1.1
# connection), and room for 10,000 actions in flight.
SLOW_PEER_CONFIG = """http: {max_connections_per_host: 12000}
limits: {max_inflight_actions: 12000}
"""
SERVICE_CONFIG = """store: sqlite:flowrun.db
flows: flows
databases: {app: 'sqlite:app.db'}
secrets: {env: [API_URL]}
""" + SLOW_PEER_CONFIG


def wait_done(service, flow_id, count, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = w1_bench.metrics_text(service)
        done = (w1_bench.metric_total(text, "flowrun_runs_completed_total", flow_id) +
                w1_bench.metric_total(text, "flowrun_runs_failed_total", flow_id))
        if done >= count:
            return True
        time.sleep(0.05)
    return False


def gauge(text, name):
    """The sum of a metric's samples (every label set) in a /metrics text."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


class Timeline:
    """Samples the service's /metrics every `period` s on a thread, until stop(); print() then
    writes one markdown row per sample."""

    COLUMNS = [("runs done", "flowrun_runs_completed_total"), ("ready", "flowrun_queue_depth"),
               ("actions in flight", "flowrun_actions_in_flight"),
               ("HTTP in flight", "flowrun_outbound_transfers_in_flight"),
               ("mail waiting", "flowrun_smtp_messages_waiting")]

    def __init__(self, service, period=0.1):
        self.service = service
        self.period = period
        self.rows = []
        self.stopping = threading.Event()
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(self.period):
            try:
                text = w1_bench.metrics_text(self.service)
            except OSError:
                continue
            self.rows.append([time.monotonic() - self.started] +
                             [gauge(text, metric) for _, metric in self.COLUMNS] +
                             [w1_bench.peak_rss_mb(self.service.proc.pid)])

    def stop(self):
        self.stopping.set()
        self.thread.join()

    def print(self, name):
        print("\nTimeline: %s\n" % name)
        print("| s | " + " | ".join(label for label, _ in self.COLUMNS) + " | peak RSS MB |")
        print("| ---: " * (len(self.COLUMNS) + 2) + "|")
        for row in self.rows:
            print("| %.1f | " % row[0] + " | ".join("%d" % v for v in row[1:-1]) +
                  " | %.0f |" % row[-1])


def measure(name, flow_text, event_name, events, data_of, smtp_kind="sink", timeline=False):
    tmp = tempfile.mkdtemp(prefix="flowrun-slow-")
    os.makedirs(os.path.join(tmp, "flows"))
    with open(os.path.join(tmp, "flows", "flow.yaml"), "w") as f:
        f.write(flow_text)
    harness.make_app_db(os.path.join(tmp, "app.db"), "PRAGMA journal_mode=WAL;"
                        "CREATE TABLE orders (n INTEGER PRIMARY KEY, run_id TEXT NOT NULL);")
    sinks = w1_bench.CppSinks()
    aiosmtpd = harness.SmtpServer() if smtp_kind == "aiosmtpd" else None
    smtp_url = aiosmtpd.url if aiosmtpd else "smtp://127.0.0.1:%d" % sinks.smtp_port
    config = SERVICE_CONFIG + "smtp: {url: '%s', from: 'bench <bench@example.com>', starttls: off}\n" % smtp_url
    service = harness.Service(tmp, config, {"API_URL": sinks.url})
    flow_id = flow_text.split("id: ", 1)[1].split("\n", 1)[0]

    bodies = w1_bench.event_bodies(event_name, events, data_of)
    sampler = Timeline(service) if timeline else None
    w1_bench.post_bodies(service, bodies, clients=min(8, len(bodies)))
    finished = wait_done(service, flow_id, events, timeout=600)
    rss = w1_bench.peak_rss_mb(service.proc.pid)
    cpu = w1_bench.cpu_seconds(service.proc.pid)
    if sampler:
        sampler.stop()
        sampler.print(name)
    runs = service.runs(flow=flow_id)
    keys, message_ids, stats = sinks.counts()
    rows_in_db = harness.query(os.path.join(tmp, "app.db"), "SELECT count(*) AS c FROM orders")[0]["c"]
    service.stop()
    sinks.close()
    if aiosmtpd:
        message_ids = len({m["message_id"] for m in aiosmtpd.messages()})
        aiosmtpd.close()

    completed = [r for r in runs if r["status"] == "completed"]
    starts = [harness.unix_time(r["event"]["ts"]) for r in runs]
    ends = [harness.unix_time(r["ended_at"]) for r in completed]
    span = max(ends) - min(starts) if ends else float("nan")
    checks = []
    ok = finished and len(completed) == events
    if "http:" in flow_text:
        checks.append("%d keys" % keys)
    if "email:" in flow_text:
        checks.append("%d Message-IDs" % message_ids)
        ok = ok and message_ids == events
    if "db:" in flow_text:
        checks.append("%d rows" % rows_in_db)
        ok = ok and rows_in_db == events
    shutil.rmtree(tmp, ignore_errors=True)
    return {"name": name, "events": events, "completed": len(completed), "span_s": span,
            "runs_per_s": len(completed) / span if span else float("nan"), "rss_mb": rss,
            "cpu_us_per_run": 1e6 * cpu / len(completed) if completed else float("nan"),
            "most_in_flight": stats.get("most_in_flight", 0), "check": ", ".join(checks),
            "ok": ok}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workload", default="all",
                        choices=["all", "w1-slow", "slow-5s", "parallel", "foreach"])
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--smtp", choices=["sink", "aiosmtpd"], default="sink")
    parser.add_argument("--timeline", action="store_true",
                        help="also print what /metrics showed every 0.1 s of each run")
    args = parser.parse_args()
    n = args.events
    plan = {
        "w1-slow": lambda: measure("W1-slow: http (200 ms) -> db -> email, %d events" % n, W1_SLOW,
                                   "slow/w1", n, lambda i: {"n": i}, args.smtp, args.timeline),
        "slow-5s": lambda: measure("%d one-step runs, API answers after 5 s" % n, SLOW_5S,
                                   "slow/5s", n, lambda i: {"n": i}, timeline=args.timeline),
        "parallel": lambda: measure("one run, parallel: 10 branches x 500 ms", PARALLEL,
                                    "slow/parallel", 1, lambda i: {}, timeline=args.timeline),
        "foreach": lambda: measure("one run, foreach: 100 items x 200 ms, concurrency 20", FOREACH,
                                   "slow/foreach", 1, lambda i: {"items": list(range(100))},
                                   timeline=args.timeline),
    }
    chosen = list(plan) if args.workload == "all" else [args.workload]
    rows = []
    for key in chosen:
        repeats = [plan[key]() for _ in range(args.repeat)]
        row = dict(repeats[0])
        for field in ("span_s", "runs_per_s", "rss_mb", "cpu_us_per_run", "most_in_flight"):
            row[field] = statistics.median(r[field] for r in repeats)
        row["ok"] = all(r["ok"] for r in repeats)
        rows.append(row)
    print()
    print("Slow I/O through `flowrun serve` (%d cores, median of %d, SMTP: %s)" % (
        os.cpu_count(), args.repeat, args.smtp))
    print()
    print("| workload | completed | first event -> last run done | runs/s | peak RSS | service CPU per run | most requests open at the API | side effects |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print("| %s | %d/%d | %.2f s | %.0f | %.1f MB | %.0f µs | %d | %s |" % (
            r["name"], r["completed"], r["events"], r["span_s"], r["runs_per_s"], r["rss_mb"],
            r["cpu_us_per_run"], r["most_in_flight"],
            r["check"] + ("" if r["ok"] else " (CHECK FAILED)")))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
