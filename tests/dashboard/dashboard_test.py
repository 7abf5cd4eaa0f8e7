"""Drives the dashboard of a real `flowrun serve` in headless Chromium: Debian's chromium, through
Debian's chromium-driver and python3-selenium (no npm).

    /usr/bin/python3 tests/dashboard/dashboard_test.py [--flowrun PATH] [--screenshot PATH]

Environment: FLOWRUN_BIN (default build/flowrun), DASHBOARD_SCREENSHOT (default
build/dashboard-screenshot.png), CHROMIUM (default /usr/bin/chromium), CHROMEDRIVER (default
/usr/bin/chromedriver).

It starts the service on a free loopback port with a temporary store and flows directory,
creates a waiting run through the API, then in the browser: loads the runs page and sees the
run, opens it and sees its steps, cancels it and sees it cancelled (and checks the API agrees).
It also checks the events page (the stream, the test-event form, escaping of event data), the
flows page (validation state, revisions, Mermaid graph), the outbox, and the token prompt of a
service with API tokens. Then the run page's waterfall: a `parallel` run whose branches call a
loopback API (one slow, one failing once and retried) and sleep, drawn as one bar per attempt on
a shared time axis (screenshot beside the first, as dashboard-waterfall.png). Every wait is bounded (WebDriverWait, TIMEOUT_S). Prints
`N passed, N failed` and exits non-zero on any failure.
"""

import argparse
import base64
from datetime import datetime
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException, NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException,
                                        WebDriverException)
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIMEOUT_S = 15
API_TOKEN = "dashboard-test-token-7f3a"
# A secret the waiter flow copies into a step output; the server must redact it everywhere.
SECRET_VALUE = "dashboard-secret-value-51c9e2"
SECRETS_CONFIG = "secrets:\n  env: [DASHBOARD_TEST_SECRET]\n"

WAITER_FLOW = """id: team/waiter
description: Waits for a confirmation event
on: {event: test/wait}
steps:
  - id: before
    set: {k: "${{ event.data.k }}", key: "${{ secrets.DASHBOARD_TEST_SECRET }}"}
  - id: wait
    wait_for_event: {event: test/confirmed, match: data.k, timeout: 1h}
  - id: after
    return: {confirmed: "${{ steps.wait.output != null }}"}
"""

MAILER_FLOW = """id: mailer
on: {event: test/mail}
steps:
  - id: welcome
    email:
      to: ada@example.com
      from: ops@example.com
      subject: "Welcome ${{ event.data.name }}"
      text: "Hello ${{ event.data.name }}"
"""


# A parallel whose branches overlap in time: an http call the loopback API answers after 600 ms,
# a 1 s sleep, and an http call that fails once (503) and is retried 500 ms later.
FANOUT_FLOW = """id: team/fanout
on: {event: test/fanout}
steps:
  - id: prepare
    set: {base: "${{ event.data.base }}"}
  - id: fan
    parallel:
      branches:
        slow:
          - id: slow-call
            http: {url: "${{ vars.base }}/slow?ms=600", timeout: 10s}
        nap:
          - id: nap
            sleep: 1s
        flaky:
          - id: flaky-call
            retry: {attempts: 3, delay: 500ms, backoff: constant, jitter: false}
            http: {url: "${{ vars.base }}/flaky?key=${{ event.data.k }}", timeout: 10s}
  - id: done
    return: {ok: true}
"""


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flowrun", default=os.environ.get(
        "FLOWRUN_BIN", os.path.join(ROOT, "build", "flowrun")))
    parser.add_argument("--screenshot", default=os.environ.get(
        "DASHBOARD_SCREENSHOT", os.path.join(ROOT, "build", "dashboard-screenshot.png")))
    parser.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--chromedriver",
                        default=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    return parser.parse_args()


ARGS = parse_args()


# ---- a flowrun service in a temporary directory ---------------------------------------------

