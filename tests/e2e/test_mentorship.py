"""Mentorship platform: signed Stripe webhook -> order -> onboarding with a Discord wait."""

import json
import os
import time

import harness
from domain_case import DomainCase

SECRET = "whsec_e2e_mentorship"


class MentorshipTest(DomainCase):
    EXAMPLE = "mentorship"
    REPLACEMENTS = [(r"timeout: 48h", "timeout: 4s")]
    SECRETS = {"STRIPE_WEBHOOK_SECRET": SECRET, "CLERK_API_URL": "{api}/clerk",
               "CLERK_SECRET_KEY": "sk_test_e2e"}
    EXTRA_CONFIG = """webhooks:
  stripe:
    scheme: stripe
    secret: '${{ secrets.STRIPE_WEBHOOK_SECRET }}'
    transform:
      name: '"stripe/" + body.type'
      data: '${{ body.data.object }}'
      id: body.id
"""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for uid, name, mail in [("user_a", "Ada", "ada@example.com"),
                                ("user_b", "Bob", "bob@example.com")]:
            cls.api.users[uid] = {"id": uid, "first_name": name,
                                  "email_addresses": [{"email_address": mail}]}
        import sqlite3
        con = sqlite3.connect(cls.app_db)
        con.execute("INSERT INTO users (clerk_id, email) VALUES ('user_a', 'ada@example.com'), "
                    "('user_b', 'bob@example.com')")
        con.commit()
        con.close()

    def checkout(self, event_id, order, user):
        with open(os.path.join(harness.ROOT, "examples/mentorship/events/checkout.session.completed.json")) as f:
            body = json.load(f)
        body["id"] = event_id
        body["data"]["object"]["metadata"].update(order_id=order, user_id=user)
        body["data"]["object"]["payment_intent"] = "pi_" + order
        return json.dumps(body).encode()

    def post(self, payload, signature=None):
        return self.service.webhook("stripe", payload, {
            "Content-Type": "application/json",
            "Stripe-Signature": signature or harness.stripe_signature(SECRET, payload)})

    def test_forged_and_replayed_webhooks_are_refused(self):
        payload = self.checkout("evt_forged", "ord_forged", "user_a")
        code, body = self.post(payload, harness.stripe_signature("whsec_wrong", payload))
        self.assertEqual(code, 401, body)
        old = harness.stripe_signature(SECRET, payload, time.time() - 3600)
        self.assertEqual(self.post(payload, old)[0], 401)
        time.sleep(0.5)
        self.assertEqual(self.db("SELECT * FROM orders WHERE id = 'ord_forged'"), [])

    def test_purchase_discord_connected_grants_access(self):
        payload = self.checkout("evt_a1", "ord_a", "user_a")
        signature = harness.stripe_signature(SECRET, payload)
        code, body = self.post(payload, signature)
        self.assertEqual(code, 200, body)
        # The same delivery again is a replay; a redelivery of the same Stripe event is deduplicated.
        self.assertEqual(self.post(payload, signature)[0], 401)
        time.sleep(1.1)
        self.assertEqual(self.post(payload)[0], 200)

        self.service.wait_run("example-mentorship-onboarding", {"orderId": "ord_a"}, ("waiting",))
        self.service.send({"name": "user/discord.connected",
                           "data": {"clerkId": "user_a", "discordId": "d-111"}})
        run_id = self.service.wait_run("example-mentorship-onboarding", {"orderId": "ord_a"})["id"]
        self.assertEqual(self.steps(run_id)["discord"]["output"]["data"]["discordId"], "d-111")
        payment_runs = [r for r in self.service.runs("example-mentorship-payment-events")
                        if r["event"]["data"]["metadata"]["order_id"] == "ord_a"]
        self.assertEqual([r["status"] for r in payment_runs], ["completed"])

        self.assert_idempotency_keys(self.api.calls("GET", "/clerk/v1/users/user_a$"), run_id, "get-user")
        self.assertEqual(self.api.calls("GET", "/clerk/v1/users/user_a$")[0]["headers"]["authorization"],
                         "Bearer sk_test_e2e")
        mails = self.mail_to("ada@example.com")
        mails = harness.wait_until(lambda: len(self.mail_to("ada@example.com")) >= 2 and
                                   self.mail_to("ada@example.com"), what="two mails")
        subjects = sorted(m["subject"] for m in mails)
        self.assertEqual(subjects, ["Connect your Discord to start your mentorship",
                                    "Your mentorship dashboard is ready"])
        self.assertIn("clerkId=user_a", [m for m in mails if "Connect" in m["subject"]][0]["text"])
        self.assertEqual(len({m["message_id"] for m in mails}), 2)
        self.assertEqual(self.db("SELECT status, clerk_id FROM orders WHERE id = 'ord_a'"),
                         [{"status": "paid", "clerk_id": "user_a"}])
        self.assertEqual(self.db("SELECT status FROM onboarding WHERE order_id = 'ord_a'"),
                         [{"status": "active"}])
        self.assertEqual(self.db("SELECT dashboard_access, discord_id FROM users WHERE clerk_id = 'user_a'"),
                         [{"dashboard_access": 1, "discord_id": "d-111"}])

    def test_no_discord_connection_sends_reminder(self):
        code, body = self.post(self.checkout("evt_b1", "ord_b", "user_b"))
        self.assertEqual(code, 200, body)
        run_id = self.service.wait_run("example-mentorship-onboarding", {"orderId": "ord_b"})["id"]
        steps = self.steps(run_id)
        self.assertIsNone(steps["discord"]["output"])
        mails = harness.wait_until(lambda: len(self.mail_to("bob@example.com")) >= 2 and
                                   self.mail_to("bob@example.com"), what="reminder")
        self.assertIn("Still waiting: connect Discord to unlock your mentorship",
                      [m["subject"] for m in mails])
        self.assertEqual(self.db("SELECT status FROM onboarding WHERE order_id = 'ord_b'"),
                         [{"status": "discord_reminder_sent"}])
        self.assertEqual(self.db("SELECT dashboard_access FROM users WHERE clerk_id = 'user_b'"),
                         [{"dashboard_access": 0}])


if __name__ == "__main__":
    import sys
    sys.exit(harness.run_suite(["test_mentorship"]))
