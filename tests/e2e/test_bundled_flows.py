"""The bundled flows as a newcomer serves them: the root flowrun.yaml's webhooks, flows/ and a
database made from flows/app.sql. A sample event sent with `flowrun send` finishes its run; a
Svix-signed Clerk delivery is upserted into the app database; flows whose secrets are not set are
shown as not ready and logged, while the others run."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

import yaml

import harness

CLERK_KEY = b"clerk-e2e-signing-key-0123456789"
CLERK_SECRET = "whsec_" + base64.b64encode(CLERK_KEY).decode()


def svix_headers(msg_id, body, key=CLERK_KEY, timestamp=None):
    ts = str(int(timestamp if timestamp is not None else time.time()))
    digest = hmac.new(key, ("%s.%s." % (msg_id, ts)).encode() + body, hashlib.sha256).digest()
    return {"Content-Type": "application/json", "svix-id": msg_id, "svix-timestamp": ts,
            "svix-signature": "v1," + base64.b64encode(digest).decode()}


def root_webhooks_section():
    """The `webhooks:` block of the project's flowrun.yaml, as shipped."""
    with open(os.path.join(harness.ROOT, "flowrun.yaml")) as f:
        text = f.read()
    return text[text.index("\nwebhooks:") + 1:]


def sample_event(name):
    with open(os.path.join(harness.ROOT, "flows", "events", name)) as f:
        return json.load(f)


def db_statements(node):
    """Every `db` step's SQL in a parsed flow, nested steps included."""
    if isinstance(node, dict):
        if isinstance(node.get("db"), dict) and "sql" in node["db"]:
            yield node["db"]["sql"]
        for value in node.values():
            yield from db_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from db_statements(value)


class AppSchemaTest(unittest.TestCase):
    def test_every_statement_of_the_bundled_flows_prepares_against_app_sql(self):
        con = sqlite3.connect(":memory:")
        with open(os.path.join(harness.ROOT, "flows", "app.sql")) as f:
            con.executescript(f.read())
        problems, checked = [], 0
        for name in sorted(os.listdir(os.path.join(harness.ROOT, "flows"))):
            if not name.endswith(".yaml") or name.endswith(".test.yaml"):
                continue
            with open(os.path.join(harness.ROOT, "flows", name)) as f:
                flow = yaml.safe_load(f)
            for sql in db_statements(flow):
                params = {p: None for p in re.findall(r"(?<!:):(\w+)", sql)}
                checked += 1
                try:
                    con.execute("EXPLAIN " + sql, params)
                except sqlite3.Error as e:
                    problems.append("%s: %s: %s" % (name, e, " ".join(sql.split())[:120]))
        self.assertGreater(checked, 40)
        self.assertEqual(problems, [])


class SampleEventsTest(unittest.TestCase):
    def test_every_event_trigger_of_the_bundled_flows_has_a_sample_event(self):
        events_dir = os.path.join(harness.ROOT, "flows", "events")
        names = set()
        for name in os.listdir(events_dir):
            if name.endswith(".json"):
                with open(os.path.join(events_dir, name)) as f:
                    names.add(json.load(f)["name"])
        missing = []
        for name in sorted(os.listdir(os.path.join(harness.ROOT, "flows"))):
            if not name.endswith(".yaml") or name.endswith(".test.yaml"):
                continue
            with open(os.path.join(harness.ROOT, "flows", name)) as f:
                triggers = yaml.load(f, Loader=yaml.BaseLoader).get("on") or []  # `on` stays a key
            for trigger in [triggers] if isinstance(triggers, dict) else triggers:
                if "event" in trigger and trigger["event"] not in names:
                    missing.append("%s: %s" % (name, trigger["event"]))
        self.assertEqual(missing, [])


class BundledFlowsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="flowrun-e2e-bundled-")
        flows = os.path.join(cls.tmp, "flows")
        shutil.copytree(os.path.join(harness.ROOT, "flows"), flows,
                        ignore=shutil.ignore_patterns("*.test.yaml", "events"))
        cls.app_db = os.path.join(cls.tmp, "app.db")
        with open(os.path.join(flows, "app.sql")) as f:
            harness.make_app_db(cls.app_db, f.read())
        config = ("store: sqlite:flowrun.db\nflows: flows\ndatabases: {app: 'sqlite:app.db'}\n"
                  "secrets: {env: FLOWRUN_SECRET_}\n") + root_webhooks_section()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWRUN_SECRET_")}
        env["FLOWRUN_SECRET_CLERK_WEBHOOK_SECRET"] = CLERK_SECRET
        cls.service = harness.Service(cls.tmp, config, env)
        cls.service.env = env

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_a_sample_event_sent_with_flowrun_send_finishes_its_run(self):
        event = sample_event("user.subscription.created.json")
        sent = subprocess.run(
            [harness.flowrun_binary(), "send", "--file",
             os.path.join(harness.ROOT, "flows", "events", "user.subscription.created.json"),
             "--url", self.service.url, "--token", self.service.token],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(sent.returncode, 0, sent.stderr)
        run = self.service.wait_run("subscription-created",
                                    {"subscriptionId": event["data"]["subscriptionId"]})
        self.assertEqual(run["output"], {"subscription": "sub_1", "status": "trialing"})
        self.service.wait_run("trial-ending-reminders", {"subscriptionId": "sub_1"},
                              statuses=("sleeping",))
        code, outbox = self.service.request("GET", "/v1/outbox?limit=50")
        self.assertEqual(code, 200, outbox)
        subjects = [m["subject"] for m in outbox["messages"] if "ana@example.com" in m["recipients"]]
        self.assertIn("Your Pro trial has started", subjects)
        rows = harness.query(self.app_db, "SELECT status, email FROM subscriptions WHERE id = 'sub_1'")
        self.assertEqual(rows, [{"status": "trialing", "email": "ana@example.com"}])

    def test_a_svix_signed_clerk_delivery_is_upserted(self):
        data = sample_event("clerk-user.created.json")["data"]
        body = json.dumps({"type": "user.created", "object": "event", "data": data}).encode()
        code, answer = self.service.webhook("clerk", body, svix_headers("msg_e2e_1", body))
        self.assertEqual(code, 200, answer)
        forged = svix_headers("msg_e2e_2", body, key=b"not-the-clerk-key-000000000000")
        self.assertEqual(self.service.webhook("clerk", body, forged)[0], 401)
        run = self.service.wait_run("clerk-user-sync", {"id": "user_1"})
        self.assertEqual(run["output"], {"user": "user_1", "changed": True})
        rows = harness.query(self.app_db, "SELECT email, first_name FROM users WHERE clerk_id = 'user_1'")
        self.assertEqual(rows, [{"email": "ana@example.com", "first_name": "Ana"}])

    def test_flows_whose_secrets_are_not_set_are_not_ready_and_logged(self):
        code, body = self.service.request("GET", "/v1/flows")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["invalid_files"], [])  # serve checks action arguments too
        flows = {f["id"]: f for f in body["flows"]}
        self.assertFalse(flows["inventory-sync"]["ready"])
        self.assertEqual(sorted(flows["inventory-sync"]["missing_secrets"]),
                         ["PRINTIFY_API_TOKEN", "PRINTIFY_SHOP_ID"])
        self.assertTrue(flows["clerk-user-sync"]["ready"])
        self.assertTrue(flows["subscription-created"]["ready"])
        log = open(self.service.log_path, errors="replace").read()
        self.assertTrue(re.search(r"flow not ready.*inventory-sync", log), self.service.log_tail())


if __name__ == "__main__":
    import sys
    sys.exit(harness.run_suite(["test_bundled_flows"]))
