"""W1 through the service: 10,000 events into a 3-step flow served by `flowrun serve`, in two
variants: no-op steps, and http -> db -> email against loopback servers. Single-step variants
(http, db, email) measure each part alone. Prints markdown tables of runs/s, the p50/p99 latency
from event to run completion (the event's stored ts to the run's ended_at), the service's peak
RSS (VmHWM from /proc/PID/status) and the CPU seconds the service and the sinks used.

The loopback sinks are the C++ program bench/w1_sinks (next to FLOWRUN_BIN in <build>/bench, or
W1_SINKS_BIN): the Python ones (--sinks python, a ThreadingTCPServer HTTP and SMTP in this
process) cost more CPU than flowrun itself on a 2-core machine. Either way every run's side
effects are checked: one Idempotency-Key, one Message-ID and one row per run.

    FLOWRUN_BIN=$PWD/build-release/flowrun /usr/bin/python3 bench/w1_bench.py \
        [--events N] [--variant noop|http-db-email|both|http|db|email] [--repeat N] [--sinks cpp|python]
        [--smtp-delay-ms N] [--smtp-max-sessions N]

--smtp-delay-ms makes the C++ SMTP sink answer each message's data N ms late (a server that scans
before it accepts); --smtp-max-sessions sets the config's smtp.max_sessions.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import harness  # noqa: E402

NOOP_FLOW = """
id: w1-noop
on: [{event: w1/noop}]
steps:
  - id: a
    set: {x: 1}
  - id: b
    set: {y: 2}
  - id: c
    set: {z: 3}
"""

IO_FLOW = """
id: w1-http-db-email
on: [{event: w1/io}]
steps:
  - id: call
    http: {method: POST, url: "${{ secrets.API_URL }}/app/orders", json: {n: "${{ event.data.n }}"}}
  - id: record
    db:
      database: app
      sql: INSERT INTO orders (n, run_id) VALUES (:n, :run_id)
      params: {n: "${{ event.data.n }}", run_id: "${{ run.id }}"}
  - id: mail
    email: {to: "buyer@example.com", subject: "Order ${{ event.data.n }}", text: "Thanks."}
"""


SINGLE_FLOWS = {
    "http": """
id: w1-http
on: [{event: w1/http}]
steps:
  - id: call
    http: {method: POST, url: "${{ secrets.API_URL }}/app/orders", json: {n: "${{ event.data.n }}"}}
""",
    "db": """
id: w1-db
on: [{event: w1/db}]
steps:
  - id: record
    db:
      database: app
      sql: INSERT INTO orders (n, run_id) VALUES (:n, :run_id)
      params: {n: "${{ event.data.n }}", run_id: "${{ run.id }}"}
""",
    "email": """
id: w1-email
on: [{event: w1/email}]
steps:
  - id: mail
    email: {to: "buyer@example.com", subject: "Order ${{ event.data.n }}", text: "Thanks."}
""",
}


def fsyncs_per_second(directory, seconds=0.5):
    """How many small write+fsync pairs the disk under `directory` completes per second now: the
    ceiling of any one-commit-per-step database on it, and a gauge of other load on the disk."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    count = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        os.write(fd, b"x" * 100)
        os.fsync(fd)
        count += 1
    os.close(fd)
    os.unlink(path)
    return count / (time.monotonic() - started)


def cpu_seconds(pid):
    """User + system CPU seconds of a process (and its reaped children) from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class CppSinks:
    """bench/w1_sinks: the HTTP and SMTP sinks as a C++ process; counts come from GET /stats."""

    def __init__(self, smtp_delay_ms=0):
        binary = os.environ.get("W1_SINKS_BIN") or os.path.join(
            os.path.dirname(harness.flowrun_binary()), "bench", "w1_sinks")
        if not os.access(binary, os.X_OK):
            raise RuntimeError("%s not found: build the w1_sinks target, set W1_SINKS_BIN, or pass "
                               "--sinks python" % binary)
        self.proc = subprocess.Popen([binary, "--smtp-delay-ms", str(smtp_delay_ms)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        ports = dict(self.proc.stdout.readline().split() for _ in range(2))
        self.url = "http://127.0.0.1:%s" % ports["http"]
        self.smtp_port = int(ports["smtp"])

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def counts(self):
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as r:
            stats = json.load(r)
        return stats["idempotency_keys"], stats["message_ids"], stats

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


class PythonSinks:
    """The HTTP (tests/e2e FakeApi) and SMTP sinks as threads of this process."""

    def __init__(self):
        self.api = harness.FakeApi()
        self.smtp = SmtpSink()
        self.url = self.api.url
        self.smtp_port = self.smtp.server_address[1]

    def cpu(self):
        # This process: the sinks and the load generator, which is idle while runs execute.
        t = os.times()
        return t.user + t.system

    def counts(self):
        keys = {c["idempotency_key"] for c in self.api.calls("POST", "^/app/orders$")}
        return len(keys), len(self.smtp.message_ids), {}

    def close(self):
        self.api.close()
        self.smtp.shutdown()


class SmtpSink(socketserver.ThreadingTCPServer):
    """A minimal SMTP server that accepts every message and counts the Message-IDs."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.lock = threading.Lock()
        self.message_ids = set()
        self.messages = 0
        super().__init__(("127.0.0.1", 0), SmtpHandler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class SmtpHandler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True
    def handle(self):
        self.wfile.write(b"220 sink ESMTP\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                message_id = None
                while True:
                    data = self.rfile.readline()
                    if not data or data == b".\r\n":
                        break
                    if data.lower().startswith(b"message-id:"):
                        message_id = data.split(b":", 1)[1].strip()
                with self.server.lock:
                    self.server.messages += 1
                    self.server.message_ids.add(message_id)
                self.wfile.write(b"250 OK\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 OK\r\n")


def peak_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def metrics_text(service):
    request = urllib.request.Request(service.url + "/metrics",
                                     headers={"Authorization": "Bearer " + service.token})
    with urllib.request.urlopen(request, timeout=30) as r:
        return r.read().decode()


def metric_total(text, name, flow_id):
    pattern = r'^%s\{flow="%s"\} ([0-9.e+]+)$' % (re.escape(name), re.escape(flow_id))
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))


