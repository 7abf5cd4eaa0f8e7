"""Crash test under load: 2,000 events into an http -> db -> sleep 1 s -> email flow while the
service is SIGKILLed at random moments 10 times and restarted each time. Then:

  - every acknowledged event started exactly one run, and that run completed;
  - the loopback HTTP server saw exactly one distinct Idempotency-Key per run step;
  - the SMTP server received as many distinct Message-IDs as there are runs;
  - the application database holds one row per run;
  - the journal holds no duplicate step completions (read from the store file, read-only).

Usage: FLOWRUN_BIN=build/flowrun /usr/bin/python3 tests/e2e/crash_test.py [--events N] [--kills N]
"""

import argparse
import collections
import json
import os
import random
import shutil
import sys
import tempfile
import time

import harness

FLOW = """
id: crash-http-db-email
on: [{event: crash/order.paid}]
retry: {attempts: 10, delay: 200ms, backoff: exponential, max_delay: 2s}
steps:
  - id: notify-api
    http:
      method: POST
      url: "${{ secrets.API_URL }}/app/orders"
      json: {order: "${{ event.data.n }}"}
  - id: record
    db:
      database: app
      sql: INSERT INTO deliveries (n, run_id) VALUES (:n, :run_id) ON CONFLICT (n) DO NOTHING
      params: {n: "${{ event.data.n }}", run_id: "${{ run.id }}"}
  - id: pause
    sleep: 1s
  - id: receipt
    email:
      to: "buyer-${{ event.data.n }}@example.com"
      subject: "Order ${{ event.data.n }} received"
      text: "Thanks for order ${{ event.data.n }}."
"""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print("crash test: %d events, %d kills, seed %d" % (args.events, args.kills, args.seed))

    tmp = tempfile.mkdtemp(prefix="flowrun-crash-")
    api = harness.FakeApi()
    smtp = harness.SmtpServer()
    os.makedirs(os.path.join(tmp, "flows"))
    with open(os.path.join(tmp, "flows", "crash.yaml"), "w") as f:
        f.write(FLOW)
    app_db = os.path.join(tmp, "app.db")
    harness.make_app_db(app_db, "CREATE TABLE deliveries (n INTEGER PRIMARY KEY, run_id TEXT NOT NULL);")
    config = ("store: sqlite:flowrun.db\nflows: flows\ndatabases: {app: 'sqlite:app.db'}\n"
              "smtp: {url: '%s', from: 'shop <shop@example.com>'}\nsecrets: {env: [API_URL]}\n"
              % smtp.url)
    service = harness.Service(tmp, config, {"API_URL": api.url})
    checks = harness.Checks()
    check = checks.check
    failures = checks.failures

    started = time.monotonic()
    sender = harness.AckedSender(service, "crash/order.paid", args.events)
    kill_times = sorted(rng.uniform(0.3, 14.0) for _ in range(args.kills))
    for k, at in enumerate(kill_times):
        time.sleep(max(0.0, started + at - time.monotonic()))
        service.kill()
        print("kill %d at %.1f s (%d events acknowledged)"
              % (k + 1, time.monotonic() - started, sender.acknowledged()))
        time.sleep(rng.uniform(0.0, 0.3))
        service.start()
    sender.done.wait(120)
    check(sender.done.is_set(), "all %d events acknowledged (%s)" % (args.events, sender.gave_up or "in time"))
    acked = sender.acked

    def all_done():
        runs = service.runs(flow="crash-http-db-email")
        return runs if len(runs) >= len(acked) and all(r["status"] == "completed" for r in runs) else None
    try:
        runs = harness.wait_until(all_done, 90, 0.5, "every run to complete")
    except AssertionError:
        runs = service.runs(flow="crash-http-db-email")
    print("all runs finished %.1f s after the start" % (time.monotonic() - started))
    # Give any duplicate side effect a moment to show up before counting.
    time.sleep(1.0)

    by_event = collections.Counter(r["trigger_event_id"] for r in runs)
    statuses = collections.Counter(r["status"] for r in runs)
    check(len(acked) == args.events, "acknowledged %d of %d events" % (len(acked), args.events))
    check(all(by_event[eid] == 1 for eid in acked.values()),
          "every acknowledged event started exactly one run (%d missing, %d duplicated)" % (
              sum(1 for e in acked.values() if by_event[e] == 0),
              sum(1 for e in acked.values() if by_event[e] > 1)))
    check(len(runs) == len(acked), "%d runs for %d acknowledged events" % (len(runs), len(acked)))
    check(statuses == {"completed": len(runs)}, "run statuses %s" % dict(statuses))

    run_ids = {r["id"] for r in runs}
    keys = collections.Counter(c["idempotency_key"] for c in api.calls("POST", "^/app/orders$"))
    expected = {"%s/notify-api" % r for r in run_ids}
    check(set(keys) == expected, "one distinct Idempotency-Key per run's http step (%d keys, %d runs, %d requests)"
          % (len(keys), len(run_ids), sum(keys.values())))

    mails = smtp.messages()
    message_ids = {m["message_id"] for m in mails}
    check(len(message_ids) == len(runs), "%d distinct Message-IDs for %d runs (%d messages delivered)"
          % (len(message_ids), len(runs), len(mails)))
    recipients = {m["to"] for m in mails}
    check(len(recipients) == len(runs), "%d distinct recipients" % len(recipients))

    rows = harness.query(app_db, "SELECT n, run_id FROM deliveries")
    check(len(rows) == len(runs) and {r["run_id"] for r in rows} == run_ids,
          "one deliveries row per run (%d rows)" % len(rows))

    journal = harness.query(os.path.join(tmp, "flowrun.db"),
                            "SELECT run_id, step_key, count(*) AS c FROM journal "
                            "WHERE kind = 'completed' GROUP BY run_id, step_key HAVING c > 1")
    check(journal == [], "no duplicate step completions in the journal (%d)" % len(journal))
    completions = harness.query(os.path.join(tmp, "flowrun.db"),
                                "SELECT count(*) AS c FROM journal WHERE kind = 'completed' "
                                "AND run_id IN (SELECT id FROM runs WHERE flow_id = 'crash-http-db-email')")
    check(completions[0]["c"] == 4 * len(runs), "%d step completions for %d runs x 4 steps"
          % (completions[0]["c"], len(runs)))

    service.stop()
    api.close()
    smtp.close()
    if failures:
        print(service.log_tail())
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    passed = 1 if not failures else 0
    print("crash test took %.0f s" % (time.monotonic() - started))
    print("%d passed, %d failed" % (passed, 1 - passed))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
