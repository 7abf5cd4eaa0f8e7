"""End-to-end harness: a loopback fake of the external APIs, a real SMTP server (aiosmtpd), and
`flowrun serve` as a subprocess with its own config, store and SQLite application database.

The flowrun binary comes from $FLOWRUN_BIN (default: build/flowrun under the repository root).
Run as a script, it serves the fake APIs and the SMTP sink for the examples' walkthroughs:

    /usr/bin/python3 tests/e2e/harness.py --api-port 9100 --smtp-port 2525 --mail-dir /tmp/mail
"""

import datetime
import email
import email.policy
import glob
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"


def flowrun_binary():
    path = os.environ.get("FLOWRUN_BIN", os.path.join(ROOT, "build", "flowrun"))
    if not os.access(path, os.X_OK):
        raise RuntimeError("flowrun binary not found at %s (set FLOWRUN_BIN)" % path)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unix_time(text):
    """Seconds since the epoch of a timestamp the API returns (RFC 3339, such as
    2026-01-02T03:04:05.678Z)."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def wait_until(predicate, timeout=20.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Fake external APIs
# --------------------------------------------------------------------------------------------

class FakeApi:
    """A threaded HTTP server that imitates the APIs the example flows call. Every request is
    recorded as {method, path, query, headers, body, idempotency_key}. Routes are prefixed by
    provider: /clerk, /discord, /gcal, /cal, /stripe, /posthog, /printify, /app."""

    def __init__(self, port=0, verbose=False):
        self.lock = threading.Lock()
        self.requests = []
        self.verbose = verbose
        self.users = {}          # clerk user id -> user object
        self.discord_members = {}  # (guild, user) -> {"roles": [...]}
        self.calendar_events = {}  # event id -> body
        self.products = []        # printify products
        self.counter = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                body = raw.decode("utf-8", "replace")
                parsed = None
                ctype = self.headers.get("Content-Type", "")
                if "json" in ctype and raw:
                    try:
                        parsed = json.loads(raw)
                    except ValueError:
                        parsed = None
                elif "form" in ctype:
                    parsed = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                record = {
                    "method": self.command,
                    "path": url.path,
                    "query": dict(urllib.parse.parse_qsl(url.query)),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": parsed if parsed is not None else body,
                    "idempotency_key": self.headers.get("Idempotency-Key"),
                    "at": time.time(),  # arrival (wall clock), for the takeover bench
                }
                status, payload = api.respond(record)
                with api.lock:
                    api.requests.append(record)
                if api.verbose:
                    print("%s %s -> %d (Idempotency-Key: %s)" % (
                        self.command, self.path, status, record["idempotency_key"]), flush=True)
                data = json.dumps(payload).encode() if status != 204 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client killed mid-request (the crash test) is expected, not news

        self.server = Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def next_id(self, prefix):
        with self.lock:
            self.counter += 1
            return "%s_%04d" % (prefix, self.counter)

    def calls(self, method=None, path_re=None):
        with self.lock:
            out = list(self.requests)
        return [r for r in out if (method is None or r["method"] == method)
                and (path_re is None or re.search(path_re, r["path"]))]

    # The behaviour of each fake endpoint. Data-driven failures: a Cal.com booking whose
    # attendee email starts with "fail-booking" is refused (400), a Stripe refund for a payment
    # intent containing "fail-refund" is declined (402), and /fail/500 always answers 500.
    def respond(self, r):
        m, p, b = r["method"], r["path"], r["body"]
        if p.startswith("/clerk/v1/users/"):
            uid = p.rsplit("/", 1)[1]
            user = self.users.get(uid)
            if user is None:
                return 404, {"errors": [{"code": "resource_not_found"}]}
            return 200, user
        if p == "/discord/api/v10/users/@me":
            token = r["headers"].get("authorization", "").split(" ")[-1]
            return 200, {"id": "d-" + token, "username": "user-" + token}
        mm = re.match(r"^/discord/api/v10/guilds/([^/]+)/members/([^/]+)/roles/([^/]+)$", p)
        if mm and m in ("PUT", "DELETE"):
            roles = self.discord_members.setdefault((mm.group(1), mm.group(2)), {"roles": []})["roles"]
            if m == "PUT" and mm.group(3) not in roles:
                roles.append(mm.group(3))
            if m == "DELETE" and mm.group(3) in roles:
                roles.remove(mm.group(3))
            return 204, {}
        mm = re.match(r"^/discord/api/v10/guilds/([^/]+)/members/([^/]+)$", p)
        if mm:
            key = (mm.group(1), mm.group(2))
            if m == "PUT":
                created = key not in self.discord_members
                self.discord_members.setdefault(key, {"roles": []})
                return (201 if created else 204), {}
            if m == "GET":
                member = self.discord_members.get(key)
                return (200, {"user": {"id": key[1]}, "roles": member["roles"]}) if member \
                    else (404, {"message": "Unknown Member"})
            if m == "PATCH":
                self.discord_members.setdefault(key, {"roles": []})["roles"] = list(b.get("roles", []))
                return 200, {"user": {"id": key[1]}, "roles": b.get("roles", [])}
        mm = re.match(r"^/gcal/calendar/v3/calendars/([^/]+)/events(?:/([^/]+))?$", p)
        if mm:
            eid = mm.group(2)
            if m == "POST":
                eid = self.next_id("gcal")
                self.calendar_events[eid] = dict(b, id=eid)
                return 200, self.calendar_events[eid]
            if eid not in self.calendar_events:
                return 404, {"error": {"code": 404, "message": "Not Found"}}
            if m in ("PATCH", "PUT"):
                self.calendar_events[eid].update(b)
                return 200, self.calendar_events[eid]
            return 200, self.calendar_events[eid]
        if p == "/cal/v2/bookings" and m == "POST":
            attendee = (b or {}).get("attendee", {})
            if str(attendee.get("email", "")).startswith("fail-booking"):
                return 400, {"status": "error", "error": {"message": "slot no longer available"}}
            return 201, {"status": "success", "data": {"uid": self.next_id("bk"), "start": b.get("start")}}
        if p == "/stripe/v1/refunds" and m == "POST":
            if "fail-refund" in str(b.get("payment_intent", "")):
                return 402, {"error": {"type": "card_error", "message": "refund declined"}}
            return 200, {"id": self.next_id("re"), "object": "refund", "status": "succeeded",
                         "payment_intent": b.get("payment_intent")}
        if p.startswith("/stripe/v1/subscriptions/"):
            return 200, {"id": p.rsplit("/", 1)[1], "object": "subscription", "pause_collection": {"behavior": "void"}}
        if p.startswith("/posthog/"):
            return 200, {"status": 1}
        mm = re.match(r"^/printify/v1/shops/([^/]+)/products\.json$", p)
        if mm:
            return 200, {"current_page": 1, "last_page": 1, "data": self.products}
        if re.match(r"^/printify/v1/shops/([^/]+)/orders\.json$", p) and m == "POST":
            return 200, {"id": self.next_id("po")}
        if p == "/fail/500":
            return 500, {"error": "internal"}
        return 200, {"ok": True}


# --------------------------------------------------------------------------------------------
# SMTP server
# --------------------------------------------------------------------------------------------

SMTP_HANDLER = r'''
import json, os

class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.outdir, '%d-%06d' % (os.getpid(), self.count))
        with open(base + '.tmp', 'wb') as f:
            f.write(envelope.original_content or envelope.content)
        meta = {'mail_from': envelope.mail_from, 'rcpt_tos': envelope.rcpt_tos}
        with open(base + '.json', 'w') as f:
            json.dump(meta, f)
        os.rename(base + '.tmp', base + '.eml')
        return '250 OK'
'''


class SmtpServer:
    """python3 -m aiosmtpd with a handler that saves each message as <n>.eml in mail_dir."""

    def __init__(self, port=0, mail_dir=None):
        self.dir = tempfile.mkdtemp(prefix="flowrun-smtp-")
        self.mail_dir = mail_dir or os.path.join(self.dir, "mail")
        os.makedirs(self.mail_dir, exist_ok=True)
        with open(os.path.join(self.dir, "flowrun_e2e_smtp.py"), "w") as f:
            f.write(SMTP_HANDLER)
        self.port = port or free_port()
        env = dict(os.environ, PYTHONPATH=self.dir)
        self.log = open(os.path.join(self.dir, "aiosmtpd.log"), "w")
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:%d" % self.port,
             "-c", "flowrun_e2e_smtp.Handler", self.mail_dir],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("aiosmtpd exited; is python3-aiosmtpd installed?")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_until(ready, 15, what="aiosmtpd to listen")
        self.url = "smtp://127.0.0.1:%d" % self.port

    def messages(self):
        out = []
        for path in sorted(glob.glob(os.path.join(self.mail_dir, "*.eml"))):
            with open(path, "rb") as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            body = msg.get_body(preferencelist=("plain", "html"))
            out.append({"to": msg["To"], "from": msg["From"], "subject": msg["Subject"],
                        "message_id": msg["Message-ID"], "text": body.get_content() if body else "",
                        "reply_to": msg["Reply-To"]})
        return out

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------

def stripe_signature(secret, body, timestamp=None):
    t = str(int(timestamp if timestamp is not None else time.time()))
    mac = hmac.new(secret.encode(), (t + ".").encode() + body, hashlib.sha256).hexdigest()
    return "t=%s,v1=%s" % (t, mac)


def copy_flows(src_dir, dst_dir, replacements=()):
    """Copies the flow files of src_dir, applying (regex, replacement) pairs: test copies may
    shorten long waits and sleeps."""
    os.makedirs(dst_dir, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(src_dir, "*.yaml"))):
        with open(path) as f:
            text = f.read()
        for pattern, replacement in replacements:
            text = re.sub(pattern, replacement, text)
        with open(os.path.join(dst_dir, os.path.basename(path)), "w") as f:
            f.write(text)


class Service:
    """`flowrun serve` on a free loopback port, in a working directory holding flowrun.yaml,
    the store (flowrun.db) and the application database (app.db)."""

    def __init__(self, workdir, config_text, env=None, token="e2e-token"):
        self.workdir = workdir
        self.token = token
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.config_path = os.path.join(workdir, "flowrun.yaml")
        with open(self.config_path, "w") as f:
            f.write("listen: 127.0.0.1:%d\n" % self.port)
            f.write("api_tokens: [%s]\n" % token)
            f.write(config_text)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.proc = None
        self.log_path = os.path.join(workdir, "serve.log")
        self.start()

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen([flowrun_binary(), "serve", "--config", self.config_path],
                                     cwd=self.workdir, env=self.env, stdout=log, stderr=log)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("flowrun serve exited with %s:\n%s" % (
                    self.proc.returncode, self.log_tail()))
            try:
                with urllib.request.urlopen(self.url + "/readyz", timeout=1) as r:
                    return r.status == 200
            except (urllib.error.URLError, OSError):
                return False
        wait_until(ready, 30, what="flowrun serve to be ready")

    def log_tail(self, n=40):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def request(self, method, path, body=None, headers=None, raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        h = {"Authorization": "Bearer " + self.token}
        if data is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text)
            except ValueError:
                return e.code, text.decode(errors="replace")

    def send(self, events):
        status, body = self.request("POST", "/v1/events", events)
        if status != 200:
            raise AssertionError("POST /v1/events answered %s: %s" % (status, body))
        return body["ids"]

    def webhook(self, name, payload, headers):
        return self.request("POST", "/webhooks/" + name, raw=payload, headers=headers)

    def runs(self, flow=None, status=None):
        out = []
        cursor = None
        while True:
            query = {"limit": "500"}
            if flow:
                query["flow"] = flow
            if status:
                query["status"] = status
            if cursor:
                query["cursor"] = cursor
            code, body = self.request("GET", "/v1/runs?" + urllib.parse.urlencode(query))
            if code != 200:
                raise AssertionError("GET /v1/runs answered %s: %s" % (code, body))
            items = body["runs"] if isinstance(body, dict) and "runs" in body else body.get("data", [])
            out.extend(items)
            cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not cursor or not items:
                return out

    def run(self, run_id):
        code, body = self.request("GET", "/v1/runs/" + run_id)
        if code != 200:
            raise AssertionError("GET /v1/runs/%s answered %s: %s" % (run_id, code, body))
        return body

    def wait_run(self, flow, data_match, statuses=("completed",), timeout=60):
        """Waits for the one run of `flow` whose event data contains `data_match` to be in one
        of `statuses`; returns it."""
        def find():
            runs = [r for r in self.runs(flow=flow)
                    if all(r["event"]["data"].get(k) == v for k, v in data_match.items())]
            if len(runs) > 1:
                raise AssertionError("%d runs of %s for %s" % (len(runs), flow, data_match))
            return runs[0] if runs and runs[0]["status"] in statuses else None
        try:
            return wait_until(find, timeout, 0.1, "%s run of %s for %s" % (statuses, flow, data_match))
        except AssertionError as e:
            runs = [(r["id"], r["status"], r["event"]["data"], r.get("error"))
                    for r in self.runs(flow=flow)]
            raise AssertionError("%s\nruns: %s\n%s" % (e, runs, self.log_tail()))

    def wait_runs(self, flow, count, statuses=("completed",), timeout=60):
        """Waits until `flow` has `count` runs, all in one of `statuses`; returns them."""
        def done():
            runs = self.runs(flow=flow)
            if len(runs) >= count and all(r["status"] in statuses for r in runs):
                return runs
            return None
        try:
            return wait_until(done, timeout, 0.1, "%d %s run(s) of %s" % (count, "/".join(statuses), flow))
        except AssertionError:
            runs = self.runs(flow=flow)
            raise AssertionError("%s: wanted %d run(s) %s, have %s\n%s" % (
                flow, count, statuses, [(r["id"], r["status"], r.get("error")) for r in runs],
                self.log_tail()))


class Checks:
    """The verdicts of a script-style test (the crash tests): each printed as `ok` or `FAIL`."""

    def __init__(self):
        self.failures = []

    def check(self, condition, message):
        print(("ok   " if condition else "FAIL ") + message, flush=True)
        if not condition:
            self.failures.append(message)


class AckedSender:
    """Sends `count` events named `name` to a service that is being killed and restarted, in
    batches of 20 about ten times a second (so kills land during intake too). Each event has a
    client id `<prefix>N` (default `order-N`) and data {"n": N}; a batch is resent until
    acknowledged (a request cut by a kill may or may not have been stored; the client id
    deduplicates it). `service` may be a list of services (nodes sharing one store): batches go to
    them round-robin, and a batch a node does not acknowledge is resent to the next one.
    `acked` maps each client id to its event id, `acked_by` to the index of the node that
    acknowledged it. A batch not acknowledged within BATCH_PATIENCE_S stops the sender: `done` is
    then never set, and `gave_up` says which batch. stop() ends the sender early."""

    BATCH_PATIENCE_S = 120

    def __init__(self, service, name, count, prefix="order-", pause_s=0.1):
        self.services = list(service) if isinstance(service, (list, tuple)) else [service]
        self.name = name
        self.count = count
        self.prefix = prefix
        self.pause_s = pause_s
        self.acked = {}
        self.acked_by = {}
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.stopping = threading.Event()
        self.gave_up = None
        self.next_node = 0
        self.thread = threading.Thread(target=self._send, daemon=True)
        self.thread.start()

    def acknowledged(self):
        with self.lock:
            return len(self.acked)

    def stop(self):
        self.stopping.set()
        self.thread.join(30)

    def _node_for(self, batch):
        """The node a batch goes to first (round-robin); subclasses may choose otherwise."""
        node = self.next_node
        self.next_node = (self.next_node + 1) % len(self.services)
        return node

    def _wait_before(self, batch):
        """Holds a batch back until it may be sent; False to stop. Subclasses may wait."""
        return not self.stopping.is_set()

    def _send(self):
        pending = list(range(self.count))
        while pending:
            batch, pending = pending[:20], pending[20:]
            if not self._wait_before(batch):
                return
            events = [{"name": self.name, "id": "%s%d" % (self.prefix, n), "data": {"n": n}}
                      for n in batch]
            node = self._node_for(batch)
            deadline = time.monotonic() + self.BATCH_PATIENCE_S
            while True:
                if self.stopping.is_set():
                    return
                if time.monotonic() > deadline:
                    self.gave_up = "events %s%d.. not acknowledged within %d s" % (
                        self.prefix, batch[0], self.BATCH_PATIENCE_S)
                    return
                try:
                    code, body = self.services[node].request("POST", "/v1/events", events)
                except (urllib.error.URLError, OSError, ValueError):
                    code, body = None, None
                if code == 200:
                    with self.lock:
                        for event, eid in zip(events, body["ids"]):
                            self.acked[event["id"]] = eid
                            self.acked_by[event["id"]] = node
                    break
                node = (node + 1) % len(self.services)
                time.sleep(0.05)
            time.sleep(self.pause_s)
        self.done.set()


def make_app_db(path, schema_sql):
    con = sqlite3.connect(path)
    con.executescript(schema_sql)
    con.commit()
    con.close()


def query(path, sql, params=()):
    con = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute(sql, params)]
    finally:
        con.close()


def run_suite(module_names):
    """Runs unittest modules and prints the closing `N passed, N failed` line; exit status."""
    import unittest
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for name in module_names:
        suite.addTests(loader.loadTestsFromName(name))

    class Result(unittest.TextTestResult):
        pass
    runner = unittest.TextTestRunner(verbosity=2, resultclass=Result)
    result = runner.run(suite)
    failed = len(result.failures) + len(result.errors)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


def main():
    import argparse
    parser = argparse.ArgumentParser(description="Fake external APIs and an SMTP sink for the examples")
    parser.add_argument("--api-port", type=int, default=9100)
    parser.add_argument("--smtp-port", type=int, default=0, help="0: no SMTP server")
    parser.add_argument("--mail-dir", default=None)
    args = parser.parse_args()
    api = FakeApi(args.api_port, verbose=True)
    api.users["user_2mentee"] = {"id": "user_2mentee", "first_name": "Ada",
                                 "email_addresses": [{"email_address": "ada@example.com"}]}
    api.products = [{"id": "prod_mug", "title": "Mug", "variants": [
        {"id": 101, "sku": "MUG-11", "price": 1500, "is_enabled": True}]}]
    print("fake APIs on %s" % api.url, flush=True)
    smtp = None
    if args.smtp_port:
        smtp = SmtpServer(args.smtp_port, args.mail_dir)
        print("SMTP on %s, saving mail to %s" % (smtp.url, smtp.mail_dir), flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        api.close()
        if smtp:
            smtp.close()


if __name__ == "__main__":
    main()
