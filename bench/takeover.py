"""Takeover, measured: three `flowrun serve` nodes on one store run long chains of slow HTTP
steps; one node at a time is SIGKILLed (and not restarted until its runs moved), and the bench
times, per kill, how long until another node advances the dead node's runs: from the SIGKILL to
the first fake-API call, after it, of each run the dead node held (read from the store's
lease_owner just before the kill). A kill's figure is the time until the last of its runs
advanced (every run taken over); the first is printed too.

    FLOWRUN_BIN=build/flowrun /usr/bin/python3 bench/takeover.py [--store postgres|sqlite|both]
        [--kills 20] [--takeover-after 5s]

Prints one row per store: kills, runs taken over, p50 and max of the per-kill times.
"""

import argparse
import os
import random
import sqlite3
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import harness  # noqa: E402
from cluster import Cluster, slow_api  # noqa: E402

STEPS = 30
CHAIN_FLOW = "id: chain\non: [{event: chain/started}]\n" \
    "retry: {attempts: 50, delay: 100ms, backoff: exponential, max_delay: 1s}\nsteps:\n" + "".join(
        "  - id: s%d\n    http: {method: POST, url: \"${{ secrets.API_URL }}/slow/%d\"}\n"
        % (i, i) for i in range(STEPS))


def leased_by(cluster, node_id):
    sql = "SELECT id FROM runs WHERE lease_owner = '%s'" % node_id
    if cluster.kind == "postgres":
        return [row[0] for row in cluster.pg.query(sql)]
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(cluster.dir, "flowrun.db"), uri=True,
                          timeout=10)
    try:
        return [row[0] for row in con.execute(sql)]
    finally:
        con.close()


class Feeder:
    """Starts `rate` chains a second, to the live nodes in turn."""

    def __init__(self, cluster, rate):
        self.cluster = cluster
        self.rate = rate
        self.stopping = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        turn = 0
        while not self.stopping.is_set():
            nodes = self.cluster.alive()
            if nodes:
                node = nodes[turn % len(nodes)]
                turn += 1
                try:
                    node.request("POST", "/v1/events", [{"name": "chain/started",
                                                          "id": "chain-%d" % self.sent,
                                                          "data": {"n": self.sent}}])
                    self.sent += 1
                except OSError:
                    pass
            time.sleep(1.0 / self.rate)

    def stop(self):
        self.stopping.set()
        self.thread.join(10)


def measure(kind, kills, takeover_after, seed):
    rng = random.Random(seed)
    per_kill_last, per_kill_first, taken_over = [], [], 0
    with Cluster(3, store=kind, flows={"chain.yaml": CHAIN_FLOW},
                 takeover_after=takeover_after) as c:
        slow_api(c.api, 0.3)
        feeder = Feeder(c, rate=4)
        time.sleep(4.0)
        try:
            for k in range(kills):
                victim = rng.randrange(3)
                node_id = c.node_id(victim)
                held = harness.wait_until(lambda: leased_by(c, node_id), 30, 0.1,
                                          "%s to hold runs" % node_id)
                killed_at = time.time()
                c.kill(victim)
                held = set(held)
                advanced = {}

                def moved():
                    for call in c.api.calls("POST", "^/slow/"):
                        if call["at"] <= killed_at:
                            continue
                        run_id = (call["idempotency_key"] or "").split("/")[0]
                        if run_id in held and run_id not in advanced:
                            advanced[run_id] = call["at"] - killed_at
                    return len(advanced) == len(held)
                try:
                    harness.wait_until(moved, 30, 0.05, "the runs of %s to move" % node_id)
                except AssertionError:
                    # A run read as leased just before the kill may have made its last call and
                    # finished in between: it has nothing left to advance.
                    print("kill %d: %d of %d runs advanced within 30 s (the others had finished)"
                          % (k + 1, len(advanced), len(held)))
                if advanced:
                    per_kill_last.append(max(advanced.values()))
                    per_kill_first.append(min(advanced.values()))
                    taken_over += len(advanced)
                    print("%s kill %2d: %s held %2d runs; first advanced after %.2f s, last after "
                          "%.2f s" % (kind, k + 1, node_id, len(held), min(advanced.values()),
                                      max(advanced.values())), flush=True)
                c.restart(victim)
                time.sleep(1.0)
        finally:
            feeder.stop()
    return per_kill_first, per_kill_last, taken_over


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--takeover-after", default="5s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    kinds = ("postgres", "sqlite") if args.store == "both" else (args.store,)
    rows = []
    for kind in kinds:
        first, last, runs = measure(kind, args.kills, args.takeover_after, args.seed)
        rows.append((kind, len(last), runs, first, last))
    print()
    print("takeover_after %s, %d kills per store, load average %s"
          % (args.takeover_after, args.kills, " ".join("%.2f" % x for x in os.getloadavg())))
    print("| store | kills | runs taken over | first run advanced, p50 | all runs advanced, p50 "
          "| all runs advanced, max |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, n, runs, first, last in rows:
        if not last:
            print("| %s | 0 | 0 | - | - | - |" % kind)
            continue
        print("| %s | %d | %d | %.2f s | %.2f s | %.2f s |"
              % ("PostgreSQL" if kind == "postgres" else "SQLite", n, runs,
                 statistics.median(first), statistics.median(last), max(last)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