class FlowrunService:
    """`flowrun serve` on a free loopback port, with a temporary store and flows directory.
    config: extra lines of flowrun.yaml (the store and flows are given as flags)."""

    def __init__(self, config, flows):
        self.dir = tempfile.mkdtemp(prefix="flowrun-dashboard-")
        os.mkdir(os.path.join(self.dir, "flows"))
        for name, text in flows.items():
            with open(os.path.join(self.dir, "flows", name), "w") as f:
                f.write(text)
        args = [ARGS.flowrun, "serve", "--listen", "127.0.0.1:0",
                "--store", os.path.join(self.dir, "flowrun.db"),
                "--flows", os.path.join(self.dir, "flows"), "--grace", "2s", "--workers", "2"]
        if config:
            with open(os.path.join(self.dir, "flowrun.yaml"), "w") as f:
                f.write(config)
            args += ["--config", os.path.join(self.dir, "flowrun.yaml")]
        self.log = ""
        self.log_lock = threading.Lock()
        env = dict(os.environ, DASHBOARD_TEST_SECRET=SECRET_VALUE)
        try:
            self.child = subprocess.Popen(args, cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except OSError as e:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("cannot run %s: %s" % (ARGS.flowrun, e))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            self.base = self._wait_for_listen()
        except Exception:
            self.stop()
            raise

    def _read(self):
        for line in iter(self.child.stdout.readline, b""):
            with self.log_lock:
                self.log += line.decode("utf-8", "replace")

    # The service logs the address it bound ("listen": "127.0.0.1:PORT").
    def _wait_for_listen(self):
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            with self.log_lock:
                m = re.search(r'"listen"\s*:\s*"(127\.0\.0\.1:\d+)"', self.log)
            if m:
                return "http://" + m.group(1)
            if self.child.poll() is not None:
                raise RuntimeError("flowrun serve exited with %s:\n%s" % (self.child.returncode, self.log))
            time.sleep(0.05)
        raise RuntimeError("flowrun serve did not start:\n" + self.log)

    def api(self, method, route, body=None, token=None):
        """Returns (status, json or None, text)."""
        headers = {}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        if token:
            headers["Authorization"] = "Bearer " + token
        request = urllib.request.Request(self.base + route, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                status, text, resp_headers = response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as e:
            status, text, resp_headers = e.code, e.read().decode(), e.headers
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = None
        self.last_headers = resp_headers
        return status, parsed, text

    def stop(self):
        if self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def until(what, probe, timeout=TIMEOUT_S):
    """Polls `probe` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.1)


# ---- the checks -----------------------------------------------------------------------------

PASSED = 0
FAILED = 0


def check(name, body):
    global PASSED, FAILED
    try:
        body()
        PASSED += 1
        print("ok   " + name, flush=True)
        return True
    except Exception:
        FAILED += 1
        print("FAIL " + name + "\n     " + traceback.format_exc().rstrip().replace("\n", "\n     "),
              flush=True)
        return False


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


# ---- the browser ----------------------------------------------------------------------------

class Browser:
    """Headless Chromium through chromedriver, with a fresh profile, and bounded waits."""

    def __init__(self, user_data_dir):
        options = webdriver.ChromeOptions()
        options.binary_location = ARGS.chromium
        for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--user-data-dir=" + user_data_dir]:
            options.add_argument(flag)
        # Console messages (script errors and CSP violations among them) are read back.
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        options.set_capability("unhandledPromptBehavior", "ignore")
        log = os.path.join(user_data_dir + "-chromedriver.log")
        self.driver = webdriver.Chrome(service=DriverService(ARGS.chromedriver, log_path=log),
                                       options=options)
        self.driver.set_page_load_timeout(TIMEOUT_S)
        self.driver.set_script_timeout(TIMEOUT_S)
        self.errors = []

    def close(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass

    def collect_errors(self):
        """Console errors so far (each read drains the browser's log)."""
        for entry in self.driver.get_log("browser"):
            if entry.get("level") == "SEVERE":
                self.errors.append(entry.get("message", ""))
        return self.errors

    def wait(self, what, probe, timeout=TIMEOUT_S):
        """Waits until probe(driver) is truthy; elements going stale on a re-render retry."""
        def safe(driver):
            try:
                return probe(driver)
            except (StaleElementReferenceException, NoSuchElementException):
                return False
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1).until(safe)
        except TimeoutException:
            raise AssertionError("timed out after %d s waiting for %s (at %s)"
                                 % (timeout, what, self.driver.current_url))

    def find(self, css, text=None, visible=True, then=None):
        """Waits for the first element matching `css` (whose text contains `text`) and returns it,
        or what then(element) returns. Live pages re-render every 2 s: `then` runs inside the
        wait, so an element replaced between finding and using it is found again."""
        def probe(driver):
            for el in driver.find_elements(By.CSS_SELECTOR, css):
                if visible and not el.is_displayed():
                    continue
                if text is None or text in el.text:
                    return (then(el) if then else el,)
            return False
        return self.wait(css + ("" if text is None else " with text " + repr(text)), probe)[0]

    def by_xpath(self, xpath, what):
        return self.wait(what, lambda d: next(
            (el for el in d.find_elements(By.XPATH, xpath) if el.is_displayed()), False))

    def heading(self, level, name):
        return self.by_xpath("//h%d[normalize-space()='%s']" % (level, name),
                             "heading h%d %r" % (level, name))

    def link(self, name):
        return self.by_xpath("//a[normalize-space()='%s']" % name, "link %r" % name)

    def button(self, name):
        return self.by_xpath("//button[normalize-space()='%s']" % name, "button %r" % name)

    def labelled(self, label):
        """The form control a <label> names (by its `for`), like a screen reader finds it."""
        lab = self.by_xpath("//label[normalize-space()='%s']" % label, "label %r" % label)
        return self.driver.find_element(By.ID, lab.get_attribute("for"))

    def hash(self):
        return self.driver.execute_script("return location.hash")

    def fill(self, element, text):
        element.clear()
        element.send_keys(text)

    def screenshot(self, path):
        """A PNG of the whole page, beyond the window (DevTools' captureBeyondViewport)."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))


# ---- a loopback proxy that signs in the page but not its API calls ---------------------------

class PageTokenProxy:
    """Forwards every request to `target`, adding the API token to everything but /v1/: the page
    and its assets come with the token (as after POST /login), the page's own API calls carry
    none until the token prompt is answered."""

    def __init__(self, target):
        host, port = urllib.parse.urlsplit(target).netloc.split(":")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "keep-alive")}
                if not self.path.startswith("/v1/"):
                    headers["Authorization"] = "Bearer " + API_TOKEN
                upstream = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)
                try:
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    response = upstream.getresponse()
                    data = response.read()
                    self.send_response(response.status)
                    for k, v in response.getheaders():
                        if k.lower() not in ("content-length", "connection", "transfer-encoding",
                                             "keep-alive"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- a loopback API for http steps ----------------------------------------------------------

class LoopbackApi:
    """GET /slow?ms=N answers after N ms; GET /flaky?key=K answers 503 the first time for each K,
    then 200. Every answer is a small JSON object."""

    def __init__(self):
        self.seen = set()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                status = 200
                if url.path == "/slow":
                    time.sleep(min(int(query.get("ms", ["0"])[0]), 5000) / 1000.0)
                elif url.path == "/flaky":
                    key = query.get("key", [""])[0]
                    with api.lock:
                        first = key not in api.seen
                        api.seen.add(key)
                    status = 503 if first else 200
                else:
                    status = 404
                body = json.dumps({"path": url.path, "status": status}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# ---- scenarios ------------------------------------------------------------------------------

def main_scenario(browser_dir):
    service = FlowrunService(SECRETS_CONFIG, {"waiter.yaml": WAITER_FLOW, "mailer.yaml": MAILER_FLOW})
    browser = None
    try:
        state = {}

        def waiting_run():
            status, sent, text = service.api("POST", "/v1/events", {"name": "test/wait", "data": {"k": "k-1"}})
            expect(status == 200 and len(sent["ids"]) == 1, "ingest answered " + text)

            def probe():
                _, listed, _ = service.api("GET", "/v1/runs?flow=team/waiter")
                return next((r for r in (listed or {}).get("runs", []) if r["status"] == "waiting"), None)
            state["run_id"] = until("a waiting run", probe)["id"]
        check("an event starts a run that waits (API)", waiting_run)
        run_id = state.get("run_id")
        if not run_id:
            return

        browser = Browser(browser_dir)
        driver = browser.driver
        row_css = '#runs-table tr[data-run-id="%s"]' % run_id

        def served():
            status, _, text = service.api("GET", "/")
            expect(status == 200, "GET / answered %d" % status)
            csp = service.last_headers.get("Content-Security-Policy") or ""
            expect("default-src 'self'" in csp, "no CSP: " + csp)
            expect('src="/assets/app.js"' in text, "GET / is not the dashboard page")
            for asset in ["/assets/app.js", "/assets/app.css"]:
                status, _, _ = service.api("GET", asset)
                expect(status == 200, "%s answered %d" % (asset, status))
            driver.get(service.base + "/")
            browser.wait("the dashboard script to route", lambda d: d.find_elements(By.TAG_NAME, "h1"))
        check("the dashboard is served at / with its assets and a strict CSP", served)

        def runs_page():
            browser.heading(1, "Runs")
            row = browser.find(row_css)
            browser.wait("the row to show flow and status",
                         lambda d: "team/waiter" in d.find_element(By.CSS_SELECTOR, row_css).text
                         and "waiting" in d.find_element(By.CSS_SELECTOR, row_css).text)
            expect(row is not None, "no row")
        check("the runs page lists the waiting run", runs_page)

        def status_filter():
            Select(browser.labelled("Status")).select_by_value("completed")
            browser.wait("the filter in the URL", lambda d: browser.hash() == "#/runs?status=completed")
            browser.find(".empty", "No runs match.")
            Select(browser.labelled("Status")).select_by_value("waiting")
            browser.find(row_css)
            Select(browser.labelled("Status")).select_by_value("")
            browser.wait("the filter to clear", lambda d: browser.hash() == "#/runs")
        check("the status filter hides runs that do not match, and keeps those that do", status_filter)

        def open_run():
            browser.find(row_css + " a.mono", run_id, then=lambda link: (
                driver.execute_script("arguments[0].focus()", link),
                driver.switch_to.active_element.send_keys(Keys.ENTER)))
            browser.wait("the run's page", lambda d: browser.hash() == "#/runs/" + urllib.parse.quote(run_id, safe=""))
            browser.find('#steps li[data-step="before"]')
            browser.find('#steps li[data-step="wait"]', "waiting")
            browser.wait("the run shown as waiting",
                         lambda d: d.find_element(By.ID, "run-status").text.strip() == "waiting")
            browser.find('#steps li[data-step="before"] summary', "Output", then=lambda el: el.click())
            output = browser.find('#steps details[data-key="before:output"] pre', then=lambda el: el.text)
            expect(json.loads(output)["k"] == "k-1", "the step output is not shown: " + output)
            expect(json.loads(output)["key"] == "***", "the secret is not redacted: " + output)
            expect(SECRET_VALUE not in driver.page_source, "the secret value is on the page")
        check("opening the run (with the keyboard) shows its steps", open_run)

        def cancel():
            button = browser.button("Cancel run")
            expect(button.is_enabled(), "Cancel is disabled for a waiting run")
            button.click()
            alert = browser.wait("the confirm dialog", lambda d: _alert(d))
            alert.accept()
            browser.find("#run-status", "cancelled")
            browser.wait("Cancel to be disabled",
                         lambda d: not d.find_element(By.ID, "cancel-run").is_enabled())
            _, run, _ = service.api("GET", "/v1/runs/" + urllib.parse.quote(run_id, safe=""))
            expect(run["status"] == "cancelled", "the API says " + str(run["status"]))
        check("Cancel cancels the run, on the page and through the API", cancel)

        def screenshot():
            browser.screenshot(ARGS.screenshot)
            print("     screenshot: " + ARGS.screenshot)
        check("screenshot of the cancelled run", screenshot)

        def rerun():
            old = "#/runs/" + urllib.parse.quote(run_id, safe="")
            browser.button("Rerun").click()
            new_hash = browser.wait("a new run's page",
                                    lambda d: (lambda h: h if h.startswith("#/runs/") and len(h) > 7
                                               and h != old else False)(browser.hash()))
            new_id = urllib.parse.unquote(new_hash[len("#/runs/"):])
            status, run, text = service.api("GET", "/v1/runs/" + urllib.parse.quote(new_id, safe=""))
            expect(status == 200 and run["flow"] == "team/waiter", "rerun: " + text)
            browser.find('#steps li[data-step="before"]')
        check("Rerun starts a new run of the same flow and opens it", rerun)

        def events_page():
            hostile = '<img src=x id=injected onerror="window.__xss=1">'
            status, _, text = service.api("POST", "/v1/events", {"name": "test/other", "data": {"html": hostile}})
            expect(status == 200, "ingest answered " + text)
            browser.link("Events").click()
            browser.heading(1, "Events")
            browser.find("#events-table td", "test/other")
            cell = browser.find("#events-table code", "injected", then=lambda el: el.text)
            expect(hostile.replace('"', '\\"') in cell, "event data not shown verbatim: " + cell)
            expect(not driver.find_elements(By.ID, "injected"), "event data became markup")
            expect(driver.execute_script("return window.__xss === undefined"), "event data ran a script")

            browser.fill(browser.labelled("Event name"), "test/from-dashboard")
            browser.fill(browser.labelled("Data (JSON object)"), '{"hello": "dashboard"}')
            browser.button("Send event").click()
            browser.find(".send-event [role=status]", "Sent:")
            browser.find("#events-table td", "test/from-dashboard")
            _, listed, text = service.api("GET", "/v1/events?name=test/from-dashboard")
            expect(len(listed["events"]) == 1 and listed["events"][0]["data"]["hello"] == "dashboard",
                   "the API has " + text)
        check("the events page sends a test event and shows event data as text", events_page)

        def flows_page():
            browser.link("Flows").click()
            row_text = browser.find("#flows-table tr", "team/waiter", then=lambda el: el.text)
            expect("valid" in row_text, "no validation state")
            browser.find("#flows-table a", "team/waiter", then=lambda el: el.click())
            graph = browser.find("#flow-graph", then=lambda el: el.text)
            expect(re.search(r"flowchart|graph", graph) and "wait" in graph, "graph: " + graph)
            expect(len(driver.find_elements(By.CSS_SELECTOR, "#revisions-table tbody tr")) >= 1,
                   "no revisions")
        check("the flows page shows validation state, revisions and the Mermaid graph", flows_page)

        def outbox():
            status, _, text = service.api("POST", "/v1/events", {"name": "test/mail", "data": {"name": "Ada"}})
            expect(status == 200, "ingest answered " + text)
            browser.link("Outbox").click()
            browser.find("#outbox .mail-subject", "Welcome Ada")
            browser.find("#outbox", "ada@example.com")
        check("the outbox shows mail sent by an email step", outbox)

        def no_errors():
            errors = browser.collect_errors()
            expect(not errors, "\n".join(errors))
        check("no script errors or CSP violations", no_errors)
    finally:
        if browser:
            browser.close()
        service.stop()


def _alert(driver):
    try:
        alert = driver.switch_to.alert
        alert.text  # raises when there is none
        return alert
    except NoAlertPresentException:
        return False


def token_scenario(browser_dir):
    """With API tokens, the dashboard's API calls answer 401 until a token is given; the page asks
    for it and keeps it in sessionStorage."""
    service = FlowrunService(SECRETS_CONFIG + "api_tokens: [%s]\n" % API_TOKEN,
                             {"waiter.yaml": WAITER_FLOW})
    proxy = None
    browser = None
    try:
        def refused():
            status, _, _ = service.api("GET", "/v1/runs")
            expect(status == 401, "/v1/runs answered %d" % status)
        check("the API refuses requests without the token", refused)

        proxy = PageTokenProxy(service.base)
        browser = Browser(browser_dir)
        driver = browser.driver

        def prompt():
            driver.get(proxy.base + "/")
            field = browser.labelled("API token")
            browser.wait("the token prompt", lambda d: field.is_displayed())
            browser.fill(field, "wrong-token")
            browser.button("Use token").click()
            browser.find("#token-error", "did not accept")
            browser.fill(browser.labelled("API token"), API_TOKEN)
            browser.button("Use token").click()
            browser.wait("the prompt to hide",
                         lambda d: not d.find_element(By.ID, "token-prompt").is_displayed())
            browser.find("#runs-updated", "updated")
            stored = driver.execute_script("return sessionStorage.getItem('flowrun.token')")
            expect(stored == API_TOKEN, "sessionStorage holds %r" % stored)
            errors = [e for e in browser.collect_errors() if "401" not in e]
            expect(not errors, "\n".join(errors))
        check("a 401 shows the token prompt; the token is kept and sent as a Bearer token", prompt)
    finally:
        if browser:
            browser.close()
        if proxy:
            proxy.stop()
        service.stop()


FLAKY_FLOW = """id: team/flaky
on: {event: test/flaky}
rate_limit: {limit: 2, period: 1h}
steps:
  - id: check
    if: event.data.fail
    fail: {message: "upstream said no"}
  - id: done
    return: ok
"""


def dead_letter_scenario(browser_dir):
    """The failed view lists failed runs; "Rerun all failed" reruns them (the dead-letter queue);
    runs skipped by a rate limit are listed with their reason."""
    service = FlowrunService(None, {"flaky.yaml": FLAKY_FLOW})
    browser = None
    try:
        def failed_and_skipped():
            for fail in (True, True, False):
                status, _, text = service.api("POST", "/v1/events",
                                              {"name": "test/flaky", "data": {"fail": fail}})
                expect(status == 200, "ingest answered " + text)

            def probe():
                _, listed, _ = service.api("GET", "/v1/runs?flow=team/flaky")
                runs = (listed or {}).get("runs", [])
                statuses = sorted(r["status"] for r in runs)
                return runs if statuses == ["failed", "failed", "skipped"] else None
            until("two failed runs and one skipped by the rate limit", probe)
        check("a rate limit skips the third event; two runs fail (API)", failed_and_skipped)

        browser = Browser(browser_dir)
        driver = browser.driver

        def skipped_listed():
            driver.get(service.base + "/#/runs?status=skipped")
            browser.find("#runs-table .skip-reason", "rate_limit")
        check("the runs page lists a skipped run with its reason", skipped_listed)

        def rerun_all():
            driver.get(service.base + "/")
            browser.link("Failed").click()
            browser.heading(1, "Failed runs")
            browser.wait("two failed runs", lambda d: len(d.find_elements(
                By.CSS_SELECTOR, "#runs-table tbody tr")) == 2)
            browser.button("Rerun all failed").click()
            alert = browser.wait("the confirmation", _alert)
            alert.accept()
            browser.find("#bulk-message", "Rerun 2 of 2 runs")

            def reruns():
                _, listed, _ = service.api("GET", "/v1/runs?flow=team/flaky&status=failed")
                # The reruns fail again (same events): four failed runs in all.
                return len((listed or {}).get("runs", [])) == 4
            until("the reruns to fail again", reruns)
            errors = browser.collect_errors()
            expect(not errors, "\n".join(errors))
        check("the failed view reruns every failed run with one button", rerun_all)
    finally:
        if browser:
            browser.close()
        service.stop()


def bar_boxes(driver, step):
    """The waterfall bars of `step`, in attempt order: their data and on-screen box."""
    return driver.execute_script("""
        return [...document.querySelectorAll('#waterfall .wf-bar')]
            .filter((g) => g.dataset.step === arguments[0])
            .map((g) => {
              const r = g.querySelector('rect').getBoundingClientRect();
              return {attempt: Number(g.dataset.attempt), status: g.dataset.status,
                      kind: g.dataset.kind, cls: g.getAttribute('class'),
                      title: g.querySelector('title').textContent,
                      tabindex: g.getAttribute('tabindex'), label: g.getAttribute('aria-label'),
                      start: Number(g.dataset.startMs), end: Number(g.dataset.endMs),
                      left: r.left, right: r.right, top: r.top, bottom: r.bottom};
            })
            .sort((a, b) => a.attempt - b.attempt);""", step)


def overlap(a, b):
    return a["left"] < b["right"] and b["left"] < a["right"]


def waterfall_scenario(browser_dir):
    """A parallel run's waterfall: a bar per attempt on one time axis, placed by the journal."""
    loopback = LoopbackApi()
    service = FlowrunService(None, {"fanout.yaml": FANOUT_FLOW})
    browser = None
    try:
        state = {}

        def finished_run():
            status, sent, text = service.api("POST", "/v1/events", {
                "name": "test/fanout", "data": {"base": loopback.base, "k": "k-1"}})
            expect(status == 200 and len(sent["ids"]) == 1, "ingest answered " + text)

            def probe():
                _, listed, _ = service.api("GET", "/v1/runs?flow=team/fanout")
                runs = (listed or {}).get("runs", [])
                return runs[0] if runs and runs[0]["status"] in ("completed", "failed") else None
            run = until("the fan-out run to finish", probe)
            expect(run["status"] == "completed", "the run " + run["status"])
            _, detail, text = service.api("GET", "/v1/runs/" + urllib.parse.quote(run["id"], safe=""))
            state["run"] = detail
            # Every action attempt says when it was sent (`started_at`) besides when it ended (`at`).
            attempts = [e for e in detail["journal"]
                        if e["step"] in ("slow-call", "flaky-call") and e["kind"] in ("attempt", "completed")]
            expect(len(attempts) == 3, "expected 3 action attempts in the journal: " + text)
            for entry in attempts:
                sent_ms = entry["data"].get("started_at")
                ended_ms = datetime.fromisoformat(entry["at"].replace("Z", "+00:00")).timestamp() * 1000
                expect(isinstance(sent_ms, int) and ended_ms - 60000 < sent_ms <= ended_ms + 1,
                       "attempt without a sane started_at: %s" % entry)
            slow = next(s for s in detail["steps"] if s["key"] == "slow-call")
            expect(slow["duration_ms"] is not None and slow["duration_ms"] >= 550,
                   "slow-call's duration is not its attempt's: %s" % slow)
        check("a parallel run journals when each attempt was sent (API)", finished_run)
        run = state.get("run")
        if not run:
            return

        browser = Browser(browser_dir)
        driver = browser.driver

        def bars():
            driver.get(service.base + "/#/runs/" + urllib.parse.quote(run["id"], safe=""))
            browser.find("#waterfall .wf-bar")
            expected = {"prepare": 1, "fan": 1, "slow-call": 1, "nap": 1, "flaky-call": 2, "done": 1}
            for step, count in expected.items():
                got = bar_boxes(driver, step)
                expect(len(got) == count, "%s has %d bars, expected %d" % (step, len(got), count))
                for bar in got:
                    expect(bar["tabindex"] == "0" and bar["label"] == bar["title"], "bar not focusable or unlabelled: %s" % bar)
                    expect(bar["title"].startswith(step + " · "), "title without the step: " + bar["title"])
                    expect(bar["status"] in bar["title"], "title without the status: " + bar["title"])
            slow = bar_boxes(driver, "slow-call")[0]
            expect(re.match(r"slow-call · attempt 1 · completed · \d", slow["title"]), "title: " + slow["title"])
            expect(slow["end"] - slow["start"] >= 550, "slow-call's bar spans %d ms" % (slow["end"] - slow["start"]))
            nap = bar_boxes(driver, "nap")[0]
            expect(nap["kind"] == "sleep" and nap["end"] - nap["start"] >= 950, "nap: %s" % nap)
        check("the waterfall has a bar per attempt, each focusable and titled with step, attempt, status and duration", bars)

        def overlapping():
            slow = bar_boxes(driver, "slow-call")[0]
            nap = bar_boxes(driver, "nap")[0]
            flaky = bar_boxes(driver, "flaky-call")
            expect(overlap(slow, nap), "the sleep and the slow call do not overlap: %s %s" % (slow, nap))
            expect(slow["top"] != nap["top"], "two steps share a row")
            # Whatever the engine's timing, bars overlap on screen exactly when their times do.
            for a, b in [(slow, flaky[0]), (slow, flaky[1]), (nap, flaky[0]), (nap, flaky[1])]:
                times = a["start"] < b["end"] and b["start"] < a["end"]
                if abs(a["start"] - b["end"]) > 20 and abs(b["start"] - a["end"]) > 20:
                    expect(overlap(a, b) == times, "screen and journal disagree: %s %s" % (a, b))
            # The run's axis: every bar lies inside it, later starts are further right.
            ordered = sorted([slow, nap] + flaky, key=lambda b: b["start"])
            for earlier, later in zip(ordered, ordered[1:]):
                if later["start"] - earlier["start"] > 20:
                    expect(later["left"] > earlier["left"], "bars out of time order: %s %s" % (earlier, later))
        check("bars of overlapping parallel branches overlap on the shared time axis", overlapping)

        def retried():
            first, second = bar_boxes(driver, "flaky-call")
            expect(first["attempt"] == 1 and first["status"] == "failed" and "status-failed" in first["cls"],
                   "the first attempt is not marked failed: %s" % first)
            expect(second["attempt"] == 2 and second["status"] == "completed", "second: %s" % second)
            expect(second["start"] >= first["end"] + 400, "the retry did not wait its 500 ms delay")
            expect(second["left"] > first["right"], "the retry's bar is not after the failed one")
            expect(first["top"] == second["top"], "the attempts of one step are on different rows")
            expect(driver.find_elements(By.CSS_SELECTOR, "#waterfall .wf-backoff"), "no backoff line")
            errors = browser.collect_errors()
            expect(not errors, "\n".join(errors))
        check("a retried step shows two bars, the failed attempt marked, then its backoff", retried)

        def screenshot():
            path = os.path.join(os.path.dirname(os.path.abspath(ARGS.screenshot)), "dashboard-waterfall.png")
            browser.screenshot(path)
            print("     screenshot: " + path)
        check("screenshot of the waterfall", screenshot)
    finally:
        if browser:
            browser.close()
        service.stop()
        loopback.stop()


def main():
    global FAILED
    browser_root = tempfile.mkdtemp(prefix="flowrun-chromium-")
    try:
        for scenario, name in [(main_scenario, "main"), (token_scenario, "token"),
                               (waterfall_scenario, "waterfall"),
                               (dead_letter_scenario, "dead-letter")]:
            try:
                scenario(os.path.join(browser_root, name))
            except Exception:
                FAILED += 1
                print("FAIL setup of the %s scenario\n     %s" % (
                    name, traceback.format_exc().rstrip().replace("\n", "\n     ")), flush=True)
    finally:
        shutil.rmtree(browser_root, ignore_errors=True)
    print("%d passed, %d failed" % (PASSED, FAILED))
    return 0 if FAILED == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
