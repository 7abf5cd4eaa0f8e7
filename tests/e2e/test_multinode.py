"""Several `flowrun serve` nodes on one store (issue 14), on PostgreSQL and on one SQLite file:

  - kill under load: three nodes take order events round-robin (each order's `paid` event goes
    later to a different node) while one node is SIGKILLed every 3 s and restarted. Every
    acknowledged event has exactly one run and every run completes; the fake API sees one
    Idempotency-Key per run and step, the SMTP sink one Message-ID per run, the app database one
    row per run (db steps are exactly-once); a cron flow fires each minute tick exactly once;
  - fencing: a node paused (SIGSTOP) past its lease and resumed commits nothing for the runs it
    lost: its late writes are refused and logged, and every run still completes once;
  - paused inside a transaction (PostgreSQL): a node stopped while its store session is idle in a
    transaction holds row and advisory locks; the server ends that session
    (idle_in_transaction_session_timeout), so the other nodes go on. (With the timeout switched
    off, the probe event sent to another node was not even acknowledged within 30 s.)

Defaults keep the module near two minutes. Knobs: FLOWRUN_MULTINODE_ORDERS (default 2000),
FLOWRUN_MULTINODE_SEED (the kill order), FLOWRUN_MULTINODE_KILL_S (least seconds of kills,
default 30), FLOWRUN_MULTINODE_CRON=0 (skip waiting for a minute tick).

    FLOWRUN_BIN=build/flowrun /usr/bin/python3 tests/e2e/test_multinode.py [-k Postgres]
"""

import collections
import json
import os
import random
import sys
import time
import unittest

import harness
from cluster import Cluster, slow_api

# lookback: run. Each wait pages through the events of its window, so a fixed window (1h) finds
# its event as well, but it rereads every earlier order's payment; since the run began is enough.
ORDER_FLOW = """
id: mn-order
on: [{event: mn/order.placed}]
retry: {attempts: 30, delay: 200ms, backoff: exponential, max_delay: 2s}
steps:
  - id: reserve
    http:
      method: POST
      url: "${{ secrets.API_URL }}/app/reserve"
      json: {order: "${{ event.data.n }}"}
  - id: paid
    wait_for_event: {event: mn/order.paid, match: data.n, timeout: 10m, lookback: run}
  - id: record
    db:
      database: app
      sql: INSERT INTO orders (n, run_id) VALUES (:n, :run_id)
      params: {n: "${{ event.data.n }}", run_id: "${{ run.id }}"}
  - id: confirm
    email:
      to: "order-${{ event.data.n }}@example.com"
      subject: "Order ${{ event.data.n }} paid"
      text: "Thank you."
"""

TICK_FLOW = """
id: mn-tick
on: [{cron: "* * * * *"}]
steps:
  - id: ping
    http: {method: POST, url: "${{ secrets.API_URL }}/app/tick"}
"""

# Fencing: a slow API call keeps runs in flight on every node when one is paused.
SLOW_FLOW = """
id: mn-slow
on: [{event: mn/slow.requested}]
retry: {attempts: 30, delay: 200ms, backoff: exponential, max_delay: 2s}
steps:
  - id: first
    http: {method: POST, url: "${{ secrets.API_URL }}/slow/first", json: {n: "${{ event.data.n }}"}}
  - id: record
    db:
      database: app
      sql: INSERT INTO orders (n, run_id) VALUES (:n, :run_id)
      params: {n: "${{ event.data.n }}", run_id: "${{ run.id }}"}
  - id: second
    http: {method: POST, url: "${{ secrets.API_URL }}/slow/second", json: {n: "${{ event.data.n }}"}}
"""

APP_SCHEMA = "CREATE TABLE orders (n INTEGER NOT NULL, run_id TEXT NOT NULL);"
REFUSED = "refused a write for a run whose lease this writer no longer holds"


class PaidSender(harness.AckedSender):
    """The `paid` event of each acknowledged order, a little later, to another node than the one
    that took the order."""

    def __init__(self, services, orders, count):
        self.orders = orders
        super().__init__(services, "mn/order.paid", count, prefix="paid-")

    def _wait_before(self, batch):
        while not self.stopping.is_set():
            with self.orders.lock:
                if all("order-%d" % n in self.orders.acked for n in batch):
                    return True
            time.sleep(0.05)
        return False

    def _node_for(self, batch):
        with self.orders.lock:
            took = self.orders.acked_by["order-%d" % batch[0]]
        return (took + 1) % len(self.services)


