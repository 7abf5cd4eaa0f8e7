// Drives the dashboard of a real `flowrun serve` in headless Chromium (Debian's /usr/bin/chromium
// through playwright-core).
//
//   node tests/dashboard/dashboard_test.mjs [--flowrun PATH] [--screenshot PATH] [--node-modules DIR]
//
// Environment: FLOWRUN_BIN (default build/flowrun), DASHBOARD_SCREENSHOT (default
// build/dashboard-screenshot.png), DASHBOARD_NODE_MODULES (where playwright-core is installed;
// default build/dashboard-node/node_modules), CHROMIUM (default /usr/bin/chromium).
//
// It starts the service on a free loopback port with a temporary store and flows directory,
// creates a waiting run through the API, then in the browser: loads the runs page and sees the
// run, opens it and sees its steps, cancels it and sees it cancelled (and checks the API agrees).
// It also checks the events page (the stream, the test-event form, escaping of event data), the
// flows page (validation state, revisions, Mermaid graph), the outbox, and the token prompt of a
// service with API tokens. Prints `N passed, N failed` and exits non-zero on any failure.
import {spawn} from 'node:child_process';
import {mkdtempSync, mkdirSync, rmSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function option(name, envName, fallback) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return process.env[envName] || fallback;
}

const FLOWRUN = path.resolve(option('flowrun', 'FLOWRUN_BIN', path.join(ROOT, 'build', 'flowrun')));
const SCREENSHOT = path.resolve(option('screenshot', 'DASHBOARD_SCREENSHOT',
                                       path.join(ROOT, 'build', 'dashboard-screenshot.png')));
const NODE_MODULES = path.resolve(option('node-modules', 'DASHBOARD_NODE_MODULES',
                                         path.join(ROOT, 'build', 'dashboard-node', 'node_modules')));
const CHROMIUM = option('chromium', 'CHROMIUM', '/usr/bin/chromium');
const TIMEOUT_MS = 15000;
const API_TOKEN = 'dashboard-test-token-7f3a';
// A secret the waiter flow copies into a step output; the server must redact it everywhere.
const SECRET_VALUE = 'dashboard-secret-value-51c9e2';
const SECRETS_CONFIG = 'secrets:\n  env: [DASHBOARD_TEST_SECRET]\n';

const require = createRequire(path.join(NODE_MODULES, 'playwright-core', 'package.json'));
const {chromium} = require('playwright-core');

const WAITER_FLOW = `id: team/waiter
description: Waits for a confirmation event
on: {event: test/wait}
steps:
  - id: before
    set: {k: "\${{ event.data.k }}", key: "\${{ secrets.DASHBOARD_TEST_SECRET }}"}
  - id: wait
    wait_for_event: {event: test/confirmed, match: data.k, timeout: 1h}
  - id: after
    return: {confirmed: "\${{ steps.wait.output != null }}"}
`;

const MAILER_FLOW = `id: mailer
on: {event: test/mail}
steps:
  - id: welcome
    email:
      to: ada@example.com
      from: ops@example.com
      subject: "Welcome \${{ event.data.name }}"
      text: "Hello \${{ event.data.name }}"
`;

// ---- a flowrun service in a temporary directory ----------------------------------------------

class Service {
  // config: extra lines of flowrun.yaml (the store and flows are given as flags).
  static async start(config) {
    const dir = mkdtempSync(path.join(tmpdir(), 'flowrun-dashboard-'));
    mkdirSync(path.join(dir, 'flows'));
    writeFileSync(path.join(dir, 'flows', 'waiter.yaml'), WAITER_FLOW);
    writeFileSync(path.join(dir, 'flows', 'mailer.yaml'), MAILER_FLOW);
    const args = ['serve', '--listen', '127.0.0.1:0', '--store', path.join(dir, 'flowrun.db'),
                  '--flows', path.join(dir, 'flows'), '--grace', '2s', '--workers', '2'];
    if (config) {
      writeFileSync(path.join(dir, 'flowrun.yaml'), config);
      args.push('--config', path.join(dir, 'flowrun.yaml'));
    }
    const child = spawn(FLOWRUN, args, {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {...process.env, DASHBOARD_TEST_SECRET: SECRET_VALUE},
    });
    const service = new Service(dir, child);
    try {
      service.base = await service.waitForListen();
    } catch (e) {
      await service.stop();
      throw e;
    }
    return service;
  }

