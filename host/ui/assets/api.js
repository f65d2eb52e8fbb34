// The host's HTTP API, as the dashboard calls it: every call carries the
// X-Taskhost-UI header (so that a read-only host can refuse the
// dashboard's changes) and the API token, kept in this tab's
// sessionStorage only.

const TOKEN_KEY = 'taskhost.token';

export class ApiError extends Error {
  constructor(status, name, message) {
    super(message);
    this.status = status;
    this.name = name;
  }
}

function headers(extra) {
  const h = { 'X-Taskhost-UI': '1', ...extra };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) h.Authorization = 'Bearer ' + token;
  return h;
}

// The token prompt: one at a time, however many calls were refused.
let asking = null;

// askToken shows the token dialog until the host accepts a token.
export function askToken() {
  if (asking) return asking;
  const dialog = document.getElementById('token-dialog');
  const form = document.getElementById('token-form');
  const input = document.getElementById('token-input');
  const error = document.getElementById('token-error');
  asking = new Promise((resolve) => {
    const submit = async (ev) => {
      ev.preventDefault();
      const token = input.value.trim();
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      // GET /v1/handlers needs the token and costs nothing.
      const r = await fetch('/v1/handlers', { headers: headers(), cache: 'no-store' });
      if (r.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        error.textContent = 'The host refused this token. Check it and try again.';
        error.hidden = false;
        input.select();
        return;
      }
      error.hidden = true;
      input.value = '';
      form.removeEventListener('submit', submit);
      dialog.removeEventListener('cancel', refuseClose);
      dialog.close();
      asking = null;
      resolve();
    };
    // Escape would leave the page without data: keep the dialog.
    const refuseClose = (ev) => ev.preventDefault();
    form.addEventListener('submit', submit);
    dialog.addEventListener('cancel', refuseClose);
    dialog.showModal();
    input.focus();
  });
  return asking;
}

// api calls the API and returns its JSON answer (null for 204); a 401
// asks for the token and tries again; other errors throw an ApiError.
export async function api(path, { method = 'GET', body, signal } = {}) {
  for (;;) {
    const init = { method, headers: headers({ Accept: 'application/json' }), cache: 'no-store', signal };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    if (r.status === 401) {
      await askToken();
      continue;
    }
    if (r.status === 204) return null;
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: said below */ }
    if (!r.ok) {
      const e = data && data.error;
      throw new ApiError(r.status, e ? e.name : 'HTTPError', e ? e.message : `${r.status} ${r.statusText}`);
    }
    return data;
  }
}

// stream reads Server-Sent Events from path and calls onEvent with each
// event's parsed data; it resolves when the stream ends, and rejects
// when it cannot be opened. EventSource cannot send the token header, so
// this reads the stream with fetch.
export async function stream(path, onEvent, signal) {
  for (;;) {
    const r = await fetch(path, { headers: headers({ Accept: 'text/event-stream' }), cache: 'no-store', signal });
    if (r.status === 401) {
      await askToken();
      continue;
    }
    if (!r.ok || !r.body) throw new ApiError(r.status, 'HTTPError', `event stream: ${r.status}`);
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (data) onEvent(JSON.parse(data));
      }
    }
  }
}

export function hasToken() {
  return sessionStorage.getItem(TOKEN_KEY) !== null;
}
