"""Booking checkout with compensation: Cal.com booking, or a Stripe refund when it fails, and an
admin alert when the refund fails too."""

import json
import os
import sqlite3

import harness
from domain_case import DomainCase

FLOW = "example-booking-checkout"


def event(name):
    with open(os.path.join(harness.ROOT, "examples/booking-checkout/events", name)) as f:
        return json.load(f)


class BookingCheckoutTest(DomainCase):
    EXAMPLE = "booking-checkout"
    SECRETS = {"POSTHOG_URL": "{api}/posthog", "CAL_API_URL": "{api}/cal",
               "STRIPE_API_URL": "{api}/stripe", "CAL_API_KEY": "cal_e2e",
               "STRIPE_SECRET_KEY": "sk_test_e2e", "POSTHOG_API_KEY": "phc_e2e",
               "SLACK_ALERT_WEBHOOK_URL": "{api}/slack/alerts"}

    def test_booking_succeeds(self):
        self.service.send(event("booked.json"))
        run = self.service.wait_run(FLOW, {"paymentId": "pay_ok_1"})
        self.assertEqual(run["output"], {"booked": True, "refunded": False})
        rid = run["id"]
        tracked = [c for c in self.api.calls("POST", "^/posthog/capture/$")
                   if c["body"]["properties"]["payment_id"] == "pay_ok_1"]
        self.assert_idempotency_keys(tracked, rid, "track-payment")
        bookings = [c for c in self.api.calls("POST", "^/cal/v2/bookings$")
                    if c["body"]["metadata"]["paymentId"] == "pay_ok_1"]
        self.assert_idempotency_keys(bookings, rid, "create-booking")
        self.assertEqual(bookings[0]["body"]["eventTypeId"], 42)
        self.assertEqual(bookings[0]["headers"]["authorization"], "Bearer cal_e2e")
        self.assertEqual([c for c in self.api.calls("POST", "^/stripe/v1/refunds$")
                          if c["body"]["payment_intent"] == "pi_ok_1"], [])
        row = self.db("SELECT status, booking_uid FROM payments WHERE id = 'pay_ok_1'")[0]
        self.assertEqual(row["status"], "succeeded")
        self.assertTrue(row["booking_uid"].startswith("bk_"))
        mail = self.mail_to("sam@example.com")
        self.assertEqual([m["subject"] for m in mail], ["Your session is booked"])
        self.assertIn("Tuesday December 01 at 17:00", mail[0]["text"])  # 16:00Z in Europe/Paris

    def test_booking_fails_payment_is_refunded(self):
        self.service.send(event("booking-fails.json"))
        run = self.service.wait_run(FLOW, {"paymentId": "pay_nobook_1"})
        # A failed step's output stays null after its on_error handler ran, so the success-only
        # steps (mark-paid, email-confirmation) are skipped.
        self.assertEqual(run["output"], {"booked": False, "refunded": True})
        self.assertIsNone(self.steps(run["id"])["create-booking"]["output"])
        refunds = self.api.calls("POST", "^/stripe/v1/refunds$")
        refunds = [c for c in refunds if c["body"]["payment_intent"] == "pi_nobook_1"]
        self.assert_idempotency_keys(refunds, run["id"], "refund-payment")
        self.assertEqual(refunds[0]["body"]["metadata[cause]"], "booking_failed")
        row = self.db("SELECT status, refund_id, failure_reason FROM payments WHERE id = 'pay_nobook_1'")[0]
        self.assertEqual(row["status"], "refunded")
        self.assertTrue(row["refund_id"].startswith("re_"))
        self.assertIn("400", row["failure_reason"])
        mail = self.mail_to("fail-booking-kim@example.com")
        self.assertEqual([m["subject"] for m in mail], ["We couldn't book your session"])
        self.assertEqual(self.api.calls("POST", "^/cal/v2/bookings$")[-1]["idempotency_key"],
                         run["id"] + "/create-booking")
        self.assertIn("refunded in full", mail[0]["text"])

    def test_refund_fails_too_admin_is_alerted(self):
        con = sqlite3.connect(self.app_db)
        con.execute("INSERT INTO payments (id, student_email) VALUES ('pay_norefund', 'fail-booking-lee@example.com')")
        con.commit()
        con.close()
        e = event("booking-fails.json")
        e["data"].update(paymentId="pay_norefund", paymentIntentId="pi_fail-refund_9",
                         studentEmail="fail-booking-lee@example.com", studentName="Lee")
        self.service.send(e)
        run = self.service.wait_run(FLOW, {"paymentId": "pay_norefund"})
        self.assertEqual(run["output"], {"booked": False, "refunded": False})
        self.assertEqual(self.db("SELECT status FROM payments WHERE id = 'pay_norefund'"),
                         [{"status": "refund_failed"}])
        alerts = [m for m in self.mail_to("ops@example.com") if "pay_norefund" in m["subject"]]
        self.assertEqual([m["subject"] for m in alerts], ["URGENT: refund failed for payment pay_norefund"])
        self.assertIn("refund declined", alerts[0]["text"])
        mail = self.mail_to("fail-booking-lee@example.com")
        self.assertIn("refund your payment by hand", mail[0]["text"])


if __name__ == "__main__":
    import sys
    sys.exit(harness.run_suite(["test_booking_checkout"]))