  constructor(dir, child) {
    this.dir = dir;
    this.child = child;
    Service.running.add(child);
    child.on('exit', () => Service.running.delete(child));
    this.log = '';
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => resolve({code, signal}));
      child.on('error', (e) => {
        this.log += 'cannot run ' + FLOWRUN + ': ' + e.message + '\n';
        resolve({code: null, signal: null});
      });
    });
    child.stdout.on('data', (d) => { this.log += d; });
    child.stderr.on('data', (d) => { this.log += d; });
  }

  // The service logs the address it bound ("listen": "127.0.0.1:PORT").
  waitForListen() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('flowrun serve did not start:\n' + this.log)),
                               TIMEOUT_MS);
      const check = () => {
        const m = /"listen"\s*:\s*"(127\.0\.0\.1:\d+)"/.exec(this.log);
        if (m) {
          clearTimeout(timer);
          resolve('http://' + m[1]);
        }
      };
      this.child.stdout.on('data', check);
      this.child.stderr.on('data', check);
      this.exited.then(({code}) => {
        clearTimeout(timer);
        reject(new Error('flowrun serve exited with ' + code + ':\n' + this.log));
      });
    });
  }

  async api(method, route, body, token) {
    const headers = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (token) headers.Authorization = 'Bearer ' + token;
    const response = await fetch(this.base + route, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch (e) {
      json = null;
    }
    return {status: response.status, json, text};
  }

  async stop() {
    if (this.child.pid !== undefined && this.child.exitCode === null &&
        this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 10000);
      await this.exited;
      clearTimeout(killer);
    }
    rmSync(this.dir, {recursive: true, force: true});
  }
}

// Services still running when the test exits (a crash, a timeout) are killed with it.
Service.running = new Set();
process.on('exit', () => {
  for (const child of Service.running) child.kill('SIGKILL');
});

