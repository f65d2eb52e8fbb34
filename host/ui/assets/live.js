// The dashboard's live updates: the host pushes every change of every
// task over GET /v1/events; the page shown listens. When the stream
// drops, the page is read again every few seconds (polling) while the
// stream is tried again; Pause stops both.

import { stream } from './api.js';

const POLL_MS = 2000; // while the stream is down, and in cluster mode
const RETRY_MS = 3000; // between attempts to open the stream again

export class Live {
  constructor(stateEl, pauseEl, cluster) {
    this.stateEl = stateEl;
    this.pauseEl = pauseEl;
    this.cluster = cluster;
    this.paused = false;
    this.state = 'connecting';
    this.listeners = new Set();
    this.abort = null;
    this.pollTimer = null;
    this.retryTimer = null;
    pauseEl.addEventListener('click', () => this.setPaused(!this.paused));
    // A hidden tab lets go of its stream: a browser opens only 6
    // connections to a host, and each open stream holds one.
    document.addEventListener('visibilitychange', () => {
      if (this.paused) return;
      if (document.hidden) this.stop('hidden');
      else this.resume();
    });
  }

  // stop closes the stream and stops retrying it, in state.
  stop(state) {
    if (this.abort) this.abort.abort();
    clearTimeout(this.retryTimer);
    this.setState(state);
  }

  // resume opens the stream again, and reads everything again meanwhile.
  resume() {
    this.connect();
    this.refresh();
  }

  // listen adds a page's listener: onChanges(changes) for each batch the
  // stream brings, refresh() whenever it must read everything again (the
  // stream came back, a resync, or a poll). It returns the removal.
  listen(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start() {
    this.connect();
    this.poll();
  }

  setPaused(paused) {
    this.paused = paused;
    this.pauseEl.setAttribute('aria-pressed', String(paused));
    this.pauseEl.textContent = paused ? 'Resume' : 'Pause';
    if (paused) this.stop('paused');
    else this.resume();
  }

  setState(state) {
    this.state = state;
    const text = {
      connecting: 'connecting…',
      live: this.cluster ? 'live (this node), polling other nodes' : 'live',
      polling: `stream lost: polling every ${POLL_MS / 1000} s`,
      paused: 'paused',
      hidden: 'paused while the tab is hidden',
    }[state];
    this.stateEl.textContent = text;
    this.stateEl.dataset.state = state;
  }

  refresh() {
    for (const l of this.listeners) l.refresh && l.refresh();
  }

  connect() {
    if (this.paused || document.hidden) return;
    if (this.abort) this.abort.abort();
    const ctl = new AbortController();
    this.abort = ctl;
    this.setState('connecting');
    let opened = false;
    stream('/v1/events', (change) => {
      if (!opened) {
        opened = true;
        this.setState('live');
      }
      if (change.kind === 'resync') {
        this.refresh();
        return;
      }
      this.dispatch(change);
    }, ctl.signal).catch(() => {}).finally(() => {
      if (ctl.signal.aborted || this.paused) return;
      // Dropped: poll meanwhile, and try again.
      this.setState('polling');
      this.retryTimer = setTimeout(() => this.connect(), RETRY_MS);
    });
  }

  // dispatch hands changes to the listeners in batches, 50 ms apart at most.
  dispatch(change) {
    if (!this.batch) {
      this.batch = [];
      setTimeout(() => {
        const batch = this.batch;
        this.batch = null;
        for (const l of this.listeners) l.onChanges && l.onChanges(batch);
      }, 50);
    }
    this.batch.push(change);
  }

  poll() {
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      if (!this.paused && (this.state === 'polling' || this.cluster) && !document.hidden) this.refresh();
      this.poll();
    }, POLL_MS);
  }
}
