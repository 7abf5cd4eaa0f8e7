"""Flow control and bulk operations through `flowrun serve`: throttle, rate_limit, debounce,
batch, priority, singleton and a concurrency list, each from events sent to the API; bulk
cancel and bulk rerun paged with a cursor; skipped runs in /metrics; a debounce open across a
restart."""

import os
import shutil
import tempfile
import time
import unittest
import urllib.request

import harness

FLOWS = {
    "throttled.yaml": """id: throttled
on: {event: fc/throttle}
throttle: {limit: 1, period: 2s, key: event.data.account}
steps:
  - id: a
    return: "${{ event.data.n }}"
""",
    "limited.yaml": """id: limited
on: {event: fc/limit}
rate_limit: {limit: 1, period: 1h, key: event.data.user}
steps:
  - id: a
    return: ok
""",
    "debounced.yaml": """id: debounced
on: {event: fc/debounce}
debounce: {period: 2s, key: event.data.doc}
steps:
  - id: a
    return: "${{ event.data.rev }}"
""",
    "restart-debounced.yaml": """id: restart-debounced
on: {event: fc/debounce-restart}
debounce: {period: 8s, key: event.data.doc}
steps:
  - id: a
    return: "${{ event.data.rev }}"
""",
    "batched.yaml": """id: batched
on: {event: fc/batch}
batch: {max_size: 5, timeout: 2s}
steps:
  - id: a
    return: "${{ size(events) }}"
""",
    "ranked.yaml": """id: ranked
on: {event: fc/rank}
priority: {run: "event.data.pro ? 120 : 0"}
steps:
  - id: a
    return: "${{ event.data.pro }}"
""",
    "single.yaml": """id: single
on: {event: fc/single}
singleton: {key: event.data.user, mode: skip}
steps:
  - id: wait
    wait_for_event: {event: fc/never, match: data.user, timeout: 1h}
""",
    "listed.yaml": """id: listed
on: {event: fc/list}
concurrency:
  - {limit: 1, key: event.data.account}
  - {limit: 2}
steps:
  - id: nap
    sleep: 1s
  - id: a
    return: ok
""",
    "failing.yaml": """id: failing
on: {event: fc/fail}
steps:
  - id: check
    if: event.data.fail
    fail: {message: "no"}
  - id: a
    return: fine
""",
}


class FlowControlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="flowrun-e2e-fc-")
        os.mkdir(os.path.join(cls.tmp, "flows"))
        for name, text in FLOWS.items():
            with open(os.path.join(cls.tmp, "flows", name), "w") as f:
                f.write(text)
        cls.service = harness.Service(cls.tmp, "store: sqlite:flowrun.db\nflows: flows\n")

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_throttle_spaces_starts_and_drops_nothing(self):
        self.service.send([{"name": "fc/throttle", "data": {"account": "a", "n": i}} for i in range(3)])
        runs = self.service.wait_runs("throttled", 3, timeout=60)
        ends = sorted(harness.unix_time(r["ended_at"]) for r in runs)
        # One start per 2 s: the third run cannot end before ~4 s after the first.
        self.assertGreaterEqual(ends[2] - ends[0], 3.5)

    def test_rate_limit_skips_with_the_reason_and_counts_it(self):
        self.service.send([{"name": "fc/limit", "data": {"user": "u"}} for _ in range(3)])
        runs = self.service.wait_runs("limited", 3, ("completed", "skipped"))
        skipped = [r for r in runs if r["status"] == "skipped"]
        self.assertEqual(len(skipped), 2)
        self.assertTrue(all(r["skip_reason"] == "rate_limit" for r in skipped))
        request = urllib.request.Request(self.service.url + "/metrics",
                                         headers={"Authorization": "Bearer " + self.service.token})
        with urllib.request.urlopen(request, timeout=10) as r:
            metrics = r.read().decode()
        self.assertIn('flowrun_runs_skipped_total{flow="limited",cause="rate_limit"} 2', metrics)

    def test_debounce_gives_one_run_with_the_last_event(self):
        self.service.send([{"name": "fc/debounce", "data": {"doc": "d", "rev": i}} for i in range(5)])
        runs = self.service.wait_runs("debounced", 1)
        time.sleep(1)
        runs = self.service.runs(flow="debounced")
        self.assertEqual(len(runs), 1)
        self.assertEqual(runs[0]["output"], 4)

    def test_batch_of_exactly_max_size_and_a_partial_one(self):
        self.service.send([{"name": "fc/batch", "data": {"n": i}} for i in range(7)])
        runs = self.service.wait_runs("batched", 2)
        self.assertEqual(sorted(r["output"] for r in runs), [2, 5])
        self.assertEqual(sorted(len(r["events"]) for r in runs), [2, 5])

    def test_priority_moves_the_due_time_ahead(self):
        self.service.send([{"name": "fc/rank", "data": {"pro": True}}])
        run = self.service.wait_runs("ranked", 1)[0]
        self.assertEqual(run["output"], True)

    def test_singleton_skip(self):
        self.service.send([{"name": "fc/single", "data": {"user": "u"}}])
        self.service.wait_run("single", {"user": "u"}, ("waiting",))
        self.service.send([{"name": "fc/single", "data": {"user": "u"}}])

        def both():
            runs = [r for r in self.service.runs(flow="single") if r["event"]["data"]["user"] == "u"]
            statuses = sorted(r["status"] for r in runs)
            return statuses if statuses == ["skipped", "waiting"] else None
        harness.wait_until(both, 30, 0.1, "a waiting and a skipped singleton run")

    def test_concurrency_list_completes_everything(self):
        self.service.send([{"name": "fc/list", "data": {"account": a}} for a in "aabbc"])
        self.service.wait_runs("listed", 5, timeout=90)

    def test_bulk_cancel_and_rerun(self):
        # Cancel: waiting singleton runs of other users, two per page.
        self.service.send([{"name": "fc/single", "data": {"user": "bulk-%d" % i}} for i in range(3)])
        for i in range(3):
            self.service.wait_run("single", {"user": "bulk-%d" % i}, ("waiting",))
        body = {"flow": "single", "status": "waiting", "if": "event.data.user != \"u\"", "limit": 2}
        cancelled = 0
        while True:
            code, report = self.service.request("POST", "/v1/runs/cancel", body)
            self.assertEqual(code, 200, report)
            cancelled += report["cancelled"]
            if not report["next_cursor"]:
                break
            body["cursor"] = report["next_cursor"]
        self.assertEqual(cancelled, 3)
        for i in range(3):
            self.service.wait_run("single", {"user": "bulk-%d" % i}, ("cancelled",))
        # Rerun: every failed run as a new run (with the same events they fail again).
        self.service.send([{"name": "fc/fail", "data": {"fail": True}} for _ in range(2)])
        self.service.wait_runs("failing", 2, ("failed",))
        code, report = self.service.request("POST", "/v1/runs/rerun", {"flow": "failing"})
        self.assertEqual(code, 200, report)
        self.assertEqual(report["rerun"], 2)
        self.service.wait_runs("failing", 4, ("failed",))
        # One run, no body.
        code, _ = self.service.request("POST", "/v1/runs/%s/cancel" % report["runs"][0])
        self.assertIn(code, (202, 409))

    def test_zz_an_open_debounce_survives_a_restart(self):
        self.service.send([{"name": "fc/debounce-restart", "data": {"doc": "r", "rev": 1}}])
        self.service.kill()
        self.service.start()
        self.service.send([{"name": "fc/debounce-restart", "data": {"doc": "r", "rev": 2}}])
        runs = self.service.wait_runs("restart-debounced", 1, timeout=60)
        self.assertEqual(len(runs), 1)
        self.assertEqual(runs[0]["output"], 2)


if __name__ == "__main__":
    unittest.main()
