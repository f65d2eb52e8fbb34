// Small helpers to build the page's elements (never from HTML strings,
// so that nothing a task carries can become markup) and to format what
// the API says.

// h makes an element: attrs sets attributes (on* keys add listeners,
// false and null leave an attribute out), children are nodes or text.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// replace puts children in place of el's.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// scroller wraps a wide table so that it scrolls on a narrow screen,
// reachable by keyboard.
export function scroller(label, table) {
  return h('div', { class: 'scroll', role: 'region', 'aria-label': label, tabindex: 0 }, table);
}

export function table(caption, headers, rows) {
  return h('table', {},
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, rows));
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// when shows a time in the browser's zone, to the second.
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// duration says how long ms milliseconds are, roughly.
export function duration(ms) {
  if (ms === null || ms === undefined) return '—';
  const neg = ms < 0;
  ms = Math.abs(ms);
  let s;
  if (ms < 1000) s = `${Math.round(ms)} ms`;
  else if (ms < 60e3) s = `${(ms / 1000).toFixed(ms < 10e3 ? 1 : 0)} s`;
  else if (ms < 3600e3) s = split(ms, 1000, 60, 'min', 's');
  else if (ms < 86400e3) s = split(ms, 60e3, 60, 'h', 'min');
  else s = split(ms, 3600e3, 24, 'd', 'h');
  return neg ? `-${s}` : s;
}

// split says ms in two units: the small one (of unit ms, per of them in
// the big one) rounded, so that 59.6 s is 1 min 0 s, never 0 min 60 s.
function split(ms, unit, per, big, small) {
  const n = Math.round(ms / unit);
  return `${Math.floor(n / per)} ${big} ${n % per} ${small}`;
}

// ago says how long before now a time was ("in …" when it is ahead).
export function ago(iso) {
  if (!iso) return '';
  const ms = Date.now() - new Date(iso).getTime();
  return ms >= 0 ? `${duration(ms)} ago` : `in ${duration(-ms)}`;
}

// timeEl is a <time> showing when, with how long ago.
export function timeEl(iso) {
  if (!iso) return '—';
  return h('span', {}, h('time', { datetime: iso }, when(iso)), ' ', h('span', { class: 'muted' }, `(${ago(iso)})`));
}

export function bytes(n) {
  if (!n) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function pretty(json) {
  if (json === undefined) return null;
  return JSON.stringify(json, null, 2);
}

export const statuses = ['pending', 'processing', 'success', 'failed', 'cancelled'];

export function statusBadge(status) {
  return h('span', { class: `status status-${status}` }, status);
}

// progressBar shows a running task's progress; label names it for
// screen readers.
export function progressBar(p, label) {
  const pct = Math.max(0, Math.min(100, p ? p.percent : 0));
  return h('div', { class: 'progress' },
    h('div', { class: 'bar', role: 'progressbar', 'aria-label': label, 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': pct, 'aria-valuetext': `${pct}%${p && p.message ? ': ' + p.message : ''}` },
      h('div', { class: 'fill', style: null, 'data-pct': pct })),
    h('span', { class: 'pct' }, `${pct}%`),
    p && p.message ? h('span', { class: 'muted msg' }, p.message) : null);
}

// sizeBars sets the width of progress fills (styles are set from script:
// the page's CSP allows no inline style attribute).
export function sizeBars(root) {
  for (const f of root.querySelectorAll('.fill[data-pct]')) f.style.width = `${f.dataset.pct}%`;
}

export function announce(text) {
  const el = document.getElementById('announce');
  el.textContent = '';
  // A change the live region notices, even for the same text twice.
  setTimeout(() => { el.textContent = text; }, 50);
}

export function shortID(id) {
  return id.length > 12 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}
