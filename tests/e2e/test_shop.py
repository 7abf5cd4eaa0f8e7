"""Shop: signed Stripe webhooks start fulfilment; a scheduled (cron) Printify sync, also
startable by an event, upserts inventory and archives what Printify no longer lists."""

import json
import os

import harness
from domain_case import DomainCase

SECRET = "whsec_e2e_shop"


class ShopTest(DomainCase):
    EXAMPLE = "shop"
    SECRETS = {"STRIPE_WEBHOOK_SECRET": SECRET, "PRINTIFY_API_URL": "{api}/printify",
               "PRINTIFY_SHOP_ID": "shop_e2e", "PRINTIFY_API_TOKEN": "pfy_e2e"}
    EXTRA_CONFIG = """webhooks:
  stripe:
    scheme: stripe
    secret: '${{ secrets.STRIPE_WEBHOOK_SECRET }}'
    transform:
      name: '"stripe/" + body.type'
      data: '${{ body.data.object }}'
      id: body.id
"""

    def test_signed_webhook_fulfils_the_order_once(self):
        with open(os.path.join(harness.ROOT, "examples/shop/events/checkout.session.completed.json"), "rb") as f:
            payload = f.read()
        headers = {"Content-Type": "application/json",
                   "Stripe-Signature": harness.stripe_signature(SECRET, payload)}
        code, body = self.service.webhook("stripe", payload, headers)
        self.assertEqual(code, 200, body)
        tampered = payload.replace(b'"quantity": "2"', b'"quantity": "20"')
        self.assertEqual(self.service.webhook("stripe", tampered, headers)[0], 401)

        run = self.service.wait_run("example-shop-order-paid", {"id": "cs_test_shop77"})
        orders = self.api.calls("POST", "^/printify/v1/shops/shop_e2e/orders.json$")
        self.assert_idempotency_keys(orders, run["id"], "fulfil")
        self.assertEqual(orders[0]["body"]["line_items"], [{"sku": "MUG-11", "quantity": 2}])
        self.assertEqual(orders[0]["body"]["address_to"]["city"], "Springfield")
        self.assertEqual(orders[0]["headers"]["authorization"], "Bearer pfy_e2e")
        row = self.db("SELECT status, quantity, email, printify_order_id FROM orders WHERE id = 'so_77'")
        self.assertEqual(len(row), 1)
        self.assertEqual(row[0]["status"], "in_production")
        self.assertTrue(row[0]["printify_order_id"].startswith("po_"))
        mail = self.mail_to("noor@example.com")
        self.assertEqual([m["subject"] for m in mail], ["Order so_77 confirmed"])
        self.assertIn("2 x MUG-11", mail[0]["text"])

    def test_inventory_sync(self):
        code, flow = self.service.request("GET", "/v1/flows/example-shop-inventory-sync")
        self.assertEqual(code, 200, flow)
        self.assertIn("0 2 * * *", json.dumps(flow["triggers"]))
        self.api.products = [
            {"id": "prod_mug", "title": "Mug", "variants": [
                {"id": 1, "sku": "MUG-11", "price": 1500, "is_enabled": True},
                {"id": 2, "sku": "MUG-15", "price": 1800, "is_enabled": False}]},
            {"id": "prod_tee", "title": "Tee", "variants": [
                {"id": 3, "sku": "TEE-M", "price": 2500, "is_enabled": True}]}]
        self.service.send({"name": "shop/inventory.sync-requested", "data": {"by": "e2e"}})
        run = self.service.wait_run("example-shop-inventory-sync", {"by": "e2e"})
        self.assertEqual(run["output"], {"products": 2, "archived": 1})
        gets = self.api.calls("GET", "^/printify/v1/shops/shop_e2e/products.json$")
        self.assert_idempotency_keys(gets, run["id"], "products")
        self.assertEqual(gets[0]["query"], {"limit": "50"})
        self.assertEqual(self.db("SELECT sku, price, enabled, archived FROM inventory ORDER BY sku"), [
            {"sku": "MUG-11", "price": 1500, "enabled": 1, "archived": 0},
            {"sku": "MUG-15", "price": 1800, "enabled": 0, "archived": 0},
            {"sku": "OLD-1", "price": 2000, "enabled": 1, "archived": 1},
            {"sku": "TEE-M", "price": 2500, "enabled": 1, "archived": 0}])


if __name__ == "__main__":
    import sys
    sys.exit(harness.run_suite(["test_shop"]))