def step_means(text):
    """Mean duration of step attempts per action, in ms, from the step duration histogram."""
    sums = dict(re.findall(r'^flowrun_step_duration_seconds_sum\{action="([^"]+)"\} (\S+)$', text, re.M))
    counts = dict(re.findall(r'^flowrun_step_duration_seconds_count\{action="([^"]+)"\} (\S+)$', text, re.M))
    return {a: 1000 * float(sums[a]) / float(counts[a]) for a in sums if float(counts.get(a, 0))}


def event_bodies(event_name, events, data_of=lambda n: {"n": n}, batch=100):
    """The request bodies that send `events` events, `batch` to a POST /events body."""
    return [json.dumps([{"name": event_name, "data": data_of(n)}
                        for n in range(i, min(i + batch, events))]).encode()
            for i in range(0, events, batch)]


def post_bodies(service, bodies, clients):
    """POSTs the pre-encoded request bodies to /v1/events from `clients` threads, each on a kept
    connection, so that the load generator (which shares the cores with the service) spends as
    little CPU per event as it can."""
    headers = {"Authorization": "Bearer " + service.token, "Content-Type": "application/json"}

    def post(share):
        conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
        try:
            for body in share:
                conn.request("POST", "/v1/events", body=body, headers=headers)
                reply = conn.getresponse()
                text = reply.read()
                if reply.status != 200:
                    raise AssertionError("POST /v1/events answered %s: %s" % (reply.status, text))
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, [bodies[i::clients] for i in range(clients)]))