def wait_all_completed(cluster, flow, count, timeout):
    def done():
        try:
            runs = cluster.runs(flow)
        except AssertionError:
            return None
        return runs if len(runs) >= count and all(r["status"] == "completed" for r in runs) \
            else None
    try:
        return harness.wait_until(done, timeout, 0.5, "%d completed runs of %s" % (count, flow))
    except AssertionError:
        runs = cluster.runs(flow)
        statuses = collections.Counter(r["status"] for r in runs)
        node = cluster.alive()[0]
        stuck = [json.dumps(node.run(r["id"]))[:1500] for r in runs
                 if r["status"] != "completed"][:4]
        raise AssertionError("%s: wanted %d completed runs, have %s\n%s\n%s"
                             % (flow, count, dict(statuses), "\n".join(stuck),
                                cluster.log_tails()))


class KillUnderLoad:
    STORE = None

    def test_nodes_killed_under_load(self):
        orders = int(os.environ.get("FLOWRUN_MULTINODE_ORDERS", "2000"))
        seed = int(os.environ.get("FLOWRUN_MULTINODE_SEED", str(int(time.time()))))
        want_cron = os.environ.get("FLOWRUN_MULTINODE_CRON", "1") != "0"
        rng = random.Random(seed)
        print("\n%s: %d orders, seed %d" % (self.STORE, orders, seed), flush=True)
        flows = {"order.yaml": ORDER_FLOW}
        if want_cron:
            flows["tick.yaml"] = TICK_FLOW
        began = time.time()  # the nodes fire ticks from their start, before `started`
        with Cluster(3, store=self.STORE, flows=flows, app_schema=APP_SCHEMA) as c:
            started = time.time()
            placed = harness.AckedSender(c.nodes, "mn/order.placed", orders)
            paid = PaidSender(c.nodes, placed, orders)
            # One node SIGKILLed every 3 s and restarted, until every event is acknowledged, for
            # at least FLOWRUN_MULTINODE_KILL_S and, with the cron flow, until a minute boundary
            # has passed with nodes dying around it.
            next_minute = (int(started) // 60 + 1) * 60
            kill_until = started + float(os.environ.get("FLOWRUN_MULTINODE_KILL_S", "30"))
            kills = 0
            victim = rng.randrange(3)
            while True:
                beat = time.monotonic()
                both_done = placed.done.is_set() and paid.done.is_set()
                if both_done and time.time() > kill_until and (
                        not want_cron or time.time() > next_minute + 4):
                    break
                if placed.gave_up or paid.gave_up:
                    break
                c.kill(victim)
                kills += 1
                c.restart(victim)
                victim = (victim + rng.randrange(1, 3)) % 3
                time.sleep(max(0.0, 3.0 - (time.monotonic() - beat)))
            print("%d kills in %.0f s; %d + %d events acknowledged"
                  % (kills, time.time() - started, placed.acknowledged(), paid.acknowledged()),
                  flush=True)
            self.assertIsNone(placed.gave_up)
            self.assertIsNone(paid.gave_up)
            self.assertGreaterEqual(kills, 3)

            runs = wait_all_completed(c, "mn-order", orders, 120)
            print("every run completed %.0f s after the start" % (time.time() - started),
                  flush=True)
            time.sleep(1.0)  # outbox deliveries after the last commit
            runs = c.runs("mn-order")

            by_event = collections.Counter(r["trigger_event_id"] for r in runs)
            self.assertEqual(len(placed.acked), orders)
            self.assertEqual(len(runs), orders, "one run per acknowledged event")
            for eid in placed.acked.values():
                self.assertEqual(by_event[eid], 1, "runs of event %s" % eid)
            run_ids = {r["id"] for r in runs}

            # Fake API: each run's http step under one Idempotency-Key (a retry after a kill
            # resends the same key).
            reserve = [call["idempotency_key"] for call in c.api.calls("POST", "^/app/reserve$")]
            self.assertEqual(set(reserve), {rid + "/reserve" for rid in run_ids})
            # App database: exactly one row per run.
            rows = harness.query(c.app_db, "SELECT run_id FROM orders")
            per_run = collections.Counter(r["run_id"] for r in rows)
            self.assertEqual(set(per_run), run_ids)
            self.assertEqual(max(per_run.values()), 1, "a db step applied twice")
            # SMTP: one Message-ID per run, to the order's address.
            mail = harness.wait_until(
                lambda: (lambda m: m if len({x["message_id"] for x in m}) >= orders else None)(
                    c.smtp.messages()), 30, 0.5, "one mail per run")
            self.assertEqual(len({m["message_id"] for m in mail}), orders)
            self.assertEqual({m["to"] for m in mail},
                             {"order-%d@example.com" % n for n in range(orders)})
            print("sinks: %d reserve calls for %d keys, %d mails for %d Message-IDs, %d rows"
                  % (len(reserve), len(set(reserve)), len(mail),
                     len({m["message_id"] for m in mail}), len(rows)), flush=True)

            if want_cron:
                read_at = time.time()
                ticks = c.runs("mn-tick")
                statuses = collections.Counter(r["status"] for r in ticks)
                # A cron run's event time is its tick.
                per_minute = collections.Counter(
                    int(harness.unix_time(r["event"]["ts"])) // 60 for r in ticks)
                # Every boundary between the start of the load and 5 s before the runs were read
                # has its run; one that passed while the cluster started, or in those last
                # seconds, may have one too.
                required = set(range(int(started) // 60 + 1, int(read_at - 5) // 60 + 1))
                allowed = set(range(int(began) // 60 + 1, int(time.time()) // 60 + 1))
                print("cron: %d tick runs %s for %d minute boundaries (%d since the nodes started)"
                      % (len(ticks), dict(statuses), len(required), len(allowed)), flush=True)
                self.assertLessEqual(required, set(per_minute), "a minute tick did not run")
                self.assertLessEqual(set(per_minute), allowed, "a tick of no boundary ran")
                self.assertEqual([m for m, n in per_minute.items() if n > 1], [],
                                 "minute ticks that ran more than once")
                self.assertEqual(set(statuses), {"completed"})
                calls = [call["idempotency_key"] for call in c.api.calls("POST", "^/app/tick$")]
                self.assertEqual(set(calls), {r["id"] + "/ping" for r in ticks})


class Fencing:
    STORE = None

    def test_paused_node_commits_nothing_for_the_runs_it_lost(self):
        count = 300
        with Cluster(3, store=self.STORE, flows={"slow.yaml": SLOW_FLOW},
                     app_schema=APP_SCHEMA, takeover_after="2s") as c:
            slow_api(c.api)
            sender = harness.AckedSender(c.nodes, "mn/slow.requested", count, pause_s=0.2)
            victim = 1
            node_id = c.node_id(victim)

            # Pause the node once it holds runs with calls in flight.
            def holding():
                calls = c.api.calls("POST", "^/slow/")
                return len(calls) > 20
            harness.wait_until(holding, 60, 0.1, "calls in flight")
            c.pause(victim)
            paused_at = time.monotonic()
            try:
                # Well past its lease (takeover_after 2 s): the others take its runs over.
                time.sleep(6.0)
            finally:
                c.resume(victim)
            print("\n%s: %s paused for %.1f s" % (self.STORE, node_id,
                                                   time.monotonic() - paused_at), flush=True)
            harness.wait_until(sender.done.is_set, 120, 0.2, "every event acknowledged")
            runs = wait_all_completed(c, "mn-slow", count, 180)
            run_ids = {r["id"] for r in runs}

            refused = harness.wait_until(lambda: c.log_lines(victim, REFUSED), 20, 0.2,
                                         "a refused write in the paused node's log")
            print("%d refused writes logged by %s; first: %s"
                  % (len(refused), node_id, refused[0].strip()[:300]), flush=True)
            self.assertIn('"writer":"%s"' % node_id, refused[0])
            for i in range(3):
                if i != victim:
                    self.assertEqual(c.log_lines(i, REFUSED), [],
                                     "%s had writes refused" % c.node_id(i))
            # Nothing it wrote late for the lost runs took effect: each run did its db step
            # once and completed once, and each step's calls share one key.
            rows = harness.query(c.app_db, "SELECT run_id FROM orders")
            per_run = collections.Counter(r["run_id"] for r in rows)
            self.assertEqual(set(per_run), run_ids)
            self.assertEqual(max(per_run.values()), 1, "a db step applied twice")
            for step in ("first", "second"):
                keys = {call["idempotency_key"] for call in c.api.calls("POST", "^/slow/" + step)}
                self.assertEqual(keys, {rid + "/" + step for rid in run_ids})
            self.assertEqual(len(runs), count)


class KillUnderLoadOnPostgres(KillUnderLoad, unittest.TestCase):
    STORE = "postgres"


class KillUnderLoadOnSqlite(KillUnderLoad, unittest.TestCase):
    STORE = "sqlite"


class FencingOnPostgres(Fencing, unittest.TestCase):
    STORE = "postgres"

    def test_node_paused_inside_a_transaction_does_not_block_the_others(self):
        count = 400
        with Cluster(3, store="postgres", flows={"slow.yaml": SLOW_FLOW},
                     app_schema=APP_SCHEMA, takeover_after="2s") as c:
            sender = harness.AckedSender(c.nodes, "mn/slow.requested", count, pause_s=0.05)
            victim = 2
            node_id = c.node_id(victim)
            sql = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' "
                   "AND state LIKE 'idle in transaction%%'" % node_id)
            caught = False
            tries = 0
            rng = random.Random(7)
            deadline = time.monotonic() + 40
            while not caught and time.monotonic() < deadline and not sender.done.is_set():
                tries += 1
                c.pause(victim)
                time.sleep(0.02)
                # Idle in transaction, twice in a row: paused inside it, not between statements.
                # And not inside a write to the application database: the `db` steps of every
                # node share one SQLite file, whose lock no server can take from a paused process
                # (docs/operations.md), so the others' `db` steps would wait for it to wake.
                if int(c.pg.query(sql)[0][0]) > 0:
                    time.sleep(0.1)
                    caught = (int(c.pg.query(sql)[0][0]) > 0 and
                              not _holds_file_lock(c.nodes[victim].proc.pid, c.app_db))
                if not caught:
                    c.resume(victim)
                    time.sleep(rng.uniform(0.0, 0.03))
            if not caught:
                c.resume(victim)
                self.skipTest("never caught %s inside a transaction in %d tries" % (node_id, tries))
            print("\ncaught %s paused inside a transaction after %d tries" % (node_id, tries),
                  flush=True)
            try:
                # The other nodes still take and finish new work while it stays paused.
                others = [n for i, n in enumerate(c.nodes) if i != victim]
                before = len([r for r in c.runs("mn-slow") if r["status"] == "completed"])
                started = time.monotonic()
                others[0].send([{"name": "mn/slow.requested", "id": "probe",
                                 "data": {"n": 100000}}])
                harness.wait_until(lambda: _probe_completed(others[1]), 30, 0.1,
                                   "the probe run to complete")
                took = time.monotonic() - started
                after = len([r for r in c.runs("mn-slow") if r["status"] == "completed"])
                print("while paused: the probe completed in %.1f s, %d runs completed"
                      % (took, after - before), flush=True)
                gone = harness.wait_until(lambda: int(c.pg.query(sql)[0][0]) == 0, 10, 0.1,
                                          "the paused session to end")
                self.assertTrue(gone)
            finally:
                c.resume(victim)
            harness.wait_until(sender.done.is_set, 120, 0.2, "every event acknowledged")
            runs = wait_all_completed(c, "mn-slow", count + 1, 180)
            rows = harness.query(c.app_db, "SELECT run_id FROM orders")
            per_run = collections.Counter(r["run_id"] for r in rows)
            self.assertEqual(set(per_run), {r["id"] for r in runs})
            self.assertEqual(max(per_run.values()), 1, "a db step applied twice")
            # The paused node came back: it answers again.
            self.assertEqual(c.nodes[victim].request("GET", "/readyz")[0], 200)


def _holds_file_lock(pid, path):
    """Whether process `pid` holds a lock on `path` (fcntl or flock), from /proc/locks."""
    st = os.stat(path)
    file_id = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    with open("/proc/locks") as f:
        for line in f:
            fields = line.split()
            if "->" in fields:
                continue  # a waiter, not a holder
            # "1: POSIX  ADVISORY  WRITE 4242 fe:00:1234 0 EOF"
            if int(fields[4]) == pid and fields[5] == file_id:
                return True
    return False


def _probe_completed(node):
    runs = [r for r in node.runs(flow="mn-slow") if r["event"]["data"].get("n") == 100000]
    return runs and runs[0]["status"] == "completed"


class FencingOnSqlite(Fencing, unittest.TestCase):
    STORE = "sqlite"


if __name__ == "__main__":
    sys.exit(harness.run_suite(["test_multinode"]))
