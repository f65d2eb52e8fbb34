// The dashboard: routes a path under /ui/ to its page, and starts the
// live updates.

import { askToken, hasToken } from './api.js';
import { Live } from './live.js';
import * as pages from './pages.js';

const root = document.documentElement;
const app = {
  readOnly: root.dataset.readOnly === 'true',
  cluster: root.dataset.cluster === 'true',
  live: null,
  page: null,
  navigate,
  confirm,
};

// route finds the page of a path.
function route(path) {
  const rest = path.replace(/^\/ui\/?/, '').replace(/\/$/, '');
  const [first, ...more] = rest.split('/');
  switch (first) {
    case '': return ['overview', (main) => pages.overview(main, app)];
    case 'tasks':
      if (more.length) return ['tasks', (main) => pages.task(main, app, decodeURIComponent(more.join('/')))];
      return ['tasks', (main) => pages.tasks(main, app)];
    case 'handlers': return ['handlers', (main) => pages.handlers(main, app)];
    case 'schedules': return ['schedules', (main) => pages.schedules(main, app)];
    case 'nodes': return ['nodes', (main) => pages.nodes(main, app)];
    default: return ['', (main) => { main.textContent = `No page here: ${path}`; return {}; }];
  }
}

let unlisten = null;

function show(focus) {
  const main = document.getElementById('main');
  if (app.page && app.page.unmount) app.page.unmount();
  if (unlisten) unlisten();
  const [name, mount] = route(location.pathname);
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  app.page = mount(main) || {};
  unlisten = app.live.listen(app.page);
  const h1 = main.querySelector('h1');
  const node = root.dataset.node ? ` (${root.dataset.node})` : '';
  document.title = `${h1 ? h1.textContent : 'taskhost'} · taskhost${node}`;
  if (focus) main.focus();
}

function navigate(path) {
  history.pushState(null, '', path);
  show(true);
}

// settleAsked settles the last question with its answer once its close
// event has come, or when the next question is asked first.
let settleAsked = null;

// confirm asks in the confirmation dialog; it resolves to true for yes.
function confirm(text, yes) {
  const dialog = document.getElementById('confirm-dialog');
  // The close event comes after the dialog has closed, as a task of its
  // own: asked again at once, the dialog is open again when the close of
  // the last answer arrives, and that close must not answer this
  // question too. So the last question is settled now, with its answer,
  // and its close event is no longer listened to.
  if (settleAsked) settleAsked();
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-yes').textContent = yes;
  return new Promise((resolve) => {
    const closed = () => {
      if (!dialog.open) settle();
    };
    const settle = () => {
      dialog.removeEventListener('close', closed);
      settleAsked = null;
      resolve(dialog.returnValue === 'ok');
    };
    settleAsked = settle;
    dialog.returnValue = '';
    dialog.showModal();
    dialog.addEventListener('close', closed);
  });
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-route]');
  if (!a || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', () => show(false));

async function start() {
  if (root.dataset.tokenRequired === 'true' && !hasToken()) await askToken();
  app.live = new Live(document.getElementById('live-state'), document.getElementById('pause'), app.cluster);
  show(false);
  app.live.start();
}

start();
