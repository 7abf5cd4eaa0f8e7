"""A unittest base class that starts, per test class, the fake APIs, an SMTP server and
`flowrun serve` on a copy of one example's flows (long waits shortened)."""

import os
import shutil
import tempfile
import unittest

import harness


class DomainCase(unittest.TestCase):
    EXAMPLE = None          # folder under examples/
    REPLACEMENTS = ()       # (regex, replacement) applied to the flow copies
    SECRETS = {}            # name -> value; "{api}" is replaced by the fake API's URL
    EXTRA_CONFIG = ""       # appended to the generated flowrun.yaml

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="flowrun-e2e-")
        cls.api = harness.FakeApi()
        cls.smtp = harness.SmtpServer()
        example = os.path.join(harness.ROOT, "examples", cls.EXAMPLE)
        harness.copy_flows(os.path.join(example, "flows"), os.path.join(cls.tmp, "flows"),
                           cls.REPLACEMENTS)
        cls.app_db = os.path.join(cls.tmp, "app.db")
        with open(os.path.join(example, "schema.sql")) as f:
            harness.make_app_db(cls.app_db, f.read())
        env = {"FLOWRUN_SECRET_" + k: v.replace("{api}", cls.api.url)
               for k, v in cls.SECRETS.items()}
        config = ("store: sqlite:flowrun.db\nflows: flows\ndatabases: {app: 'sqlite:app.db'}\n"
                  "smtp: {url: '%s', from: 'flowrun <noreply@example.com>'}\n"
                  "secrets: {env: FLOWRUN_SECRET_}\n" % cls.smtp.url) + cls.EXTRA_CONFIG
        try:
            cls.service = harness.Service(cls.tmp, config, env)
        except Exception:
            cls.api.close()
            cls.smtp.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.service.stop()
        cls.api.close()
        cls.smtp.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def db(self, sql, params=()):
        return harness.query(self.app_db, sql, params)

    def mail_to(self, address, timeout=20):
        return harness.wait_until(
            lambda: [m for m in self.smtp.messages() if address in (m["to"] or "")] or None,
            timeout, what="mail to " + address)

    def steps(self, run_id):
        detail = self.service.run(run_id)
        return {s["key"]: s for s in detail.get("steps", [])}

    def assert_idempotency_keys(self, calls, run_id, step):
        self.assertTrue(calls, "no call for %s/%s" % (run_id, step))
        for call in calls:
            self.assertEqual(call["idempotency_key"], "%s/%s" % (run_id, step))
