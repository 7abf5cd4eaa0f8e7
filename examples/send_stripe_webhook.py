#!/usr/bin/env python3
"""Signs a JSON file the way Stripe does and posts it to a flowrun webhook endpoint.

    python3 examples/send_stripe_webhook.py http://127.0.0.1:8288/webhooks/stripe "$SECRET" FILE

Stripe-Signature: t=<unix time>,v1=hex(HMAC-SHA256(secret, "<t>.<raw body>")).
"""
import hashlib
import hmac
import sys
import time
import urllib.error
import urllib.request


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    url, secret, path = sys.argv[1:]
    with open(path, "rb") as f:
        body = f.read()
    t = str(int(time.time()))
    v1 = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Stripe-Signature": "t=%s,v1=%s" % (t, v1)})
    try:
        with urllib.request.urlopen(request) as response:
            print(response.status, response.read().decode())
    except urllib.error.HTTPError as e:
        print(e.code, e.read().decode())
        sys.exit(1)


if __name__ == "__main__":
    main()
