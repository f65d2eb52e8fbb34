// The dashboard's pages. Each is mount(main, app) → {refresh, onChanges,
// unmount}: it draws itself into main, reads again on refresh (the live
// stream asks after a resync, and every few seconds while polling), and
// takes the task changes the stream brings.

import { api } from './api.js';
import { lineChart } from './charts.js';
import {
  ago, announce, bytes, duration, h, pretty, progressBar, replace, scroller, shortID,
  sizeBars, statusBadge, statuses, table, timeEl, when,
} from './dom.js';

// throttle runs fn at most once every ms, the last call never lost.
function throttle(fn, ms) {
  let timer = null;
  let again = false;
  return () => {
    if (timer) { again = true; return; }
    fn();
    timer = setTimeout(function tick() {
      if (again) { again = false; fn(); timer = setTimeout(tick, ms); } else timer = null;
    }, ms);
  };
}

// every calls fn every ms until stopped, skipping while the page is
// paused or hidden.
function every(app, ms, fn) {
  const id = setInterval(() => { if (!app.live.paused && !document.hidden) fn(); }, ms);
  return () => clearInterval(id);
}

function errorBox(err) {
  return h('p', { class: 'error', role: 'alert' }, `Could not read from the host: ${err.message}`);
}

function section(title, id, ...children) {
  return h('section', { 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function taskLink(app, id, text) {
  return h('a', { href: `/ui/tasks/${encodeURIComponent(id)}`, 'data-route': true, class: 'mono', title: id }, text || shortID(id));
}

// --- Overview ---------------------------------------------------------

export function overview(main, app) {
  const counts = h('div', { id: 'counts' }, h('p', { class: 'muted' }, 'Counting…'));
  const workers = h('div', { id: 'workers' });
  const charts = h('div', { id: 'charts', class: 'charts' });
  const nodes = h('div', { id: 'nodes' });
  replace(main,
    h('h1', {}, 'Overview'),
    section('Tasks by type and status', 'counts-h', counts),
    section('Workers', 'workers-h', workers),
    section('Last 15 minutes', 'activity-h', charts),
    app.cluster ? section('Nodes', 'nodes-h', nodes) : null);

  async function loadCounts() {
    try {
      const c = await api('/v1/counts');
      replace(counts, countsTable(c), h('p', { class: 'muted small' },
        `Counted at ${when(c.asOf)} in ${c.tookMs} ms; the count is at most a few seconds old.`));
    } catch (e) { replace(counts, errorBox(e)); }
  }
  async function loadWorkers() {
    try {
      const { handlers } = await api('/v1/handlers');
      let alive = 0;
      let busy = 0;
      const rows = handlers.map((hd) => {
        alive += hd.pool.alive;
        busy += hd.pool.busy;
        return h('tr', {},
          h('th', { scope: 'row' }, h('a', { href: `/ui/handlers#handler-${hd.type}`, 'data-route': true }, hd.type)),
          h('td', { class: 'num' }, hd.pool.alive), h('td', { class: 'num' }, hd.pool.busy),
          h('td', { class: 'num' }, hd.pool.idle), h('td', { class: 'num' }, hd.pool.maxWorkers),
          h('td', { class: 'num' }, hd.pool.waiting));
      });
      replace(workers,
        h('p', { class: 'big', id: 'workers-total' }, `${alive} alive, ${busy} busy`),
        handlers.length ? scroller('Workers by handler', table('Workers by handler',
          ['Handler', 'Alive', 'Busy', 'Idle', 'Max', 'Waiting calls'], rows)) : h('p', { class: 'muted' }, 'No handler is registered.'));
    } catch (e) { replace(workers, errorBox(e)); }
  }
  async function loadActivity() {
    try {
      const a = await api('/v1/activity');
      const f = a.finished;
      const other = f.requeued.map((v, i) => v + f.lost[i]);
      const sum = (xs) => xs.reduce((x, y) => x + y, 0);
      const started = sum(a.started);
      let waitSum = 0;
      a.waitAvgMs.forEach((w, i) => { waitSum += w * a.started[i]; });
      const longest = Math.max(0, ...a.waitMaxMs);
      const peak = Math.max(0, ...f.success.map((v, i) => v + f.retry[i] + f.failed[i] + f.cancelled[i] + other[i]));
      replace(charts,
        lineChart({
          title: 'Tasks finished per second, by outcome',
          unit: '/s',
          series: [
            { name: 'success', cls: 's-success', values: f.success },
            { name: 'failed', cls: 's-failed', values: f.failed },
            { name: 'retry', cls: 's-retry', values: f.retry },
            { name: 'cancelled', cls: 's-cancelled', values: f.cancelled },
            { name: 'requeued or lost', cls: 's-other', values: other },
          ],
          summary: `${sum(f.success)} succeeded, ${sum(f.failed)} failed, ${sum(f.retry)} failed and will retry, ${sum(f.cancelled)} cancelled, ${sum(other)} requeued or lost; at most ${peak} in one second.`,
        }),
        lineChart({
          title: 'Wait from due to start on a worker (mean and longest per second)',
          unit: 'ms',
          series: [
            { name: 'mean', cls: 's-mean', values: a.waitAvgMs },
            { name: 'longest', cls: 's-max', values: a.waitMaxMs },
          ],
          summary: started
            ? `${started} attempts started; mean wait ${duration(waitSum / started)}, longest ${duration(longest)}.`
            : 'No attempt started.',
        }));
    } catch (e) { replace(charts, errorBox(e)); }
  }
  async function loadNodes() {
    if (!app.cluster) return;
    try {
      const { nodes: list } = await api('/v1/nodes');
      replace(nodes, nodesTable(list));
    } catch (e) { replace(nodes, errorBox(e)); }
  }
  const refresh = () => { loadCounts(); loadWorkers(); loadActivity(); loadNodes(); };
  refresh();
  const changed = throttle(() => { loadCounts(); loadWorkers(); }, 1000);
  const stops = [every(app, 5000, () => { loadActivity(); loadWorkers(); loadNodes(); }), every(app, 3000, loadCounts)];
  return { refresh, onChanges: changed, unmount: () => stops.forEach((s) => s()) };
}

function countsTable(c) {
  const types = Object.keys(c.counts).sort();
  if (!types.length) return h('p', { class: 'muted' }, 'No task is stored.');
  const total = Object.fromEntries(statuses.map((s) => [s, 0]));
  const link = (type, status, n) => {
    const q = new URLSearchParams();
    if (type) q.set('type', type);
    if (status) q.set('status', status);
    return h('a', { href: `/ui/tasks?${q}`, 'data-route': true, 'data-count': `${type || '*'}/${status || '*'}`,
      'aria-label': `${n} ${status || 'in all'} ${type || 'all types'}` }, n.toLocaleString());
  };
  const rows = types.map((type) => {
    const by = c.counts[type];
    let all = 0;
    const cells = statuses.map((s) => {
      const n = by[s] || 0;
      total[s] += n;
      all += n;
      return h('td', { class: 'num' }, link(type, s, n));
    });
    return h('tr', {}, h('th', { scope: 'row' }, type), cells, h('td', { class: 'num' }, link(type, '', all)));
  });
  const all = Object.values(total).reduce((x, y) => x + y, 0);
  rows.push(h('tr', { class: 'total' }, h('th', { scope: 'row' }, 'All types'),
    statuses.map((s) => h('td', { class: 'num' }, link('', s, total[s]))), h('td', { class: 'num' }, link('', '', all))));
  return scroller('Tasks by type and status', table('Stored tasks by type and status', ['Type', ...statuses, 'Total'], rows));
}

function nodesTable(list) {
  if (!list.length) return h('p', { class: 'muted' }, 'No node has sent a heartbeat.');
  return scroller('Nodes', table('Nodes sharing the store', ['Node', 'Address', 'Started', 'Heartbeat', 'Handlers', 'Running'],
    list.map((n) => h('tr', {},
      h('th', { scope: 'row', class: 'mono' }, n.id),
      h('td', {}, /^https?:\/\//.test(n.address || '') ? h('a', { href: n.address }, n.address) : n.address || '—'),
      h('td', {}, timeEl(n.started)),
      h('td', {}, ago(n.lastHeartbeat)),
      h('td', {}, (n.handlers || []).join(', ') || '—'),
      h('td', { class: 'num' }, n.running)))));
}

// --- Tasks --------------------------------------------------------------

const sortFields = ['dateCreated', 'dateModified', 'dateCompleted', 'status'];
const PAGE = 50;

export function tasks(main, app) {
  const params = new URLSearchParams(location.search);
  const state = {
    type: params.get('type') || '',
    status: params.get('status') || '',
    sortBy: params.get('sortBy') || 'dateCreated',
    order: params.get('order') || 'desc',
    limit: Number(params.get('limit')) || PAGE,
    cursors: [''], // the cursor of each page so far; the last is the one shown
    next: '',
    rows: [],
    selected: new Set(),
    lastClicked: -1,
  };
  // Free text with suggestions: a type the counts have not seen yet can
  // be typed all the same.
  const typeList = h('datalist', { id: 'f-types' });
  const typeSel = h('input', { id: 'f-type', name: 'type', list: 'f-types', placeholder: 'any type', autocomplete: 'off', spellcheck: 'false', value: state.type });
  const statusSel = h('select', { id: 'f-status', name: 'status' }, h('option', { value: '' }, 'any status'),
    statuses.map((s) => h('option', { value: s }, s)));
  const sortSel = h('select', { id: 'f-sort', name: 'sortBy' }, sortFields.map((s) => h('option', { value: s }, s)));
  const orderSel = h('select', { id: 'f-order', name: 'order' }, h('option', { value: 'desc' }, 'newest first'), h('option', { value: 'asc' }, 'oldest first'));
  statusSel.value = state.status;
  sortSel.value = state.sortBy;
  orderSel.value = state.order;

  const openInput = h('input', { id: 'open-id', name: 'id', placeholder: 'id or background-task:…:id', autocomplete: 'off', spellcheck: 'false' });
  const openForm = h('form', { class: 'open', role: 'search', onsubmit: (ev) => {
    ev.preventDefault();
    const v = openInput.value.trim();
    if (v) app.navigate(`/ui/tasks/${encodeURIComponent(v)}`);
  } }, h('label', { for: 'open-id' }, 'Open a task by id or URN'), openInput, h('button', { type: 'submit' }, 'Open'));

  const filters = h('form', { class: 'filters', 'aria-label': 'Filter and sort', onsubmit: (ev) => ev.preventDefault() },
    h('label', { for: 'f-type' }, 'Type'), typeSel, typeList,
    h('label', { for: 'f-status' }, 'Status'), statusSel,
    h('label', { for: 'f-sort' }, 'Sort by'), sortSel,
    h('label', { for: 'f-order' }, 'Order'), orderSel);
  for (const sel of [typeSel, statusSel, sortSel, orderSel]) {
    sel.addEventListener('change', () => {
      state[sel.name] = sel.value.trim();
      state.cursors = [''];
      keepURL();
      load();
    });
  }

  const bulk = h('div', { class: 'bulk', id: 'bulk', hidden: true });
  const result = h('div', { id: 'bulk-result', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { id: 'list' }, h('p', { class: 'muted' }, 'Loading…'));
  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages of tasks' });
  replace(main, h('h1', {}, 'Tasks'), openForm, filters, app.readOnly ? null : bulk, result, list, pager);

  function keepURL() {
    const q = new URLSearchParams();
    if (state.type) q.set('type', state.type);
    if (state.status) q.set('status', state.status);
    if (state.sortBy !== 'dateCreated') q.set('sortBy', state.sortBy);
    if (state.order !== 'desc') q.set('order', state.order);
    if (state.limit !== PAGE) q.set('limit', state.limit);
    history.replaceState(null, '', `/ui/tasks${q.size ? '?' + q : ''}`);
  }

  async function loadTypes() {
    try {
      const [c, hs] = await Promise.all([api('/v1/counts'), api('/v1/handlers')]);
      const types = new Set([...Object.keys(c.counts), ...hs.handlers.map((x) => x.type)]);
      replace(typeList, [...types].sort().map((t) => h('option', { value: t })));
    } catch { /* the list says what is wrong */ }
  }

  async function load() {
    const q = new URLSearchParams({ sortBy: state.sortBy, order: state.order, limit: state.limit });
    if (state.type) q.set('type', state.type);
    if (state.status) q.set('status', state.status);
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) q.set('cursor', cursor);
    try {
      const page = await api(`/v1/tasks?${q}`);
      state.rows = page.entities;
      state.next = page.cursor || '';
      draw();
    } catch (e) { replace(list, errorBox(e)); }
  }

  function draw() {
    // Keep the keyboard focus on the same control across a redraw.
    const focus = document.activeElement && list.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    if (!state.rows.length) {
      replace(list, h('p', { class: 'muted', id: 'no-tasks' }, state.cursors.length > 1 ? 'No more tasks.' : 'No task matches.'));
    } else {
      const headers = ['Id', 'Type', 'Status', 'Created', 'Modified', 'Attempts', 'Progress'];
      if (!app.readOnly) {
        const all = h('input', { type: 'checkbox', 'aria-label': 'Select every task on this page', 'data-key': 'all',
          checked: state.rows.every((t) => state.selected.has(t.id)) });
        all.addEventListener('change', () => {
          for (const t of state.rows) all.checked ? state.selected.add(t.id) : state.selected.delete(t.id);
          draw();
        });
        headers.unshift(all);
      }
      const rows = state.rows.map((t, i) => {
        const cells = [
          h('td', {}, taskLink(app, t.id)),
          h('td', {}, t.type),
          h('td', {}, statusBadge(t.status)),
          h('td', {}, when(t.dateCreated)),
          h('td', {}, when(t.dateModified)),
          h('td', { class: 'num' }, t.attempts || 0),
          h('td', { class: 'prog' }, t.status === 'processing' ? progressBar(t.progress, `Progress of task ${t.id}`) : ''),
        ];
        if (!app.readOnly) {
          const box = h('input', { type: 'checkbox', 'aria-label': `Select task ${t.id}`, 'data-key': `sel-${t.id}`, checked: state.selected.has(t.id) });
          box.addEventListener('click', (ev) => select(i, box.checked, ev.shiftKey));
          cells.unshift(h('td', {}, box));
        }
        return h('tr', { 'data-id': t.id, 'data-status': t.status }, cells);
      });
      replace(list, scroller('Tasks', table('Tasks', headers, rows)));
      sizeBars(list);
    }
    if (focus) {
      const el = list.querySelector(`[data-key="${CSS.escape(focus)}"]`);
      if (el) el.focus();
    }
    drawBulk();
    drawPager();
  }

  // select sets a row's selection; with shift, every row from the last
  // one clicked too.
  function select(i, on, range) {
    const from = range && state.lastClicked >= 0 ? Math.min(i, state.lastClicked) : i;
    const to = range && state.lastClicked >= 0 ? Math.max(i, state.lastClicked) : i;
    for (let j = from; j <= to; j++) on ? state.selected.add(state.rows[j].id) : state.selected.delete(state.rows[j].id);
    state.lastClicked = i;
    draw();
  }

  function drawBulk() {
    if (app.readOnly) return;
    const n = state.selected.size;
    bulk.hidden = n === 0;
    replace(bulk,
      h('span', { id: 'selected-count' }, `${n} selected`),
      h('button', { type: 'button', id: 'bulk-cancel', onclick: () => act('cancel') }, 'Cancel…'),
      h('button', { type: 'button', id: 'bulk-retry', onclick: () => act('retry') }, 'Retry…'),
      h('button', { type: 'button', id: 'bulk-remove', class: 'danger', onclick: () => act('remove') }, 'Remove…'),
      h('button', { type: 'button', id: 'bulk-clear', onclick: () => { state.selected.clear(); draw(); } }, 'Clear selection'));
  }

  async function act(what) {
    const ids = [...state.selected];
    const text = {
      cancel: `Cancel ${ids.length} task(s)? Pending ones are cancelled at once; running ones have their method stopped.`,
      retry: `Retry ${ids.length} task(s)? Pending ones become due now, failed ones go back to the queue.`,
      remove: `Remove ${ids.length} task(s)? They are deleted for good; running ones are cancelled first.`,
    }[what];
    if (!(await app.confirm(text, { cancel: 'Cancel tasks', retry: 'Retry tasks', remove: 'Remove tasks' }[what]))) return;
    replace(result, h('p', { class: 'muted' }, `Working on ${ids.length} task(s)…`));
    const done = [];
    const refused = [];
    await Promise.all(ids.map(async (id) => {
      try {
        await runAction(what, id);
        done.push(id);
      } catch (e) { refused.push(`${shortID(id)}: ${e.message}`); }
    }));
    for (const id of done) state.selected.delete(id);
    const past = { cancel: 'cancelled', retry: 'retried', remove: 'removed' }[what];
    const summary = `${done.length} ${past}${refused.length ? `, ${refused.length} refused` : ''}.`;
    replace(result, h('p', {}, summary), refused.length ? h('ul', { class: 'error' }, refused.map((r) => h('li', {}, r))) : null);
    announce(summary);
    load();
  }

  function drawPager() {
    const pageNo = state.cursors.length;
    replace(pager,
      h('button', { type: 'button', id: 'page-first', disabled: pageNo === 1, onclick: () => { state.cursors = ['']; load(); } }, 'First'),
      h('button', { type: 'button', id: 'page-prev', disabled: pageNo === 1, onclick: () => { state.cursors.pop(); load(); } }, 'Previous'),
      h('span', { id: 'page-no' }, `Page ${pageNo}`),
      h('button', { type: 'button', id: 'page-next', disabled: !state.next, onclick: () => { state.cursors.push(state.next); load(); } }, 'Next'));
  }

  // A change matters when it is about a task shown, or one the filter
  // would show.
  const reload = throttle(load, 500);
  function onChanges(changes) {
    let again = false;
    for (const ch of changes) {
      const t = ch.task;
      if (!t) { again = true; continue; }
      const row = list.querySelector(`tr[data-id="${t.id}"]`);
      if (ch.kind === 'progress' && row) {
        const cell = row.querySelector('td.prog');
        replace(cell, progressBar(t.progress, `Progress of task ${t.id}`));
        sizeBars(cell);
        continue;
      }
      if (row || ((!state.type || state.type === t.type) && (!state.status || state.status === t.status || ch.kind === 'updated'))) again = true;
    }
    if (again) reload();
  }

  keepURL();
  loadTypes();
  load();
  return { refresh: () => { loadTypes(); load(); }, onChanges, unmount: () => {} };
}

function runAction(what, id) {
  const path = `/v1/tasks/${encodeURIComponent(id)}`;
  if (what === 'remove') return api(path, { method: 'DELETE' });
  return api(`${path}/${what}`, { method: 'POST' });
}

// --- Task detail ------------------------------------------------------

// why an action is not allowed in a status, or null when it is.
function refusal(action, status) {
  switch (action) {
    case 'cancel':
      return status === 'pending' || status === 'processing' ? null : `A ${status} task cannot be cancelled: only pending or processing ones can.`;
    case 'retry':
      return status === 'pending' || status === 'failed' ? null : `A ${status} task cannot be retried: only pending (run now) or failed (queue again) ones can.`;
    default:
      return null; // remove: any task; a running one is cancelled first
  }
}

export function task(main, app, rawID) {
  let id = rawID;
  let current = null;
  let gone = false;
  const status = h('div', { id: 'task-notice', role: 'status', 'aria-live': 'polite' });
  const body = h('div', { id: 'task' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(main, h('p', {}, h('a', { href: '/ui/tasks', 'data-route': true }, '← Tasks')), status, body);

  async function load() {
    try {
      current = await api(`/v1/tasks/${encodeURIComponent(rawID)}`);
      id = current.id;
      gone = false;
      draw();
    } catch (e) {
      if (e.status === 404) {
        gone = true;
        if (current) draw();
        else replace(body, h('h1', {}, 'No such task'), h('p', {}, `The host has no task ${rawID}: it was removed (tasks without retainFor are removed as they finish), or it never existed.`));
      } else if (e.status === 400) replace(body, h('h1', {}, 'Not a task id'), h('p', { class: 'error' }, e.message));
      else replace(body, errorBox(e));
    }
  }

  function draw() {
    const t = current;
    const retries = t.retriesRemaining === undefined ? 'none (no retries asked for)' : t.retriesRemaining;
    const fields = [
      ['Id', h('span', { class: 'mono' }, t.id)],
      ['Type', t.type],
      ['Status', statusBadge(t.status)],
      ['Thread (node that created it)', t.threadId],
      ['Attempts started', t.attempts || 0],
      ['Retries left', retries],
      ['Retry interval', t.retryInterval !== undefined ? duration(t.retryInterval) : '—'],
      ['Retained for', t.retainFor === undefined ? 'removed when finished' : t.retainFor === -1 ? 'forever' : duration(t.retainFor)],
      ['Created', timeEl(t.dateCreated)],
      ['Modified', timeEl(t.dateModified)],
      ['Due', timeEl(t.dateNextProcess)],
      ['Completed', timeEl(t.dateCompleted)],
      ['Cancelled', timeEl(t.dateCancelled)],
      ['Kept until', timeEl(t.dateRetainUntil)],
    ];
    if (t.contextIds) for (const [k, v] of Object.entries(t.contextIds)) fields.push([`Context id ${k}`, v]);
    replace(body,
      h('h1', {}, 'Task ', h('span', { class: 'mono' }, shortID(t.id)), ' ', statusBadge(t.status)),
      gone ? h('p', { class: 'notice', id: 'task-gone' }, 'This task has been removed; this is its last state seen.') : null,
      app.readOnly || gone ? null : actions(t),
      h('section', { 'aria-labelledby': 'progress-h', id: 'progress-section', hidden: t.status !== 'processing' && !t.progress },
        h('h2', { id: 'progress-h' }, 'Progress'), h('div', { id: 'progress' }, progressBar(t.progress, 'Progress of this task'))),
      h('section', { 'aria-labelledby': 'fields-h' }, h('h2', { id: 'fields-h' }, 'Fields'),
        h('dl', { class: 'fields' }, fields.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]))),
      jsonSection('Payload', 'payload', t.payload),
      jsonSection('Result', 'result', t.result),
      jsonSection('Error', 'error', t.error));
    sizeBars(body);
  }

  function actions(t) {
    const buttons = [];
    for (const [action, label] of [['cancel', 'Cancel'], ['retry', t.status === 'pending' ? 'Run now (retry)' : 'Retry'], ['remove', 'Remove']]) {
      const why = refusal(action, t.status);
      const reasonID = `why-${action}`;
      buttons.push(h('div', { class: 'action' },
        h('button', { type: 'button', id: `action-${action}`, class: action === 'remove' ? 'danger' : null, disabled: !!why,
          'aria-describedby': why ? reasonID : null, onclick: () => run(action) }, label),
        why ? h('span', { class: 'muted small', id: reasonID }, why) : null));
    }
    return h('section', { class: 'actions', 'aria-label': 'Actions' }, buttons);
  }

  async function run(action) {
    const t = current;
    const running = t.status === 'processing';
    const ask = {
      cancel: running ? `Cancel task ${t.id}? It is running: its method is asked to stop, and its worker is killed if it does not.` : `Cancel task ${t.id}?`,
      remove: `Remove task ${t.id} for good?${running ? ' It is running: it is cancelled first.' : ''}`,
    }[action];
    if (ask && !(await app.confirm(ask, action === 'cancel' ? 'Cancel task' : 'Remove task'))) return;
    for (const b of main.querySelectorAll('.actions button')) b.disabled = true;
    replace(status, h('p', { class: 'muted' }, { cancel: 'Cancelling…', retry: 'Retrying…', remove: 'Removing…' }[action]));
    try {
      await runAction(action, t.id);
      const said = { cancel: 'Task cancelled.', retry: 'Task queued to run now.', remove: 'Task removed.' }[action];
      replace(status, h('p', {}, said));
      announce(said);
    } catch (e) {
      replace(status, h('p', { class: 'error', role: 'alert' }, e.message));
    }
    load();
  }

  function onChanges(changes) {
    for (const ch of changes) {
      if (!ch.task || ch.task.id !== id || !current) continue;
      if (ch.kind === 'progress') {
        current.progress = ch.task.progress;
        const el = main.querySelector('#progress');
        if (el) {
          replace(el, progressBar(ch.task.progress, 'Progress of this task'));
          main.querySelector('#progress-section').hidden = false;
          sizeBars(el);
        }
      } else if (ch.kind === 'removed') {
        gone = true;
        draw();
      } else reload();
    }
  }
  const reload = throttle(load, 300);
  load();
  return { refresh: load, onChanges, unmount: () => {} };
}

function jsonSection(title, id, value) {
  if (value === undefined || value === null) return null;
  return h('section', { 'aria-labelledby': `${id}-h` }, h('h2', { id: `${id}-h` }, title),
    h('pre', { class: 'json', id: `json-${id}`, tabindex: 0 }, pretty(value)));
}

// --- Handlers ---------------------------------------------------------

export function handlers(main, app) {
  const body = h('div', { id: 'handlers' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(main, h('h1', {}, 'Handlers'), body);
  async function load() {
    try {
      const { handlers: list } = await api('/v1/handlers');
      if (!list.length) { replace(body, h('p', { class: 'muted' }, 'No handler is registered.')); return; }
      replace(body, list.map(handlerSection));
      if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
    } catch (e) { replace(body, errorBox(e)); }
  }
  function handlerSection(hd) {
    const p = hd.pool;
    const settings = [
      ['Plugin', h('span', { class: 'mono' }, hd.plugin)], ['Method', hd.method],
      ['Max workers', hd.maxWorkerCount === -1 ? `up to the system cap (${p.maxWorkers})` : hd.maxWorkerCount],
      ['Workers kept started', hd.minWorkers || 'none (started for tasks)'],
      ['Tasks per worker at once', hd.concurrency || p.concurrency || 1],
      ['Idle shutdown', hd.idleShutdownTimeout === -1 ? 'never (kept)' : hd.idleShutdownTimeout === 0 ? 'when idle' : duration(hd.idleShutdownTimeout)],
      ['Execution timeout', hd.executionTimeout ? duration(hd.executionTimeout) : 'none'],
      ['Initialise method', hd.initialiseMethod || '—'], ['Shutdown method', hd.shutdownMethod || '—'],
    ];
    const counters = [['Claimed tasks', hd.running], ['Alive', p.alive], ['Busy', p.busy], ['Idle', p.idle], ['Starting', p.starting],
      ['Waiting calls', p.waiting], ['Calls', p.calls], ['Crashes', p.crashes], ['Timeouts', p.timeouts], ['Kills', p.kills],
      ['Spawns', p.spawns], ['Spawn failures', p.spawnFailures], ['Recycled', p.recycled], ['Memory kills', p.memoryKills]];
    const now = Date.now();
    const workers = (p.workers || []).slice().sort((a, b) => a.id - b.id);
    const id = `handler-${hd.type}`;
    return h('section', { id, 'aria-labelledby': `${id}-h`, class: 'handler' },
      h('h2', { id: `${id}-h` }, hd.type),
      h('div', { class: 'cols' },
        h('dl', { class: 'fields' }, settings.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
        h('dl', { class: 'fields counters' }, counters.map(([k, v]) => [h('dt', {}, k), h('dd', { class: 'num' }, v)]))),
      h('h3', {}, `Workers: ${workers.length} of at most ${p.maxWorkers}, ${p.crashes} lost to crashes so far`),
      workers.length ? scroller(`Workers of ${hd.type}`, table(`Live workers of ${hd.type}`,
        ['Worker', 'PID', 'State', 'Current tasks', 'Calls', 'RSS', 'Uptime'],
        workers.map((w) => h('tr', { 'data-pid': w.pid },
          h('th', { scope: 'row' }, w.id), h('td', { class: 'num mono' }, w.pid),
          h('td', {}, w.busy ? h('span', { class: 'status status-processing' }, w.running > 1 ? `busy × ${w.running}` : 'busy') : h('span', { class: 'status' }, 'idle')),
          h('td', {}, w.tasks && w.tasks.length ? w.tasks.slice().sort().map((id, i) => [i ? ', ' : null, taskLink(app, id)]) : '—'),
          h('td', { class: 'num' }, w.calls),
          h('td', { class: 'num' }, bytes(w.rss)),
          h('td', {}, duration(now - new Date(w.started).getTime())))))) : h('p', { class: 'muted' }, 'No worker runs now: one starts for the next task.'));
  }
  load();
  const stop = every(app, 2000, load);
  return { refresh: load, onChanges: throttle(load, 1000), unmount: stop };
}

// --- Schedules --------------------------------------------------------

function ruleText(r) {
  if (r.cron) return `cron ${r.cron}`;
  const parts = [];
  if (r.intervalDays) parts.push(`${r.intervalDays} d`);
  if (r.intervalHours) parts.push(`${r.intervalHours} h`);
  if (r.intervalMinutes) parts.push(`${r.intervalMinutes} min`);
  return parts.length ? `every ${parts.join(' ')}` : 'once';
}

export function schedules(main, app) {
  const body = h('div', { id: 'schedules' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(main, h('h1', {}, 'Schedules'), body);
  async function load() {
    try {
      const { tasks: byID } = await api('/v1/schedules');
      const ids = Object.keys(byID).sort();
      if (!ids.length) { replace(body, h('p', { class: 'muted' }, 'No schedule is declared.')); return; }
      const iso = (ms) => (ms === undefined ? null : new Date(ms).toISOString());
      const rows = ids.flatMap((id) => byID[id].map((r) => h('tr', {},
        h('th', { scope: 'row' }, id), h('td', { class: 'mono' }, ruleText(r)),
        h('td', {}, r.nextTriggerTime === undefined ? 'never again' : timeEl(iso(r.nextTriggerTime))),
        h('td', {}, r.lastRunTime === undefined ? 'not yet' : timeEl(iso(r.lastRunTime))))));
      replace(body, scroller('Schedules', table('Schedules', ['Schedule', 'Rule', 'Next trigger', 'Last run'], rows)));
    } catch (e) { replace(body, errorBox(e)); }
  }
  load();
  const stop = every(app, 5000, load);
  return { refresh: load, onChanges: () => {}, unmount: stop };
}

// --- Nodes ------------------------------------------------------------

export function nodes(main, app) {
  const body = h('div', { id: 'nodes' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(main, h('h1', {}, 'Nodes'), body);
  async function load() {
    try {
      const { nodes: list } = await api('/v1/nodes');
      replace(body, nodesTable(list));
    } catch (e) { replace(body, errorBox(e)); }
  }
  load();
  const stop = every(app, 2000, load);
  return { refresh: load, onChanges: () => {}, unmount: stop };
}
