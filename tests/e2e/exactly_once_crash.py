"""Exactly-once `db` steps under SIGKILL: events go into an http -> db -> sleep -> http flow whose
db step is an INSERT with no guard of its own (no unique key, no ON CONFLICT), while the service
is SIGKILLed again and again and restarted each time. A step that ran twice would leave a second
row, so the app database counts re-applications directly:

  - every acknowledged event started exactly one run, and that run completed;
  - the app table holds exactly one row per run (0 re-applications);
  - flowrun_step_results holds one recorded result per run's db step;
  - the service log counts the retries that found their result recorded ("db step result
    replayed": a kill landed between the statement's commit and the journal's), which shows the
    kills hit the window that exactly-once closes.

Slow (minutes); not in CI. Usage:
  FLOWRUN_BIN=build/flowrun /usr/bin/python3 tests/e2e/exactly_once_crash.py [--events 3000] [--kills 100]
"""

import argparse
import collections
import os
import random
import shutil
import sys
import tempfile
import time

import harness

FLOW = """
id: exactly-once
on: [{event: once/order.paid}]
retry: {attempts: 20, delay: 200ms, backoff: exponential, max_delay: 2s}
steps:
  - id: notify-api
    http:
      method: POST
      url: "${{ secrets.API_URL }}/app/orders"
      json: {order: "${{ event.data.n }}"}
  - id: record
    db:
      database: app
      sql: INSERT INTO applications (n, run_id) VALUES (:n, :run_id)
      params: {n: "${{ event.data.n }}", run_id: "${{ run.id }}"}
  - id: pause
    sleep: 1s
  - id: confirm
    http:
      method: POST
      url: "${{ secrets.API_URL }}/app/confirmations"
      json: {order: "${{ event.data.n }}"}
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print("exactly-once crash test: %d events, %d kills, seed %d" % (args.events, args.kills, args.seed))

    tmp = tempfile.mkdtemp(prefix="flowrun-once-")
    api = harness.FakeApi()
    os.makedirs(os.path.join(tmp, "flows"))
    with open(os.path.join(tmp, "flows", "once.yaml"), "w") as f:
        f.write(FLOW)
    app_db = os.path.join(tmp, "app.db")
    harness.make_app_db(app_db, "CREATE TABLE applications (n INTEGER NOT NULL, run_id TEXT NOT NULL);")
    config = ("store: sqlite:flowrun.db\nflows: flows\ndatabases: {app: 'sqlite:app.db'}\n"
              "secrets: {env: [API_URL]}\n")
    service = harness.Service(tmp, config, {"API_URL": api.url})
    checks = harness.Checks()
    check = checks.check
    failures = checks.failures

    started = time.monotonic()
    sender = harness.AckedSender(service, "once/order.paid", args.events)
    # Kills keep coming while events arrive and while runs are still in flight after that.
    for k in range(args.kills):
        time.sleep(rng.uniform(0.05, 0.6))
        service.kill()
        if (k + 1) % 10 == 0:
            print("kill %d at %.1f s (%d events acknowledged)"
                  % (k + 1, time.monotonic() - started, sender.acknowledged()), flush=True)
        time.sleep(rng.uniform(0.0, 0.2))
        service.start()
    sender.done.wait(600)
    check(sender.done.is_set(), "all %d events acknowledged (%s)" % (args.events, sender.gave_up or "in time"))
    acked = sender.acked

    def all_done():
        runs = service.runs(flow="exactly-once")
        return runs if len(runs) >= len(acked) and all(r["status"] == "completed" for r in runs) else None
    try:
        runs = harness.wait_until(all_done, 300, 0.5, "every run to complete")
    except AssertionError:
        runs = service.runs(flow="exactly-once")
    print("all runs finished %.1f s after the start" % (time.monotonic() - started))
    time.sleep(1.0)

    by_event = collections.Counter(r["trigger_event_id"] for r in runs)
    statuses = collections.Counter(r["status"] for r in runs)
    check(len(acked) == args.events, "acknowledged %d of %d events" % (len(acked), args.events))
    check(all(by_event[eid] == 1 for eid in acked.values()),
          "every acknowledged event started exactly one run")
    check(statuses == {"completed": len(runs)}, "run statuses %s" % dict(statuses))

    run_ids = {r["id"] for r in runs}
    rows = harness.query(app_db, "SELECT n, run_id FROM applications")
    per_run = collections.Counter(r["run_id"] for r in rows)
    reapplied = sum(c - 1 for c in per_run.values() if c > 1)
    check(set(per_run) == run_ids, "an applications row for every run (%d rows, %d runs)"
          % (len(rows), len(run_ids)))
    check(reapplied == 0, "%d re-applications of the db step in %d runs" % (reapplied, len(run_ids)))
    recorded = harness.query(app_db, "SELECT count(*) AS c FROM flowrun_step_results")
    check(recorded[0]["c"] == len(run_ids), "%d recorded step results for %d runs"
          % (recorded[0]["c"], len(run_ids)))
    with open(service.log_path, errors="replace") as f:
        replayed = sum('"msg":"db step result replayed"' in line for line in f)
    print("info %d db step retries returned the recorded result instead of running the statement"
          % replayed)
    confirmations = collections.Counter(c["idempotency_key"]
                                        for c in api.calls("POST", "^/app/confirmations$"))
    check(len(confirmations) == len(run_ids), "one distinct Idempotency-Key per run's last http step")

    service.stop()
    api.close()
    if failures:
        print(service.log_tail())
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    passed = 1 if not failures else 0
    print("exactly-once crash test took %.0f s" % (time.monotonic() - started))
    print("%d passed, %d failed" % (passed, 1 - passed))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
