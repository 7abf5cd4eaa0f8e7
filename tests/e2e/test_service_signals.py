"""`flowrun serve` as systemd runs it (packaging/flowrun.service): sd_notify messages on a real
AF_UNIX datagram socket given as $NOTIFY_SOCKET (READY=1 once it listens, WATCHDOG=1 pings,
RELOADING=1 / READY=1 around a reload, STOPPING=1), and SIGHUP reloads of the config and the
flows, all or nothing: a good reload serves the new flows while a started run stays on its
revision; a bad flow set or a bad config is refused with a log line and the old one keeps
serving."""

import json
import os
import shutil
import signal
import socket
import tempfile
import time
import unittest

import harness

GREET = """id: greet
on:
  - event: user/signup
steps:
  - id: nap
    sleep: 1h
  - id: done
    return: {version: %d}
"""
OTHER = """id: other
on:
  - event: other/thing
steps:
  - id: done
    return: 1
"""
# A valid document the compiler refuses: a step with an unknown action key.
BROKEN = """id: broken
on:
  - event: user/signup
steps:
  - id: nap
    slep: 1h
"""


class NotifySocket:
    """A real datagram socket bound to a path, as systemd's notification socket is."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.received = []

    def wait_for(self, predicate, timeout=30, what="a message"):
        """Reads datagrams until one satisfies `predicate`; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            for message in self.received:
                if predicate(message):
                    self.received.remove(message)
                    return message
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s on NOTIFY_SOCKET within %d s; got %r" % (
                    what, timeout, self.received))
            self.sock.settimeout(left)
            try:
                self.received.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


class ServiceSignalsTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="flowrun-signals-")
        self.flows = os.path.join(self.dir, "flows")
        os.makedirs(self.flows)
        self.write_flow("greet.yaml", GREET % 1)
        self.notify = NotifySocket(os.path.join(self.dir, "notify"))
        self.extra = "flows: flows\nwatch_flows: false\n"
        self.service = harness.Service(self.dir, self.extra, env={
            "NOTIFY_SOCKET": self.notify.path, "WATCHDOG_USEC": "1000000"})

    def tearDown(self):
        self.service.stop()
        self.notify.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_flow(self, name, text):
        with open(os.path.join(self.flows, name), "w") as f:
            f.write(text)

    def log_lines(self):
        with open(self.service.log_path, errors="replace") as f:
            return [json.loads(line) for line in f if line.startswith("{")]

    def wait_log(self, msg):
        return harness.wait_until(lambda: [l for l in self.log_lines() if l["msg"].startswith(msg)],
                                  30, what="log line %r" % msg)

    def revision(self, flow_id):
        code, body = self.service.request("GET", "/v1/flows")
        self.assertEqual(code, 200, body)
        for flow in body["flows"]:
            if flow["id"] == flow_id:
                return flow["revision"]
        return None

    def reload(self):
        """Sends SIGHUP and waits for the reload's READY=1."""
        self.service.proc.send_signal(signal.SIGHUP)
        self.notify.wait_for(lambda m: m.startswith("RELOADING=1\nMONOTONIC_USEC="),
                             what="RELOADING=1")
        return self.notify.wait_for(lambda m: m.startswith("READY=1"), what="READY=1 after reload")

    def test_ready_watchdog_and_stopping(self):
        ready = self.notify.wait_for(lambda m: m.startswith("READY=1"), what="READY=1")
        self.assertIn("STATUS=serving on 127.0.0.1:%d" % self.service.port, ready)
        # READY=1 comes once the port listens: the service answers at once.
        code, _ = self.service.request("GET", "/readyz")
        self.assertEqual(code, 200)
        for _ in range(2):  # every half WATCHDOG_USEC
            self.notify.wait_for(lambda m: m == "WATCHDOG=1", what="WATCHDOG=1")
        self.service.proc.send_signal(signal.SIGTERM)
        self.notify.wait_for(lambda m: m.startswith("STOPPING=1"), what="STOPPING=1")
        self.assertEqual(self.service.proc.wait(60), 0)

    def test_good_reload_then_bad_flow_set_then_bad_config(self):
        self.notify.wait_for(lambda m: m.startswith("READY=1"), what="READY=1")
        rev1 = self.revision("greet")
        pinned = self.service.send([{"name": "user/signup", "data": {"n": 1}}])
        harness.wait_until(lambda: self.service.runs(flow="greet", status="sleeping"), 30,
                           what="the first run to sleep")

        # With watch_flows: false an edit waits for SIGHUP.
        self.write_flow("greet.yaml", GREET % 2)
        self.write_flow("other.yaml", OTHER)
        self.assertEqual(self.revision("greet"), rev1)
        ready = self.reload()
        self.assertIn("STATUS=serving on", ready)
        self.assertNotIn("refused", ready)
        rev2 = self.revision("greet")
        self.assertNotEqual(rev2, rev1)
        self.assertIsNotNone(self.revision("other"))
        reloaded = self.wait_log("reloaded")[-1]
        self.assertEqual(len(reloaded["updated"]), 2, reloaded)
        runs = self.service.runs(flow="greet")
        self.assertEqual([r["revision"] for r in runs], [rev1], runs)  # pinned to its revision
        self.service.send([{"name": "user/signup", "data": {"n": 2}}])
        harness.wait_until(lambda: len(self.service.runs(flow="greet")) == 2, 30,
                           what="the second run")
        self.assertEqual(sorted(r["revision"] for r in self.service.runs(flow="greet")),
                         sorted([rev1, rev2]))

        # A valid edit next to a broken file: the whole set is refused, nothing changes.
        self.write_flow("greet.yaml", GREET % 3)
        self.write_flow("broken.yaml", BROKEN)
        ready = self.reload()
        self.assertIn("last reload refused", ready)
        refused = self.wait_log("reload refused: the flows have errors")[-1]
        self.assertTrue(any("broken.yaml" in e for e in refused["errors"]), refused)
        self.assertEqual(self.revision("greet"), rev2)
        self.assertIsNone(self.revision("broken"))
        code, _ = self.service.request("GET", "/readyz")
        self.assertEqual(code, 200)

        # A config that does not parse is refused too; the service keeps serving.
        os.remove(os.path.join(self.flows, "broken.yaml"))
        with open(self.service.config_path) as f:
            good_config = f.read()
        with open(self.service.config_path, "w") as f:
            f.write(good_config + "workers: many\n")
        self.reload()
        refused = self.wait_log("reload refused: the config has errors")[-1]
        self.assertTrue(any("flowrun.yaml:" in e and "integer" in e for e in refused["errors"]), refused)
        self.assertEqual(self.revision("greet"), rev2)
        self.service.send([{"name": "user/signup", "data": {"n": 3}}])

        # Fixed, with a key that needs a restart: the flows apply, the key is named.
        with open(self.service.config_path, "w") as f:
            f.write(good_config + "retention: 7d\n")
        ready = self.reload()
        self.assertNotIn("refused", ready)
        self.assertNotIn(self.revision("greet"), (rev1, rev2))
        warning = self.wait_log("reload: these config keys changed")[-1]
        self.assertEqual(warning["keys"], ["retention"])
        self.assertEqual([r["revision"] for r in self.service.runs(flow="greet")
                          if r["event"]["data"].get("n") == 1], [rev1])

    def test_a_missing_flows_directory_is_refused(self):
        self.notify.wait_for(lambda m: m.startswith("READY=1"), what="READY=1")
        rev1 = self.revision("greet")
        with open(self.service.config_path) as f:
            config = f.read()
        with open(self.service.config_path, "w") as f:
            f.write(config.replace("flows: flows\n", "flows: no-such-dir\n"))
        self.reload()
        refused = self.wait_log("reload refused: the flows have errors")[-1]
        self.assertTrue(any("no-such-dir" in e for e in refused["errors"]), refused)
        self.assertEqual(self.revision("greet"), rev1)


if __name__ == "__main__":
    unittest.main()