// Polls `probe` until it returns a truthy value or the deadline passes.
async function until(what, probe, timeoutMs = TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await probe();
    if (last) return last;
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- the checks ------------------------------------------------------------------------------

let passed = 0;
let failed = 0;

async function check(name, body) {
  try {
    await body();
    passed++;
    console.log('ok   ' + name);
  } catch (e) {
    failed++;
    console.log('FAIL ' + name + '\n     ' + String(e && e.stack || e).split('\n').join('\n     '));
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

async function launchBrowser(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: {width: 1280, height: 900},
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Collects script errors and console errors (a CSP violation is one) of a page.
function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push('console error: ' + m.text());
  });
  page.on('dialog', (d) => d.accept());
  return errors;
}

async function mainScenario(browserDir) {
  const service = await Service.start(SECRETS_CONFIG);
  let context;
  try {
    let runId;
    await check('an event starts a run that waits (API)', async () => {
      const sent = await service.api('POST', '/v1/events', {name: 'test/wait', data: {k: 'k-1'}});
      expect(sent.status === 200 && sent.json.ids.length === 1, 'ingest answered ' + sent.text);
      const run = await until('a waiting run', async () => {
        const list = await service.api('GET', '/v1/runs?flow=team/waiter');
        return (list.json.runs || []).find((r) => r.status === 'waiting');
      });
      runId = run.id;
    });
    if (!runId) return;

    context = await launchBrowser(browserDir);
    const page = context.pages()[0] || await context.newPage();
    const errors = watchErrors(page);
    page.setDefaultTimeout(TIMEOUT_MS);

    await check('the dashboard is served at / with its assets and a strict CSP', async () => {
      const response = await page.goto(service.base + '/');
      expect(response.status() === 200, 'GET / answered ' + response.status());
      const csp = response.headers()['content-security-policy'] || '';
      expect(csp.includes("default-src 'self'"), 'no CSP: ' + csp);
      for (const asset of ['/assets/app.js', '/assets/app.css']) {
        const r = await service.api('GET', asset);
        expect(r.status === 200, asset + ' answered ' + r.status);
      }
    });

    await check('the runs page lists the waiting run', async () => {
      await page.getByRole('heading', {level: 1, name: 'Runs'}).waitFor();
      const row = page.locator(`#runs-table tr[data-run-id="${runId}"]`);
      await row.waitFor();
      const text = await row.innerText();
      expect(text.includes('team/waiter'), 'row has no flow: ' + text);
      expect(text.includes('waiting'), 'row has no status: ' + text);
    });

    await check('the status filter hides runs that do not match, and keeps those that do', async () => {
      await page.getByLabel('Status').selectOption('completed');
      await page.waitForFunction(() => location.hash === '#/runs?status=completed');
      await page.locator('.empty', {hasText: 'No runs match.'}).waitFor();
      await page.getByLabel('Status').selectOption('waiting');
      await page.locator(`#runs-table tr[data-run-id="${runId}"]`).waitFor();
      await page.getByLabel('Status').selectOption('');
    });

    await check('opening the run (with the keyboard) shows its steps', async () => {
      await page.locator(`#runs-table tr[data-run-id="${runId}"] a`, {hasText: runId}).focus();
      await page.keyboard.press('Enter');
      await page.waitForFunction((id) => location.hash === '#/runs/' + encodeURIComponent(id), runId);
      await page.locator('#steps li[data-step="before"]').waitFor();
      const wait = page.locator('#steps li[data-step="wait"]');
      await wait.waitFor();
      expect((await wait.innerText()).includes('waiting'), 'the wait step is not waiting');
      expect((await page.locator('#run-status').innerText()).trim() === 'waiting',
             'the run is not shown as waiting');
      await page.locator('#steps li[data-step="before"] summary', {hasText: 'Output'}).click();
      const output = await page.locator('#steps details[data-key="before:output"] pre').innerText();
      expect(JSON.parse(output).k === 'k-1', 'the step output is not shown: ' + output);
      expect(JSON.parse(output).key === '***', 'the secret is not redacted: ' + output);
      const html = await page.content();
      expect(!html.includes(SECRET_VALUE), 'the secret value is on the page');
    });

    await check('Cancel cancels the run, on the page and through the API', async () => {
      const cancel = page.getByRole('button', {name: 'Cancel run'});
      expect(await cancel.isEnabled(), 'Cancel is disabled for a waiting run');
      await cancel.click();
      await page.locator('#run-status', {hasText: 'cancelled'}).waitFor();
      expect(await cancel.isDisabled(), 'Cancel stays enabled after the run ended');
      const run = await service.api('GET', '/v1/runs/' + encodeURIComponent(runId));
      expect(run.json.status === 'cancelled', 'the API says ' + run.json.status);
    });

    await check('screenshot of the cancelled run', async () => {
      mkdirSync(path.dirname(SCREENSHOT), {recursive: true});
      await page.screenshot({path: SCREENSHOT, fullPage: true});
      console.log('     screenshot: ' + SCREENSHOT);
    });

    await check('Rerun starts a new run of the same flow and opens it', async () => {
      await page.getByRole('button', {name: 'Rerun'}).click();
      await page.waitForFunction((id) => /^#\/runs\/./.test(location.hash) &&
                                   location.hash !== '#/runs/' + encodeURIComponent(id), runId);
      const newId = decodeURIComponent((await page.evaluate(() => location.hash)).slice('#/runs/'.length));
      const run = await service.api('GET', '/v1/runs/' + encodeURIComponent(newId));
      expect(run.status === 200 && run.json.flow === 'team/waiter', 'rerun: ' + run.text);
      await page.locator('#steps li[data-step="before"]').waitFor();
    });

    await check('the events page sends a test event and shows event data as text', async () => {
      const hostile = '<img src=x id=injected onerror="window.__xss=1">';
      const sent = await service.api('POST', '/v1/events', {name: 'test/other', data: {html: hostile}});
      expect(sent.status === 200, 'ingest answered ' + sent.text);
      await page.getByRole('link', {name: 'Events'}).click();
      await page.getByRole('heading', {level: 1, name: 'Events'}).waitFor();
      await page.locator('#events-table td', {hasText: 'test/other'}).first().waitFor();
      const cell = await page.locator('#events-table code', {hasText: 'injected'}).first().innerText();
      expect(cell.includes(hostile.replace(/"/g, '\\"')), 'event data not shown verbatim: ' + cell);
      expect(await page.locator('#injected').count() === 0, 'event data became markup');
      expect(await page.evaluate(() => window.__xss === undefined), 'event data ran a script');

      await page.getByLabel('Event name').fill('test/from-dashboard');
      await page.getByLabel('Data (JSON object)').fill('{"hello": "dashboard"}');
      await page.getByRole('button', {name: 'Send event'}).click();
      await page.locator('.send-event [role=status]', {hasText: 'Sent:'}).waitFor();
      await page.locator('#events-table td', {hasText: 'test/from-dashboard'}).first().waitFor();
      const listed = await service.api('GET', '/v1/events?name=test/from-dashboard');
      expect(listed.json.events.length === 1 && listed.json.events[0].data.hello === 'dashboard',
             'the API has ' + listed.text);
    });

    await check('the flows page shows validation state, revisions and the Mermaid graph', async () => {
      await page.getByRole('link', {name: 'Flows'}).click();
      const row = page.locator('#flows-table tr', {hasText: 'team/waiter'});
      await row.waitFor();
      expect((await row.innerText()).includes('valid'), 'no validation state');
      await row.getByRole('link', {name: 'team/waiter'}).click();
      const graph = page.locator('#flow-graph');
      await graph.waitFor();
      const mermaid = await graph.innerText();
      expect(/flowchart|graph/.test(mermaid) && mermaid.includes('wait'), 'graph: ' + mermaid);
      expect(await page.locator('#revisions-table tbody tr').count() >= 1, 'no revisions');
    });

    await check('the outbox shows mail sent by an email step', async () => {
      const sent = await service.api('POST', '/v1/events', {name: 'test/mail', data: {name: 'Ada'}});
      expect(sent.status === 200, 'ingest answered ' + sent.text);
      await page.getByRole('link', {name: 'Outbox'}).click();
      await page.locator('#outbox .mail-subject', {hasText: 'Welcome Ada'}).waitFor();
      expect((await page.locator('#outbox').innerText()).includes('ada@example.com'), 'no recipient');
    });

    await check('no script errors or CSP violations', async () => {
      expect(errors.length === 0, errors.join('\n'));
    });
  } finally {
    if (context) await context.close();
    await service.stop();
  }
}

// With API tokens, the dashboard's API calls answer 401 until a token is given; the page asks for
// it and keeps it in sessionStorage.
async function tokenScenario(browserDir) {
  const service = await Service.start(SECRETS_CONFIG + `api_tokens: [${API_TOKEN}]\n`);
  let context;
  try {
    await check('the API refuses requests without the token', async () => {
      const r = await service.api('GET', '/v1/runs');
      expect(r.status === 401, '/v1/runs answered ' + r.status);
    });
    context = await launchBrowser(browserDir);
    const page = context.pages()[0] || await context.newPage();
    const errors = watchErrors(page);
    page.setDefaultTimeout(TIMEOUT_MS);
    // The page and its assets are fetched with the token (as after POST /login); the page's own
    // API calls carry none until the prompt is answered.
    await page.route('**/*', (route) => {
      const url = new URL(route.request().url());
      const headers = {...route.request().headers()};
      if (!url.pathname.startsWith('/v1/')) headers.authorization = 'Bearer ' + API_TOKEN;
      route.continue({headers});
    });
    await check('a 401 shows the token prompt; the token is kept and sent as a Bearer token', async () => {
      await page.goto(service.base + '/');
      const input = page.getByLabel('API token', {exact: true});
      await input.waitFor();
      await input.fill('wrong-token');
      await page.getByRole('button', {name: 'Use token'}).click();
      await page.locator('#token-error', {hasText: 'did not accept'}).waitFor();
      await input.fill(API_TOKEN);
      await page.getByRole('button', {name: 'Use token'}).click();
      await page.locator('#token-prompt').waitFor({state: 'hidden'});
      await page.locator('#runs-updated', {hasText: 'updated'}).waitFor();
      const stored = await page.evaluate(() => sessionStorage.getItem('flowrun.token'));
      expect(stored === API_TOKEN, 'sessionStorage holds ' + stored);
      expect(errors.filter((e) => !e.includes('401')).length === 0, errors.join('\n'));
    });
  } finally {
    if (context) await context.close();
    await service.stop();
  }
}

const browserRoot = mkdtempSync(path.join(tmpdir(), 'flowrun-chromium-'));
try {
  await mainScenario(path.join(browserRoot, 'main'));
  await tokenScenario(path.join(browserRoot, 'token'));
} catch (e) {
  failed++;
  console.log('FAIL setup\n     ' + String(e && e.stack || e).split('\n').join('\n     '));
} finally {
  rmSync(browserRoot, {recursive: true, force: true});
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