def run_variant(name, flow_text, event_name, events, sinks_kind, workers=0, smtp_delay_ms=0,
                smtp_max_sessions=0):
    io = sinks_kind is not None
    tmp = tempfile.mkdtemp(prefix="flowrun-w1-")
    fsync_rate = fsyncs_per_second(tmp)
    os.makedirs(os.path.join(tmp, "flows"))
    with open(os.path.join(tmp, "flows", "w1.yaml"), "w") as f:
        f.write(flow_text)
    # The application database in WAL mode, as a production SQLite database would be: in the
    # default rollback-journal mode every db step costs several fsyncs (about 60 runs/s here).
    harness.make_app_db(os.path.join(tmp, "app.db"), "PRAGMA journal_mode=WAL;"
                        "CREATE TABLE orders (n INTEGER PRIMARY KEY, run_id TEXT NOT NULL);")
    sinks = (CppSinks(smtp_delay_ms) if sinks_kind == "cpp" else PythonSinks()) if io else None
    config = "store: sqlite:flowrun.db\nflows: flows\ndatabases: {app: 'sqlite:app.db'}\n"
    if workers:
        config += "workers: %d\n" % workers
    env = {}
    if io:
        sessions = ", max_sessions: %d" % smtp_max_sessions if smtp_max_sessions else ""
        config += "smtp: {url: 'smtp://127.0.0.1:%d', from: 'w1 <w1@example.com>', starttls: off%s}\n" % (
            sinks.smtp_port, sessions)
        config += "secrets: {env: [API_URL]}\n"
        env["API_URL"] = sinks.url
    service = harness.Service(tmp, config, env)
    flow_id = flow_text.split("id: ", 1)[1].split("\n", 1)[0]
    service_cpu0 = cpu_seconds(service.proc.pid)
    sinks_cpu0 = sinks.cpu() if sinks else 0.0

    bodies = event_bodies(event_name, events)
    started = time.monotonic()
    post_bodies(service, bodies, clients=8)
    sent = time.monotonic() - started

    # Counters from /metrics: listing 10,000 runs every second would load the service it measures.
    deadline = time.monotonic() + 600
    while True:
        text = metrics_text(service)
        done = (metric_total(text, "flowrun_runs_completed_total", flow_id) +
                metric_total(text, "flowrun_runs_failed_total", flow_id))
        if done >= events or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    service_cpu = cpu_seconds(service.proc.pid) - service_cpu0
    sinks_cpu = sinks.cpu() - sinks_cpu0 if sinks else 0.0
    means = step_means(text)
    runs = service.runs(flow=flow_id)
    rss = peak_rss_mb(service.proc.pid)
    service.stop()

    completed = [r for r in runs if r["status"] == "completed"]
    starts = [harness.unix_time(r["event"]["ts"]) for r in runs]
    ends = [harness.unix_time(r["ended_at"]) for r in completed]
    latencies = sorted(harness.unix_time(r["ended_at"]) - harness.unix_time(r["event"]["ts"]) for r in completed)
    span = max(ends) - min(starts) if ends else float("nan")
    row = {
        "variant": name, "events": events, "completed": len(completed),
        "runs_per_s": len(completed) / span if span else float("nan"),
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan"),
        "rss_mb": rss, "ingest_s": sent, "service_cpu": service_cpu, "sinks_cpu": sinks_cpu,
        "fsync_rate": fsync_rate,
        "steps": ", ".join("%s %.2f ms" % (a, means[a]) for a in sorted(means)),
    }
    checks = []
    ok = len(completed) == events
    if io:
        keys, message_ids, _ = sinks.counts()
        rows_in_db = harness.query(os.path.join(tmp, "app.db"), "SELECT count(*) AS c FROM orders")[0]["c"]
        uses = {action: "\n    %s:" % action for action in ("http", "db", "email")}
        if uses["http"] in flow_text:
            checks.append("%d http keys" % keys)
            ok = ok and keys == events
        if uses["email"] in flow_text:
            checks.append("%d Message-IDs" % message_ids)
            ok = ok and message_ids == events
        if uses["db"] in flow_text:
            checks.append("%d rows" % rows_in_db)
            ok = ok and rows_in_db == events
        sinks.close()
    row["check"] = ", ".join(checks) or "-"
    row["ok"] = ok
    shutil.rmtree(tmp, ignore_errors=True)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--variant", default="both",
                        choices=["noop", "http-db-email", "both", "http", "db", "email"])
    parser.add_argument("--workers", type=int, default=0,
                        help="the config's workers (default: the service's own default)")
    parser.add_argument("--sinks", choices=["cpp", "python"], default="cpp",
                        help="the loopback HTTP and SMTP servers (default: bench/w1_sinks)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per variant; prints the median")
    parser.add_argument("--smtp-delay-ms", type=int, default=0,
                        help="the C++ SMTP sink answers each message's data this late")
    parser.add_argument("--smtp-max-sessions", type=int, default=0,
                        help="the config's smtp.max_sessions (default: the service's own)")
    args = parser.parse_args()
    if args.smtp_delay_ms and args.sinks != "cpp":
        parser.error("--smtp-delay-ms needs --sinks cpp")
    plan = []
    if args.variant in ("noop", "both"):
        plan.append(("no-op x3", NOOP_FLOW, "w1/noop", None))
    if args.variant in ("http-db-email", "both"):
        plan.append(("http -> db -> email", IO_FLOW, "w1/io", args.sinks))
    if args.variant in SINGLE_FLOWS:
        plan.append((args.variant + " only", SINGLE_FLOWS[args.variant], "w1/" + args.variant,
                     args.sinks))
    rows = []
    medians = []
    for name, flow, event, sinks in plan:
        repeats = [run_variant(name, flow, event, args.events, sinks, args.workers,
                               args.smtp_delay_ms, args.smtp_max_sessions)
                   for _ in range(args.repeat)]
        rows.extend(repeats)
        medians.append((name, statistics.median(r["runs_per_s"] for r in repeats)))
    print()
    print("W1 through `flowrun serve` (%d events, %d cores, workers: %s, sinks: %s, SMTP delay: "
          "%d ms, smtp.max_sessions: %s)" % (
              args.events, os.cpu_count(), args.workers or "default", args.sinks,
              args.smtp_delay_ms, args.smtp_max_sessions or "default"))
    print()
    print("| variant | completed | runs/s | p50 latency | p99 latency | peak RSS | side effects |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print("| %s | %d/%d | %.0f | %.0f ms | %.0f ms | %.1f MB | %s |" % (
            r["variant"], r["completed"], r["events"], r["runs_per_s"], r["p50_ms"], r["p99_ms"],
            r["rss_mb"], r["check"]))
    print()
    print("| variant | acknowledge every event (8 clients on kept connections, 100 per request) | CPU s: service | CPU s: sinks | mean step attempt | disk fsyncs/s before |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for r in rows:
        print("| %s | %.1f s | %.1f | %.1f | %s | %.0f |" % (
            r["variant"], r["ingest_s"], r["service_cpu"], r["sinks_cpu"], r["steps"],
            r["fsync_rate"]))
    if args.repeat > 1:
        print()
        for name, median in medians:
            print("median of %d, %s: %.0f runs/s" % (args.repeat, name, median))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
