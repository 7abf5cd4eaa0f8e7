"""W1 through the service: 10,000 events into a 3-step flow served by `flowrun serve`, in two
variants: no-op steps, and http -> db -> email against loopback servers (a threaded HTTP server
and a threaded SMTP sink, both in this process). Prints markdown tables of runs/s, the p50/p99
latency from event to run completion (the event's stored ts to the run's ended_at), and the
service's peak RSS (VmHWM from /proc/PID/status).

    FLOWRUN_BIN=build-release/flowrun /usr/bin/python3 bench/w1_bench.py [--events N] [--variant noop|http-db-email]
"""

import argparse
import concurrent.futures
import datetime
import os
import shutil
import socketserver
import sys
import tempfile
import threading
import time

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


def parse_ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def peak_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def run_variant(name, flow_text, event_name, events, io, workers=0):
    tmp = tempfile.mkdtemp(prefix="flowrun-w1-")
    os.makedirs(os.path.join(tmp, "flows"))
    with open(os.path.join(tmp, "flows", "w1.yaml"), "w") as f:
        f.write(flow_text)
    # The application database in WAL mode, as a production SQLite database would be: in the
    # default rollback-journal mode every db step costs several fsyncs (about 60 runs/s here).
    harness.make_app_db(os.path.join(tmp, "app.db"), "PRAGMA journal_mode=WAL;"
                        "CREATE TABLE orders (n INTEGER PRIMARY KEY, run_id TEXT NOT NULL);")
    api = harness.FakeApi() if io else None
    smtp = SmtpSink() if io else None
    config = "store: sqlite:flowrun.db\nflows: flows\ndatabases: {app: 'sqlite:app.db'}\n"
    if workers:
        config += "workers: %d\n" % workers
    env = {}
    if io:
        config += "smtp: {url: 'smtp://127.0.0.1:%d', from: 'w1 <w1@example.com>', starttls: off}\n" % smtp.server_address[1]
        config += "secrets: {env: [API_URL]}\n"
        env["API_URL"] = api.url
    service = harness.Service(tmp, config, env)
    flow_id = flow_text.split("id: ", 1)[1].split("\n", 1)[0]

    batch = 100
    batches = [[{"name": event_name, "data": {"n": n}} for n in range(i, min(i + batch, events))]
               for i in range(0, events, batch)]
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(service.send, batches))
    sent = time.monotonic() - started

    def done_count():
        runs = service.runs(flow=flow_id)
        return sum(1 for r in runs if r["status"] in ("completed", "failed")), runs
    deadline = time.monotonic() + 600
    while True:
        count, runs = done_count()
        if count >= events or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    rss = peak_rss_mb(service.proc.pid)
    service.stop()

    completed = [r for r in runs if r["status"] == "completed"]
    starts = [parse_ts(r["event"]["ts"]) for r in runs]
    ends = [parse_ts(r["ended_at"]) for r in completed]
    latencies = sorted(parse_ts(r["ended_at"]) - parse_ts(r["event"]["ts"]) for r in completed)
    span = max(ends) - min(starts) if ends else float("nan")
    row = {
        "variant": name, "events": events, "completed": len(completed),
        "runs_per_s": len(completed) / span if span else float("nan"),
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan"),
        "rss_mb": rss, "ingest_s": sent,
    }
    if io:
        keys = {c["idempotency_key"] for c in api.calls("POST", "^/app/orders$")}
        row["check"] = "%d http keys, %d Message-IDs, %d rows" % (
            len(keys), len(smtp.message_ids),
            harness.query(os.path.join(tmp, "app.db"), "SELECT count(*) AS c FROM orders")[0]["c"])
        api.close()
        smtp.shutdown()
    else:
        row["check"] = "-"
    shutil.rmtree(tmp, ignore_errors=True)
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--variant", choices=["noop", "http-db-email", "both"], default="both")
    parser.add_argument("--workers", type=int, default=0,
                        help="the config's workers (default: the service's own default)")
    args = parser.parse_args()
    rows = []
    if args.variant in ("noop", "both"):
        rows.append(run_variant("no-op x3", NOOP_FLOW, "w1/noop", args.events, False, args.workers))
    if args.variant in ("http-db-email", "both"):
        rows.append(run_variant("http -> db -> email", IO_FLOW, "w1/io", args.events, True, args.workers))
    print()
    print("W1 through `flowrun serve` (%d events, %d cores, workers: %s)" % (
        args.events, os.cpu_count(), args.workers or "default"))
    print()
    print("| variant | completed | runs/s | p50 latency | p99 latency | peak RSS | side effects |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in rows:
        print("| %s | %d/%d | %.0f | %.0f ms | %.0f ms | %.1f MB | %s |" % (
            r["variant"], r["completed"], r["events"], r["runs_per_s"], r["p50_ms"], r["p99_ms"],
            r["rss_mb"], r["check"]))
    print()
    print("| variant | time to acknowledge every event (8 clients, 100 per request) |")
    print("| --- | ---: |")
    for r in rows:
        print("| %s | %.1f s |" % (r["variant"], r["ingest_s"]))
    return 0 if all(r["completed"] == r["events"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
