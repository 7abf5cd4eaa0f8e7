// The flowrun dashboard: a hash-routed single page over the HTTP API (docs/api.md).
//
//   #/runs?flow=&status=   runs, filtered, refreshed every 2 s; cancel or rerun every match
//   #/failed?flow=         the failed runs (the dead-letter queue), with "Rerun all"
//   #/runs/{id}            one run: a waterfall of its attempts, steps, inputs and outputs,
//                          cancel and rerun
//   #/events               the event stream (followed by sequence number) and a test-event form
//   #/flows, #/flows/{id}  validation state, diagnostics, revisions and the graph as Mermaid text
//   #/outbox               mail kept by the built-in outbox
//
// Every value from the server is put in the page as text (textContent), never as markup. The
// server redacts secrets before they reach us. When the API answers 401 the page asks for a
// token, keeps it in sessionStorage and sends it as `Authorization: Bearer`.
'use strict';

(function () {
  const REFRESH_MS = 2000;
  const TOKEN_KEY = 'flowrun.token';
  const STATUSES = ['queued', 'running', 'sleeping', 'waiting', 'completed', 'failed', 'cancelled',
                    'skipped'];
  const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'skipped']);
  const EVENT_BUFFER = 200;

  // ---- DOM helpers ---------------------------------------------------------------------------

  // h('a', {href: '#/x', class: 'y'}, 'text', child): strings become text nodes, never markup.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith('on') && typeof value === 'function') {
        el.addEventListener(name.slice(2), value);
      } else if (value === true) {
        el.setAttribute(name, '');
      } else {
        el.setAttribute(name, String(value));
      }
    }
    append(el, children);
    return el;
  }

  function append(el, ...children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function replace(el, ...children) {
    el.replaceChildren();
    return append(el, children);
  }

  // Re-renders `container` with `render` and puts keyboard focus back on the same link or
  // <summary>, so live refresh does not throw a keyboard user out of the page.
  function preservingFocus(container, render) {
    const active = document.activeElement;
    const inside = active && container.contains(active);
    const href = inside && active.getAttribute('href');
    const details = inside && active.tagName === 'SUMMARY' && active.parentElement.dataset.key;
    render();
    let again = null;
    if (href) {
      again = [...container.querySelectorAll('a[href]')].find((a) => a.getAttribute('href') === href);
    } else if (details) {
      const d = [...container.querySelectorAll('details[data-key]')].find((x) => x.dataset.key === details);
      again = d && d.querySelector('summary');
    }
    if (again) again.focus({preventScroll: true});
  }

  function pretty(value) {
    if (value === undefined) return '';
    return JSON.stringify(value, null, 2);
  }

  function jsonBlock(value, label) {
    return h('pre', {class: 'json', tabindex: '0', 'aria-label': label}, pretty(value));
  }

  function statusBadge(status) {
    return h('span', {class: 'badge status-' + String(status).replace(/[^a-z_-]/g, '')}, status);
  }

  function formatTime(iso) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return d.toLocaleString(undefined, {
      year: 'numeric', month: 'short', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
  }

  function timeEl(iso) {
    if (!iso) return '—';
    return h('time', {datetime: iso, title: iso}, formatTime(iso));
  }

  function formatDuration(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
    if (ms < 1000) return Math.round(ms) + ' ms';
    const s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 2 : 1) + ' s';
    const m = Math.floor(s / 60);
    if (m < 60) return m + ' min ' + Math.round(s - m * 60) + ' s';
    const hours = Math.floor(m / 60);
    if (hours < 48) return hours + ' h ' + (m - hours * 60) + ' min';
    return Math.floor(hours / 24) + ' d ' + (hours % 24) + ' h';
  }

  // A run's duration: to its end, or "so far" while it is active.
  function runDuration(run) {
    const start = Date.parse(run.created_at);
    if (Number.isNaN(start)) return '—';
    if (run.ended_at) return formatDuration(Date.parse(run.ended_at) - start);
    if (TERMINAL.has(run.status)) return '—';
    return formatDuration(Date.now() - start) + ' so far';
  }

  function shortRevision(revision) {
    if (!revision) return '—';
    return revision.length > 12 ? revision.slice(0, 12) : revision;
  }

  function runLink(id) {
    return h('a', {href: '#/runs/' + encodeURIComponent(id), class: 'mono'}, id);
  }

  // Flow ids contain slashes; the API's {id*} spans segments, so each segment is encoded alone.
  function flowPath(id) {
    return String(id).split('/').map(encodeURIComponent).join('/');
  }

  function flowLink(id) {
    return h('a', {href: '#/flows/' + flowPath(id)}, id);
  }

  // ---- notices and the token prompt --------------------------------------------------------

  const notice = () => document.getElementById('notice');

  function showNotice(text, kind) {
    const el = notice();
    el.className = 'notice ' + (kind || 'error');
    el.textContent = text;
    el.hidden = false;
  }

  function clearNotice() {
    const el = notice();
    el.hidden = true;
    el.textContent = '';
  }

  class AuthRequired extends Error {}

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function showTokenPrompt(rejected) {
    const prompt = document.getElementById('token-prompt');
    const error = document.getElementById('token-error');
    if (rejected) {
      error.textContent = 'The server did not accept that token.';
      error.hidden = false;
    } else {
      error.hidden = true;
    }
    if (prompt.hidden) {
      prompt.hidden = false;
      document.getElementById('token-input').focus();
    }
  }

  function setupTokenForm() {
    document.getElementById('token-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = document.getElementById('token-input');
      const value = input.value.trim();
      if (!value) return;
      try {
        sessionStorage.setItem(TOKEN_KEY, value);
      } catch (err) {
        showNotice('This browser does not allow session storage; the token cannot be kept.');
        return;
      }
      input.value = '';
      document.getElementById('token-prompt').hidden = true;
      route();
    });
  }

  // ---- the API -----------------------------------------------------------------------------

  async function api(method, path, body) {
    const headers = {Accept: 'application/json'};
    const t = token();
    if (t) headers.Authorization = 'Bearer ' + t;
    const init = {method, headers, credentials: 'same-origin', cache: 'no-store'};
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, 'network', 'The server cannot be reached: ' + e.message);
    }
    if (response.status === 401) {
      showTokenPrompt(Boolean(t));
      throw new AuthRequired('an API token is required');
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (e) {
        throw new ApiError(response.status, 'bad_response', 'The server answered with non-JSON: ' +
            text.slice(0, 200));
      }
    }
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw new ApiError(response.status, err.code || 'error',
                         err.message || ('HTTP ' + response.status));
    }
    document.getElementById('token-prompt').hidden = true;
    return data;
  }

  function reportError(e) {
    if (e instanceof AuthRequired) return;
    showNotice(e instanceof ApiError ? e.message + ' (HTTP ' + e.status + ')' : String(e));
  }

  // ---- routing and refresh -----------------------------------------------------------------

  let refreshTimer = null;
  let generation = 0;  // bumps on every navigation; stale async work checks it and stops

  function stopRefresh() {
    if (refreshTimer !== null) clearTimeout(refreshTimer);
    refreshTimer = null;
  }

  // Runs `tick` now and every REFRESH_MS until the page changes. A tick that returns false stops.
  function every(tick) {
    const mine = generation;
    const loop = async () => {
      if (mine !== generation) return;
      let again = true;
      try {
        again = (await tick()) !== false;
      } catch (e) {
        reportError(e);
        if (e instanceof AuthRequired) again = false;
      }
      if (again && mine === generation) refreshTimer = setTimeout(loop, REFRESH_MS);
    };
    return loop();
  }

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const q = raw.indexOf('?');
    const path = q >= 0 ? raw.slice(0, q) : raw;
    const params = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : '');
    const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
    return {parts, params};
  }

  function route() {
    generation++;
    stopRefresh();
    clearNotice();
    const {parts, params} = parseHash();
    const section = parts[0] || 'runs';
    for (const a of document.querySelectorAll('nav a[data-section]')) {
      if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const main = document.getElementById('main');
    main.replaceChildren();
    const pages = {
      runs: () => (parts.length > 1 ? runDetailPage(main, parts.slice(1).join('/'))
                                    : runsPage(main, params)),
      failed: () => runsPage(main, params, {failedView: true}),
      events: () => eventsPage(main),
      flows: () => (parts.length > 1 ? flowDetailPage(main, parts.slice(1).join('/'))
                                     : flowsPage(main)),
      outbox: () => outboxPage(main),
    };
    const page = pages[section];
    if (!page) {
      append(main, h('h1', {}, 'Not found'),
             h('p', {}, 'There is no page here. ', h('a', {href: '#/runs'}, 'Go to runs.')));
      return;
    }
    Promise.resolve(page()).catch(reportError);
  }

  function focusHeading(main) {
    const heading = main.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({preventScroll: true});
    }
  }

  // ---- Runs --------------------------------------------------------------------------------

  // Pages through POST /v1/runs/{action} (cancel or rerun) with `filter` to the end; returns the
  // totals.
  async function bulk(action, filter) {
    const totals = {matched: 0, done: 0, skipped: 0, errors: []};
    const body = Object.assign({}, filter);
    for (let page = 0; page < 10000; page++) {
      const report = await api('POST', '/v1/runs/' + action, body);
      totals.matched += report.matched || 0;
      totals.done += report[action === 'cancel' ? 'cancelled' : 'rerun'] || 0;
      totals.skipped += report.skipped || 0;
      totals.errors.push(...(report.errors || []));
      if (typeof report.next_cursor !== 'string') break;
      body.cursor = report.next_cursor;
    }
    return totals;
  }

  // "Cancel all" and "Rerun all" for the runs a filter selects.
  function bulkActions(flow, status, failedView) {
    const message = h('p', {class: 'action-message', id: 'bulk-message', role: 'status',
                            'aria-live': 'polite'});
    const filter = {};
    if (flow) filter.flow = flow;
    if (status) filter.status = status;
    const run = async (button, action, verb) => {
      const what = (status || 'matching') + ' runs' + (flow ? ' of ' + flow : '');
      if (!window.confirm(verb + ' every one of the ' + what + '?')) return;
      button.disabled = true;
      message.textContent = verb + '…';
      try {
        const t = await bulk(action, filter);
        message.textContent = (action === 'cancel' ? 'Cancelled ' : 'Rerun ') + t.done + ' of ' +
            t.matched + ' runs' + (t.skipped ? ', ' + t.skipped + ' already finished' : '') +
            (t.errors.length ? ', ' + t.errors.length + ' errors (first: ' +
             t.errors[0].run_id + ': ' + t.errors[0].error + ')' : '') + '.';
      } catch (e) {
        message.textContent = '';
        reportError(e);
      } finally {
        button.disabled = false;
      }
    };
    const rerun = h('button', {type: 'button', id: 'bulk-rerun'},
                    failedView ? 'Rerun all failed' : 'Rerun all matching');
    rerun.addEventListener('click', () => run(rerun, 'rerun', 'Rerun'));
    const buttons = [rerun];
    // A bulk cancel needs a filter, and finished runs cannot be cancelled.
    if (!failedView && (flow || status) && !TERMINAL.has(status)) {
      const cancel = h('button', {type: 'button', id: 'bulk-cancel', class: 'danger'},
                       'Cancel all matching');
      cancel.addEventListener('click', () => run(cancel, 'cancel', 'Cancel'));
      buttons.unshift(cancel);
    }
    // Rerunning needs a status to rerun (the API's default is failed).
    if (!failedView && !status) buttons.pop();
    return [h('div', {class: 'actions', id: 'bulk-actions'}, buttons), message];
  }

  async function runsPage(main, params, view) {
    const failedView = Boolean(view && view.failedView);
    const flow = params.get('flow') || '';
    const status = failedView ? 'failed' : (params.get('status') || '');
    const section = failedView ? '#/failed' : '#/runs';
    document.title = (failedView ? 'Failed runs' : 'Runs') + ' · flowrun';

    const flowSelect = h('select', {id: 'filter-flow', name: 'flow'},
                         h('option', {value: ''}, 'All flows'));
    if (flow) flowSelect.append(h('option', {value: flow, selected: true}, flow));
    const statusSelect = h('select', {id: 'filter-status', name: 'status'},
                           h('option', {value: ''}, 'All statuses'),
                           STATUSES.map((s) => h('option', {value: s, selected: s === status}, s)));
    const applyFilters = () => {
      const q = new URLSearchParams();
      if (flowSelect.value) q.set('flow', flowSelect.value);
      if (statusSelect.value && !failedView) q.set('status', statusSelect.value);
      const qs = q.toString();
      location.hash = section + (qs ? '?' + qs : '');
    };
    flowSelect.addEventListener('change', applyFilters);
    statusSelect.addEventListener('change', applyFilters);
    const filters = h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter runs',
                               onsubmit: (e) => { e.preventDefault(); applyFilters(); }},
                      h('div', {class: 'field'}, h('label', {for: 'filter-flow'}, 'Flow'), flowSelect),
                      failedView ? null : h('div', {class: 'field'},
                        h('label', {for: 'filter-status'}, 'Status'), statusSelect));

    const updated = h('p', {class: 'muted small', id: 'runs-updated'}, 'Loading…');
    const tbody = h('tbody', {});
    const table = h('table', {class: 'data', id: 'runs-table'},
                    h('caption', {class: 'visually-hidden'}, 'Runs, newest first'),
                    h('thead', {}, h('tr', {},
                      ['Run', 'Flow', 'Status', 'Revision', 'Started', 'Duration'].map(
                          (c) => h('th', {scope: 'col'}, c)))),
                    tbody);
    const empty = h('p', {class: 'empty', hidden: true}, 'No runs match.');
    const intro = failedView
        ? 'Runs that failed for good: the dead-letter queue. Fix the cause, then rerun them.'
        : 'Refreshed every 2 s.';
    append(main, h('div', {class: 'page-head'}, h('h1', {}, failedView ? 'Failed runs' : 'Runs'),
                   h('p', {class: 'muted'}, intro)),
           filters, bulkActions(flow, status, failedView), updated,
           h('div', {class: 'table-wrap'}, table), empty);
    focusHeading(main);

    // The flow filter lists the flows the server knows, once per page load.
    api('GET', '/v1/flows').then((data) => {
      const ids = (data.flows || []).map((f) => f.id).sort();
      for (const id of ids) {
        if (id === flow) continue;
        flowSelect.append(h('option', {value: id}, id));
      }
    }).catch(reportError);

    const q = new URLSearchParams({limit: '100'});
    if (flow) q.set('flow', flow);
    if (status) q.set('status', status);
    await every(async () => {
      const data = await api('GET', '/v1/runs?' + q.toString());
      const runs = data.runs || [];
      preservingFocus(tbody, () => tbody.replaceChildren(...runs.map((run) => h('tr', {'data-run-id': run.id},
          h('td', {}, runLink(run.id)),
          h('td', {}, flowLink(run.flow)),
          h('td', {}, statusBadge(run.status),
            run.skip_reason ? h('span', {class: 'muted small skip-reason'}, ' ' + run.skip_reason)
                            : null),
          h('td', {class: 'mono', title: run.revision || ''}, shortRevision(run.revision)),
          h('td', {}, timeEl(run.created_at)),
          h('td', {}, runDuration(run))))));
      empty.hidden = runs.length > 0;
      table.hidden = runs.length === 0;
      updated.textContent = runs.length + (data.next_cursor ? '+' : '') + ' runs · updated ' +
          new Date().toLocaleTimeString();
      clearNotice();
    });
  }

  // ---- Run detail --------------------------------------------------------------------------

  async function runDetailPage(main, id) {
    document.title = 'Run ' + id + ' · flowrun';
    const heading = h('h1', {}, 'Run ', h('span', {class: 'mono'}, id));
    const statusSlot = h('span', {id: 'run-status'});
    const summary = h('dl', {class: 'summary'});
    const actionMessage = h('p', {class: 'action-message', role: 'status', 'aria-live': 'polite'});
    const cancelButton = h('button', {type: 'button', id: 'cancel-run', class: 'danger'}, 'Cancel run');
    const fromStep = h('select', {id: 'rerun-from', name: 'from_step'},
                       h('option', {value: ''}, 'the start'));
    const rerunButton = h('button', {type: 'button', id: 'rerun-run'}, 'Rerun');
    const actions = h('div', {class: 'actions'}, cancelButton,
                      h('span', {class: 'rerun'},
                        h('label', {for: 'rerun-from'}, 'Rerun from'), fromStep, rerunButton));
    const waterfall = h('figure', {class: 'waterfall', id: 'waterfall',
                                   'aria-labelledby': 'waterfall-title'});
    const timeline = h('ol', {class: 'timeline', id: 'steps', 'aria-label': 'Steps'});
    const emptySteps = h('p', {class: 'empty', hidden: true}, 'No steps have run yet.');
    const runData = h('div', {class: 'run-data'});
    const journal = h('div', {});

    append(main, h('p', {class: 'crumbs'}, h('a', {href: '#/runs'}, '← Runs')),
           h('div', {class: 'page-head'}, heading, statusSlot),
           actions, actionMessage, summary,
           h('h2', {id: 'waterfall-title'}, 'Waterfall'), waterfall,
           h('h2', {}, 'Steps'), timeline, emptySteps, runData, journal);
    focusHeading(main);

    let current = null;
    const path = '/v1/runs/' + encodeURIComponent(id);

    cancelButton.addEventListener('click', async () => {
      if (!confirmAction('Cancel run ' + id + '?')) return;
      cancelButton.disabled = true;
      actionMessage.textContent = 'Cancelling…';
      try {
        await api('POST', path + '/cancel');
        actionMessage.textContent = 'Cancel requested.';
        await load();
      } catch (e) {
        actionMessage.textContent = '';
        reportError(e);
        cancelButton.disabled = false;
      }
    });

    rerunButton.addEventListener('click', async () => {
      rerunButton.disabled = true;
      actionMessage.textContent = 'Starting a rerun…';
      try {
        const body = fromStep.value ? {from_step: fromStep.value} : undefined;
        const result = await api('POST', path + '/rerun', body);
        actionMessage.textContent = 'Rerun started: ' + result.run_id;
        location.hash = '#/runs/' + encodeURIComponent(result.run_id);
      } catch (e) {
        actionMessage.textContent = '';
        reportError(e);
      } finally {
        rerunButton.disabled = false;
      }
    });

    const load = async () => {
      const run = await api('GET', path);
      current = run;
      render(run);
      return !TERMINAL.has(run.status);
    };

    const render = (run) => {
      replace(statusSlot, statusBadge(run.status));
      cancelButton.disabled = TERMINAL.has(run.status) || run.cancel_requested;
      const rows = [
        ['Flow', flowLink(run.flow)],
        ['Revision', h('span', {class: 'mono'}, run.revision || '—')],
        ['Started', timeEl(run.created_at)],
        ['Updated', timeEl(run.updated_at)],
        ['Ended', timeEl(run.ended_at)],
        ['Duration', runDuration(run)],
      ];
      if (run.due_at) rows.push(['Due', timeEl(run.due_at)]);
      if (run.deadline) rows.push(['Deadline', timeEl(run.deadline)]);
      if (run.trigger_event_id) rows.push(['Trigger event', h('span', {class: 'mono'}, run.trigger_event_id)]);
      if (run.parent_run_id) rows.push(['Parent run', runLink(run.parent_run_id)]);
      if (run.concurrency_key) rows.push(['Concurrency key', run.concurrency_key]);
      if (run.idempotency_key) rows.push(['Idempotency key', run.idempotency_key]);
      if (run.cancel_requested && !TERMINAL.has(run.status)) rows.push(['Cancel', 'requested']);
      replace(summary, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));

      const steps = run.steps || [];
      const chosen = fromStep.value;
      replace(fromStep, h('option', {value: ''}, 'the start'),
              steps.map((s) => h('option', {value: s.key, selected: s.key === chosen},
                                 'step ' + s.key)));
      // Keep open <details> open across refreshes.
      const open = new Set([...timeline.querySelectorAll('details[open]')].map((d) => d.dataset.key));
      preservingFocus(timeline, () => replace(timeline, steps.map((step) => stepItem(step, open, TERMINAL.has(run.status)))));
      emptySteps.hidden = steps.length > 0;
      preservingFocus(waterfall, () => replace(waterfall, renderWaterfall(run, waterfall.clientWidth)));

      const blocks = [h('h2', {}, 'Event'), jsonBlock(run.event, 'Trigger event')];
      if (run.output !== null && run.output !== undefined) {
        blocks.push(h('h2', {}, 'Output'), jsonBlock(run.output, 'Run output'));
      }
      if (run.error !== null && run.error !== undefined) {
        blocks.push(h('h2', {}, 'Error'), h('div', {class: 'error-box'}, jsonBlock(run.error, 'Run error')));
      }
      replace(runData, blocks);

      const wasOpen = journal.querySelector('details') && journal.querySelector('details').open;
      replace(journal, h('details', {class: 'journal', open: wasOpen},
                         h('summary', {}, 'Journal (' + (run.journal || []).length + ' entries)'),
                         jsonBlock(run.journal || [], 'Journal')));
    };

    await every(load);
    return current;
  }

  // ---- Run detail: the waterfall ----------------------------------------------------------

  const SVG_NS = 'http://www.w3.org/2000/svg';

  // svg('rect', {x: 1}, child…): an SVG element; strings become text nodes, never markup.
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      el.setAttribute(name, String(value));
    }
    append(el, children);
    return el;
  }

  function isoMillis(iso) {
    const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
    return Number.isNaN(t) ? null : t;
  }

  function epochMillis(value) {
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  }

  const WATERFALL_ROWS = 300;
  const OPEN_STATUS = {sleep: 'sleeping', wait: 'waiting', invoke: 'invoking'};

  // The bars of a run's waterfall, read from its journal (docs/api.md, "The waterfall"):
  // - an action attempt spans its `started_at` (when it was sent) to its entry's `at` (when its
  //   result was recorded). A journal written before `started_at` existed gives no start: the
  //   previous attempt's `retry_at` or the run's previous entry stands in, marked estimated;
  // - a sleep, wait or invoke spans its `started` entry to its completion, or stays open;
  // - any other step (set, log, return, a skipped step, a finished control step) is an instant.
  // A bar: {key, attempt, kind, status, start, end, open, estimated, retryAt}, times in ms.
  function waterfallBars(run) {
    const bars = [];
    const open = new Map();       // step key -> its open sleep, wait or invoke bar
    const lastRetry = new Map();  // step key -> retry_at of its last failed attempt
    const failed = new Map();     // step key -> failed attempts seen
    let previousAt = isoMillis(run.created_at);
    for (const entry of run.journal || []) {
      const at = isoMillis(entry.at);
      if (at === null) continue;
      const data = entry.data && typeof entry.data === 'object' ? entry.data : {};
      const key = String(entry.step);
      const sent = () => {
        const start = epochMillis(data.started_at);
        if (start !== null) return {start, estimated: false};
        const guess = lastRetry.has(key) ? lastRetry.get(key) : previousAt;
        return {start: Math.min(guess === null ? at : guess, at), estimated: true};
      };
      if (entry.kind === 'started') {
        const kind = 'wake_at' in data ? 'sleep' : 'wait_id' in data ? 'wait'
            : 'child' in data ? 'invoke' : 'step';
        const bar = {key, attempt: 1, kind, status: OPEN_STATUS[kind] || 'running', start: at,
                     end: null, open: true, estimated: false, retryAt: null};
        bars.push(bar);
        open.set(key, bar);
      } else if (entry.kind === 'attempt') {
        const n = (failed.get(key) || 0) + 1;
        failed.set(key, n);
        const retryAt = epochMillis(data.retry_at);
        bars.push({key, attempt: Number.isInteger(data.attempt) ? data.attempt : n, kind: 'action',
                   status: 'failed', start: 0, end: at, open: false, retryAt, ...sent()});
        if (retryAt !== null) lastRetry.set(key, retryAt);
      } else if (entry.kind === 'completed') {
        const status = typeof data.status === 'string' ? data.status : 'completed';
        const bar = open.get(key);
        if (bar) {
          bar.end = at;
          bar.open = false;
          bar.status = status;
          open.delete(key);
        } else if (epochMillis(data.started_at) !== null || failed.has(key)) {
          bars.push({key, attempt: Number.isInteger(data.attempts) ? data.attempts : (failed.get(key) || 0) + 1,
                     kind: 'action', status, start: 0, end: at, open: false, retryAt: null, ...sent()});
        } else {
          bars.push({key, attempt: 1, kind: 'instant', status, start: at, end: at, open: false,
                     estimated: false, retryAt: null});
        }
      }
      previousAt = at;
    }
    return bars;
  }

  // A tick step of 1, 2 or 5 × 10^k ms giving at most `count` ticks over `span` ms.
  function tickStep(span, count) {
    const raw = Math.max(span / count, 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) {
      if (m * power >= raw) return m * power;
    }
    return 10 * power;
  }

  function attemptLabel(bar, t0) {
    const what = bar.kind === 'sleep' || bar.kind === 'wait' || bar.kind === 'invoke'
        ? bar.kind : bar.kind === 'instant' ? 'step' : 'attempt ' + bar.attempt;
    const duration = bar.kind === 'instant' ? 'instant'
        : formatDuration(bar.end - bar.start) + (bar.open ? ' so far' : '');
    return bar.key + ' · ' + what + ' · ' + bar.status + ' · ' + duration +
        ' · from +' + formatDuration(bar.start - t0) +
        (bar.estimated ? ' · start not recorded, estimated' : '') +
        (bar.retryAt !== null ? ' · retry due at +' + formatDuration(bar.retryAt - t0) : '');
  }

  // The waterfall of a run as SVG: a row per step (ordered by first start), a bar per attempt on
  // the run's time axis (0 = the run's creation). Every bar is focusable and titled.
  function renderWaterfall(run, availableWidth) {
    const bars = waterfallBars(run);
    if (bars.length === 0) return h('p', {class: 'empty'}, 'Nothing has run yet.');
    const runStart = isoMillis(run.created_at);
    const runEnd = isoMillis(run.ended_at);
    const ended = TERMINAL.has(run.status);
    const openEnd = ended && runEnd !== null ? runEnd : Date.now();
    for (const bar of bars) {
      if (bar.open) {
        bar.end = Math.max(bar.start, openEnd);
        if (ended) bar.status = 'stopped';
      }
    }
    let t0 = runStart === null ? Infinity : runStart;
    let t1 = runEnd === null ? -Infinity : runEnd;
    for (const bar of bars) {
      t0 = Math.min(t0, bar.start);
      t1 = Math.max(t1, bar.end, bar.retryAt === null ? -Infinity : bar.retryAt);
    }
    const span = Math.max(t1 - t0, 1);

    // A row per step key, ordered by first start; a huge foreach shows its first WATERFALL_ROWS.
    const rows = [];
    const rowOf = new Map();
    let hidden = 0;
    for (const bar of bars.slice().sort((a, b) => a.start - b.start)) {
      if (rowOf.has(bar.key)) continue;
      if (rows.length >= WATERFALL_ROWS) {
        hidden++;
        rowOf.set(bar.key, -1);
        continue;
      }
      rowOf.set(bar.key, rows.length);
      rows.push(bar.key);
    }

    const width = Math.max(520, Math.round(availableWidth || 960));
    const labelWidth = Math.min(230, Math.round(width * 0.28));
    const x0 = labelWidth + 10;
    const chartWidth = width - x0 - 16;
    const axisHeight = 26;
    const rowHeight = 26;
    const height = axisHeight + rows.length * rowHeight + 8;
    const x = (t) => x0 + ((t - t0) / span) * chartWidth;

    const ticks = [];
    const step = tickStep(span, Math.max(2, Math.floor(chartWidth / 110)));
    for (let t = 0; t <= span + 0.5; t += step) {
      ticks.push(svg('g', {class: 'wf-tick'},
                     svg('line', {x1: x(t0 + t), x2: x(t0 + t), y1: axisHeight - 6, y2: height}),
                     svg('text', {x: x(t0 + t), y: axisHeight - 10, 'text-anchor': 'middle'},
                         '+' + formatDuration(t))));
    }
    const rowBands = rows.map((key, i) => svg('g', {class: 'wf-row', 'data-step': key},
        svg('rect', {class: 'wf-band' + (i % 2 ? ' odd' : ''), x: 0, y: axisHeight + i * rowHeight,
                     width, height: rowHeight}),
        svg('text', {class: 'wf-label', x: labelWidth, y: axisHeight + i * rowHeight + rowHeight / 2,
                     'text-anchor': 'end', 'dominant-baseline': 'central'},
            svg('title', {}, key), key.length > 30 ? key.slice(0, 29) + '…' : key)));

    const marks = [];
    for (const bar of bars) {
      const row = rowOf.get(bar.key);
      if (row < 0) continue;
      const y = axisHeight + row * rowHeight + 6;
      const barHeight = rowHeight - 12;
      const left = x(bar.start);
      const barWidth = Math.max(bar.kind === 'instant' ? 4 : 3, x(bar.end) - left);
      const label = attemptLabel(bar, t0);
      const status = String(bar.status).replace(/[^a-z_-]/g, '');
      if (bar.retryAt !== null && bar.retryAt > bar.end) {
        marks.push(svg('line', {class: 'wf-backoff', x1: x(bar.end), x2: x(bar.retryAt),
                                y1: y + barHeight / 2, y2: y + barHeight / 2,
                                'stroke-dasharray': '4 3'}));
      }
      marks.push(svg('g', {class: 'wf-bar wf-' + bar.kind + ' status-' + status +
                               (bar.estimated ? ' estimated' : '') + (bar.open ? ' open' : ''),
                           tabindex: '0', role: 'img', 'aria-label': label,
                           'data-step': bar.key, 'data-attempt': bar.attempt,
                           'data-status': bar.status, 'data-kind': bar.kind,
                           'data-start-ms': Math.round(bar.start - t0),
                           'data-end-ms': Math.round(bar.end - t0)},
                     svg('title', {}, label),
                     svg('rect', {x: left, y, width: barWidth, height: barHeight, rx: 2})));
    }
    return [
      svg('svg', {class: 'wf-chart', viewBox: '0 0 ' + width + ' ' + height, width: '100%',
                  preserveAspectRatio: 'xMinYMin meet', role: 'group',
                  'aria-label': 'Attempts of ' + rows.length + ' steps over ' + formatDuration(span)},
          rowBands, ticks, marks),
      hidden > 0 ? h('p', {class: 'muted small'}, hidden + ' more steps are not drawn; the list below has them all.') : null,
      h('figcaption', {class: 'muted small'},
        'One bar per attempt on the run\'s time axis (+0 is when the run was created); hover or ' +
        'focus a bar for its step, attempt, status and duration. ',
        h('span', {class: 'wf-key wf-key-ok'}, 'completed'),
        h('span', {class: 'wf-key wf-key-failed'}, 'failed attempt'),
        h('span', {class: 'wf-key wf-key-wait'}, 'sleep or wait'),
        h('span', {class: 'wf-key wf-key-backoff'}, 'backoff before a retry')),
    ];
  }

  function confirmAction(text) {
    // A plain confirm keeps the keyboard path simple; automated browsers accept it.
    return window.confirm(text);
  }

  // runEnded: the run is over, so a step without an end will not finish.
  function stepItem(step, open, runEnded) {
    const unfinished = !step.ended_at && ['running', 'retrying', 'sleeping', 'waiting', 'invoking']
        .includes(step.status);
    const shownStatus = runEnded && unfinished ? 'stopped' : step.status;
    const meta = h('p', {class: 'step-meta'},
                   'started ', timeEl(step.started_at),
                   ' · ', step.duration_ms === null || step.duration_ms === undefined
                       ? (unfinished ? (runEnded ? 'stopped while ' + step.status : 'in progress') : '—')
                       : formatDuration(step.duration_ms),
                   ' · ', (step.attempt_count || 1) + ' attempt' + ((step.attempt_count || 1) === 1 ? '' : 's'));
    const parts = [];
    const section = (key, label, value, cls) => {
      const details = h('details', {'data-key': step.key + ':' + key, open: open.has(step.key + ':' + key)},
                        h('summary', {}, label), jsonBlock(value, step.key + ' ' + label));
      return cls ? h('div', {class: cls}, details) : details;
    };
    if (step.input !== null && step.input !== undefined) parts.push(section('input', 'Input', step.input));
    if (step.output !== null && step.output !== undefined) parts.push(section('output', 'Output', step.output));
    if (step.started) parts.push(section('started', 'Started with', step.started));
    if (step.error !== null && step.error !== undefined) {
      parts.push(h('div', {class: 'error-box'}, h('strong', {}, 'Error'),
                   jsonBlock(step.error, step.key + ' error')));
    }
    if ((step.attempts || []).length > 0) {
      parts.push(h('div', {class: 'attempts'}, h('h4', {}, 'Failed attempts'),
                   h('ol', {}, step.attempts.map((a, i) => h('li', {},
                       h('span', {class: 'muted'}, 'attempt ' + (i + 1) + ': '),
                       jsonBlock(a, step.key + ' attempt ' + (i + 1)))))));
    }
    return h('li', {class: 'step status-' + String(shownStatus).replace(/[^a-z_-]/g, ''),
                    'data-step': step.key},
             h('div', {class: 'step-head'}, h('h3', {}, step.key), statusBadge(shownStatus)),
             meta, parts);
  }

  // ---- Events ------------------------------------------------------------------------------

  async function eventsPage(main) {
    document.title = 'Events · flowrun';
    const nameInput = h('input', {id: 'event-name', name: 'name', required: true,
                                  placeholder: 'app/user.created', autocomplete: 'off'});
    const dataInput = h('textarea', {id: 'event-data', name: 'data', rows: '5', spellcheck: 'false',
                                     'aria-describedby': 'event-data-help'}, '{}');
    const result = h('p', {class: 'action-message', role: 'status', 'aria-live': 'polite'});
    const form = h('form', {class: 'send-event', id: 'send-event'},
                   h('h2', {}, 'Send a test event'),
                   h('div', {class: 'field'}, h('label', {for: 'event-name'}, 'Event name'), nameInput),
                   h('div', {class: 'field'}, h('label', {for: 'event-data'}, 'Data (JSON object)'),
                     dataInput,
                     h('p', {id: 'event-data-help', class: 'muted small'},
                       'Sent to POST /v1/events as {"name": …, "data": …}.')),
                   h('button', {type: 'submit'}, 'Send event'), result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      let data;
      try {
        data = JSON.parse(dataInput.value || '{}');
      } catch (err) {
        result.textContent = 'The data is not valid JSON: ' + err.message;
        result.className = 'action-message error-text';
        dataInput.focus();
        return;
      }
      if (data === null || typeof data !== 'object' || Array.isArray(data)) {
        result.textContent = 'The data must be a JSON object.';
        result.className = 'action-message error-text';
        return;
      }
      try {
        const answer = await api('POST', '/v1/events', {name: nameInput.value.trim(), data});
        result.className = 'action-message';
        result.textContent = 'Sent: ' + (answer.ids || []).join(', ');
      } catch (err) {
        result.className = 'action-message error-text';
        result.textContent = err instanceof ApiError ? err.message : 'Not sent.';
        reportError(err);
      }
    });

    const tbody = h('tbody', {});
    const status = h('p', {class: 'muted small'}, 'Loading…');
    const table = h('table', {class: 'data', id: 'events-table'},
                    h('caption', {class: 'visually-hidden'}, 'Recent events, newest first'),
                    h('thead', {}, h('tr', {}, ['Seq', 'Name', 'Received', 'ID', 'Data'].map(
                        (c) => h('th', {scope: 'col'}, c)))), tbody);
    append(main, h('div', {class: 'page-head'}, h('h1', {}, 'Events'),
                   h('p', {class: 'muted'}, 'The newest ' + EVENT_BUFFER + ', followed live.')),
           h('div', {class: 'columns'},
             h('section', {'aria-label': 'Event stream', class: 'grow'}, status,
               h('div', {class: 'table-wrap'}, table)),
             form));
    focusHeading(main);

    // Follows the log by sequence number: each tick asks for what came after the last seen event.
    let events = [];
    let after = 0;
    await every(async () => {
      for (let page = 0; page < 20; page++) {
        const data = await api('GET', '/v1/events?limit=1000&cursor=' + after);
        const got = data.events || [];
        if (got.length === 0) break;
        after = got[got.length - 1].seq;
        events = events.concat(got).slice(-EVENT_BUFFER);
        if (!data.next_cursor) break;
      }
      tbody.replaceChildren(...events.slice().reverse().map((ev) => h('tr', {},
          h('td', {class: 'mono'}, ev.seq),
          h('td', {}, ev.name),
          h('td', {}, timeEl(ev.ts)),
          h('td', {class: 'mono small'}, ev.id),
          h('td', {}, h('code', {class: 'inline-json'}, JSON.stringify(ev.data))))));
      status.textContent = events.length + ' events shown · updated ' + new Date().toLocaleTimeString();
    });
  }

  // ---- Flows -------------------------------------------------------------------------------

  async function flowsPage(main) {
    document.title = 'Flows · flowrun';
    append(main, h('div', {class: 'page-head'}, h('h1', {}, 'Flows')));
    focusHeading(main);
    const body = h('div', {});
    main.append(body);
    await every(async () => {
      const data = await api('GET', '/v1/flows');
      const flows = data.flows || [];
      const parts = [h('p', {class: 'muted small'}, 'From ', h('code', {}, data.flows_dir || '?'),
                       ' · loaded ', timeEl(data.loaded_at), ' · generation ', String(data.generation))];
      for (const message of data.path_errors || []) {
        parts.push(h('p', {class: 'error-text'}, message));
      }
      if (flows.length === 0) parts.push(h('p', {class: 'empty'}, 'No flows are loaded.'));
      else {
        const rows = flows.map((f) => h('tr', {},
            h('td', {}, flowLink(f.id)),
            h('td', {}, validity(f), (f.errors || []).length
                ? h('ul', {class: 'errors'}, f.errors.map((m) => h('li', {}, m))) : null),
            h('td', {class: 'mono', title: f.revision || ''}, shortRevision(f.revision)),
            h('td', {}, triggerList(f.triggers)),
            h('td', {}, f.description || '')));
        const head = h('thead', {}, h('tr', {},
            ['Flow', 'State', 'Revision', 'Triggers', 'Description'].map(
                (c) => h('th', {scope: 'col'}, c))));
        parts.push(h('div', {class: 'table-wrap'},
                     h('table', {class: 'data', id: 'flows-table'},
                       h('caption', {class: 'visually-hidden'}, 'Flows'), head,
                       h('tbody', {}, rows))));
      }
      const invalid = data.invalid_files || [];
      if (invalid.length > 0) {
        parts.push(h('h2', {}, 'Files that do not load'),
                   h('ul', {class: 'invalid-files'}, invalid.map((file) => h('li', {},
                       h('code', {}, file.path), file.flow_id ? [' (', file.flow_id, ')'] : null,
                       h('ul', {class: 'errors'}, (file.messages || []).map((m) => h('li', {}, h('pre', {class: 'diag'}, m))))))));
      }
      replace(body, parts);
    });
  }

  function validity(flow) {
    if (flow.retired) return h('span', {class: 'badge status-cancelled'}, 'retired');
    if (!flow.valid) return h('span', {class: 'badge status-failed'}, 'invalid — serving last good revision');
    if (flow.missing_secrets && flow.missing_secrets.length > 0) {
      return h('span', {class: 'badge status-failed', title: 'Set the secrets and reload the flows'},
               'not ready — secret not set: ' + flow.missing_secrets.join(', '));
    }
    return h('span', {class: 'badge status-completed'}, 'valid');
  }

  function triggerList(triggers) {
    if (!triggers || triggers.length === 0) return '—';
    return h('ul', {class: 'plain'}, triggers.map((t) => {
      if (t && typeof t === 'object') {
        if (t.event) return h('li', {}, 'event ', h('code', {}, t.event));
        if (t.cron) return h('li', {}, 'cron ', h('code', {}, t.cron));
        if (t.webhook) return h('li', {}, 'webhook ', h('code', {}, t.webhook));
      }
      return h('li', {}, h('code', {}, JSON.stringify(t)));
    }));
  }

  async function flowDetailPage(main, id) {
    document.title = 'Flow ' + id + ' · flowrun';
    append(main, h('p', {class: 'crumbs'}, h('a', {href: '#/flows'}, '← Flows')),
           h('div', {class: 'page-head'}, h('h1', {}, 'Flow ', h('span', {class: 'mono'}, id))));
    focusHeading(main);
    const body = h('div', {});
    main.append(body);
    const flow = await api('GET', '/v1/flows/' + flowPath(id));
    const parts = [
      h('dl', {class: 'summary'},
        h('dt', {}, 'State'), h('dd', {}, validity(flow)),
        h('dt', {}, 'Revision'), h('dd', {class: 'mono'}, flow.revision || '—'),
        h('dt', {}, 'Source'), h('dd', {}, h('code', {}, flow.source_path || '—')),
        h('dt', {}, 'Updated'), h('dd', {}, timeEl(flow.updated_at)),
        h('dt', {}, 'Triggers'), h('dd', {}, triggerList(flow.triggers)),
        h('dt', {}, 'Runs'), h('dd', {}, h('a', {href: '#/runs?flow=' + encodeURIComponent(flow.id)}, 'runs of this flow'))),
    ];
    if (flow.description) parts.push(h('p', {}, flow.description));
    if ((flow.errors || []).length > 0) {
      parts.push(h('div', {class: 'error-box'}, h('strong', {}, 'Errors'),
                   h('ul', {}, flow.errors.map((m) => h('li', {}, h('pre', {class: 'diag'}, m))))));
    }

    parts.push(h('h2', {}, 'Files and diagnostics'));
    const files = flow.files || [];
    if (files.length === 0) parts.push(h('p', {class: 'empty'}, 'No file status.'));
    for (const file of files) {
      const diagnostics = file.diagnostics || [];
      parts.push(h('section', {class: 'file'},
          h('h3', {}, h('code', {}, file.path), ' ',
            file.valid ? h('span', {class: 'badge status-completed'}, 'valid')
                       : h('span', {class: 'badge status-failed'}, 'invalid')),
          diagnostics.length === 0 && (file.messages || []).length === 0
              ? h('p', {class: 'muted'}, 'No diagnostics.') : null,
          diagnostics.length ? h('ul', {class: 'diagnostics'}, diagnostics.map((d) => h('li', {class: 'diag-' + d.severity},
              h('code', {}, file.path + ':' + d.line + ':' + d.column), ' ',
              h('strong', {}, d.severity + ':'), ' ', d.message, d.rule ? ' [' + d.rule + ']' : '',
              d.hint ? h('div', {class: 'muted'}, d.hint) : null))) : null,
          (file.messages || []).length && !diagnostics.length
              ? h('pre', {class: 'diag'}, file.messages.join('\n')) : null));
    }

    parts.push(h('h2', {}, 'Revisions'));
    const revisions = (flow.revisions || []).slice().reverse();
    parts.push(revisions.length === 0 ? h('p', {class: 'empty'}, 'No stored revisions.')
        : h('div', {class: 'table-wrap'}, h('table', {class: 'data', id: 'revisions-table'},
            h('caption', {class: 'visually-hidden'}, 'Revisions, newest first'),
            h('thead', {}, h('tr', {}, ['Revision', 'Created', ''].map((c) => h('th', {scope: 'col'}, c)))),
            h('tbody', {}, revisions.map((r) => h('tr', {},
                h('td', {class: 'mono'}, r.revision), h('td', {}, timeEl(r.created_at)),
                h('td', {}, r.current ? h('span', {class: 'badge status-running'}, 'current') : '')))))));

    parts.push(h('h2', {}, 'Graph (Mermaid)'));
    parts.push(flow.graph && flow.graph.mermaid
        ? h('pre', {class: 'mermaid-text', id: 'flow-graph', tabindex: '0', 'aria-label': 'Flow graph in Mermaid syntax'},
            flow.graph.mermaid)
        : h('p', {class: 'empty'}, 'No graph: the flow has no valid revision.'));

    parts.push(invokeForm(flow));
    if (flow.document) {
      parts.push(h('details', {}, h('summary', {}, 'Compiled document (current revision)'),
                   jsonBlock(flow.document, 'Flow document')));
    }
    replace(body, parts);
  }

  function invokeForm(flow) {
    const dataInput = h('textarea', {id: 'invoke-data', rows: '4', spellcheck: 'false'}, '{}');
    const result = h('p', {class: 'action-message', role: 'status', 'aria-live': 'polite'});
    const form = h('form', {class: 'invoke'},
                   h('h2', {}, 'Invoke by hand'),
                   h('div', {class: 'field'}, h('label', {for: 'invoke-data'}, 'Event data (JSON object)'), dataInput),
                   h('button', {type: 'submit', disabled: flow.retired}, 'Start a run'), result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      let data;
      try {
        data = JSON.parse(dataInput.value || '{}');
      } catch (err) {
        result.textContent = 'The data is not valid JSON: ' + err.message;
        return;
      }
      try {
        const answer = await api('POST', '/v1/flows/' + flowPath(flow.id) + '/invoke', {data});
        location.hash = '#/runs/' + encodeURIComponent(answer.run_id);
      } catch (err) {
        result.textContent = err instanceof ApiError ? err.message : 'Not started.';
      }
    });
    return form;
  }

  // ---- Outbox ------------------------------------------------------------------------------

  async function outboxPage(main) {
    document.title = 'Outbox · flowrun';
    append(main, h('div', {class: 'page-head'}, h('h1', {}, 'Outbox'),
                   h('p', {class: 'muted'}, 'Mail that email steps sent while no SMTP server is configured.')));
    focusHeading(main);
    const body = h('div', {});
    main.append(body);
    const open = new Set();
    await every(async () => {
      const data = await api('GET', '/v1/outbox?limit=100');
      const messages = data.messages || [];
      for (const d of body.querySelectorAll('details[open]')) open.add(d.dataset.key);
      for (const d of body.querySelectorAll('details:not([open])')) open.delete(d.dataset.key);
      if (messages.length === 0) {
        replace(body, h('p', {class: 'empty'}, 'The outbox is empty.'));
        return;
      }
      replace(body, h('ul', {class: 'mail-list', id: 'outbox'}, messages.map((m) => h('li', {class: 'mail'},
          h('div', {class: 'mail-head'},
            h('h2', {class: 'mail-subject'}, m.subject || '(no subject)'),
            timeEl(m.created_at)),
          h('dl', {class: 'summary compact'},
            h('dt', {}, 'From'), h('dd', {}, m.from || '—'),
            h('dt', {}, 'To'), h('dd', {}, (m.recipients || []).join(', ') || '—'),
            h('dt', {}, 'Run'), h('dd', {}, m.run_id ? runLink(m.run_id) : '—',
                                  m.step_key ? [' · step ', h('code', {}, m.step_key)] : null),
            h('dt', {}, 'Message-ID'), h('dd', {class: 'mono small'}, m.message_id || '—')),
          h('details', {'data-key': m.message_id, open: open.has(m.message_id)},
            h('summary', {}, 'Raw message'),
            h('pre', {class: 'mime', tabindex: '0', 'aria-label': 'Raw MIME message'}, m.mime || ''))))));
    });
  }

  // ---- start -------------------------------------------------------------------------------

  document.addEventListener('DOMContentLoaded', () => {
    setupTokenForm();
    window.addEventListener('hashchange', route);
    route();
  });
})();
