"""SaaS: trial reminders with sleep_until and cancellation, failed payments up to suspension,
usage limits with a warning and a lock."""

import datetime
import sqlite3

import harness
from domain_case import DomainCase


def iso_in(seconds):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class SaasTest(DomainCase):
    EXAMPLE = "saas"
    SECRETS = {"STRIPE_API_URL": "{api}/stripe", "STRIPE_SECRET_KEY": "sk_test_e2e",
               "APP_API_URL": "{api}/app", "APP_API_TOKEN": "app_e2e"}

    def add(self, sql):
        con = sqlite3.connect(self.app_db)
        con.executescript(sql)
        con.commit()
        con.close()

    def test_trial_reminder_on_the_last_day_and_cancellation(self):
        self.add("INSERT INTO subscriptions VALUES ('sub_t2', 'usr_1', 'trial2@example.com', 'trialing', NULL);"
                 "INSERT INTO subscriptions VALUES ('sub_t3', 'usr_1', 'trial3@example.com', 'trialing', NULL);")
        ends = iso_in(4)
        self.service.send([
            {"name": "user.subscription.created",
             "data": {"subscriptionId": "sub_t2", "plan": "Pro", "trial_ends_at": ends}},
            {"name": "user.subscription.created",
             "data": {"subscriptionId": "sub_t3", "plan": "Pro", "trial_ends_at": ends}}])
        flow = "example-saas-trial-reminders"
        self.service.wait_run(flow, {"subscriptionId": "sub_t2"}, ("sleeping",))
        self.service.wait_run(flow, {"subscriptionId": "sub_t3"}, ("sleeping",))
        self.service.send({"name": "user.subscription.cancelled", "data": {"subscriptionId": "sub_t3"}})
        self.service.wait_run(flow, {"subscriptionId": "sub_t3"}, ("cancelled",))
        run = self.service.wait_run(flow, {"subscriptionId": "sub_t2"}, timeout=20)
        steps = self.steps(run["id"])
        self.assertEqual(steps["three-days"]["status"], "skipped")
        self.assertEqual(steps["one-day"]["status"], "skipped")
        mail = self.mail_to("trial2@example.com")
        self.assertEqual([m["subject"] for m in mail], ["Your trial has ended"])
        self.assertIn("Pro trial ended today", mail[0]["text"])
        self.assertEqual([m for m in self.smtp.messages() if m["to"] == "trial3@example.com"], [])

    def test_three_failed_payments_suspend_the_subscription(self):
        self.add("INSERT INTO users VALUES ('usr_f', 'fay@example.com', 'Fay');"
                 "INSERT INTO subscriptions VALUES ('sub_f', 'usr_f', 'fay@example.com', 'active', NULL);")
        flow = "example-saas-failed-payment"
        for attempt in (1, 2, 3):
            self.service.send({"name": "billing.invoice.payment_failed", "data": {
                "invoiceId": "in_f", "subscriptionId": "sub_f", "attemptCount": attempt,
                "amountDue": 4900, "currency": "usd", "hostedInvoiceUrl": "https://pay.example.com/in_f"}})
            self.service.wait_run(flow, {"subscriptionId": "sub_f", "attemptCount": attempt})
        mail = self.mail_to("fay@example.com")
        self.assertEqual(sorted(m["subject"] for m in mail),
                         ["Payment failed: please update your card"] * 2 +
                         ["Your subscription has been suspended"])
        self.assertIn("49.0 USD", mail[0]["text"])
        billing = [m for m in self.mail_to("billing@example.com") if "sub_f" in m["subject"]]
        self.assertEqual(len(billing), 1)
        third = self.service.wait_run(flow, {"subscriptionId": "sub_f", "attemptCount": 3})
        pauses = self.api.calls("POST", "^/stripe/v1/subscriptions/sub_f$")
        self.assert_idempotency_keys(pauses, third["id"], "pause-collection")
        self.assertEqual(pauses[0]["body"], {"pause_collection[behavior]": "void"})
        self.assertEqual(self.db("SELECT status FROM subscriptions WHERE id = 'sub_f'"), [{"status": "suspended"}])
        self.assertEqual(self.db("SELECT count(*) AS n FROM payment_failures WHERE subscription_id = 'sub_f'"), [{"n": 3}])
        # A replay of attempt 3 is dropped by the flow's idempotency key.
        self.service.send({"name": "billing.invoice.payment_failed", "data": {
            "invoiceId": "in_f", "subscriptionId": "sub_f", "attemptCount": 3,
            "amountDue": 4900, "currency": "usd", "hostedInvoiceUrl": "https://pay.example.com/in_f"}})
        self.assertEqual(len([r for r in self.service.runs(flow)
                              if r["event"]["data"].get("subscriptionId") == "sub_f"]), 3)

    def test_usage_warning_then_lock(self):
        self.add("INSERT INTO accounts (id, email, usage_limit) VALUES ('acct_u', 'uma@example.com', 100);")
        flow = "example-saas-usage-limit"
        for n, units in enumerate((50, 35, 5, 20)):
            self.service.send({"name": "usage/recorded", "id": "use-%d" % n,
                               "data": {"accountId": "acct_u", "units": units}})
            harness.wait_until(lambda: len([r for r in self.service.runs(flow)
                                            if r["event"]["data"]["accountId"] == "acct_u"
                                            and r["status"] == "completed"]) == n + 1,
                               what="usage run %d" % n)
        mail = self.mail_to("uma@example.com")
        self.assertEqual(sorted(m["subject"] for m in mail),
                         ["You have reached your plan's usage limit", "You have used 85% of your plan"])
        locks = self.api.calls("POST", "^/app/v1/accounts/acct_u/features/api/lock$")
        self.assertEqual(len(locks), 1)
        self.assertEqual(locks[0]["body"], {"reason": "usage_limit", "used": 110, "limit": 100})
        self.assertTrue(locks[0]["idempotency_key"].endswith("/lock-feature"))
        self.assertEqual(self.db("SELECT locked, warned_at IS NOT NULL AS warned FROM accounts WHERE id = 'acct_u'"),
                         [{"locked": 1, "warned": 1}])


if __name__ == "__main__":
    import sys
    sys.exit(harness.run_suite(["test_saas"]))
