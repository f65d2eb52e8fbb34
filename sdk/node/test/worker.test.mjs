// The worker: calls, errors, cancellation, timeouts, progress and the
// isolation of uncaught errors, without a process or gRPC.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createWorker, newLogger, permanent, TaskError } from '../dist/index.js';

const task = { id: 't1', type: 'test', threadId: 'main', attempt: 1, contextIds: {} };
const call = (method, payload, extra = {}) => ({
  id: extra.id ?? 1,
  method,
  payload: payload === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(payload)),
  task,
  timeoutMs: extra.timeoutMs ?? 0,
});

function worker(methods) {
  const lines = [];
  const w = createWorker(methods, newLogger((l) => lines.push(JSON.parse(l))));
  return { w, lines };
}

const result = (out) => JSON.parse(out.result.toString());

describe('invoke', () => {
  it('decodes the payload, passes the task and encodes the result', async () => {
    const { w } = worker({ echo: (ctx, t, p) => ({ p, t, same: ctx.task === t }) });
    const out = await w.invoke(call('echo', { a: [1, 2] }));
    assert.equal(out.error, undefined);
    assert.deepEqual(result(out), { p: { a: [1, 2] }, t: task, same: true });
  });

  it('passes undefined for an empty payload and encodes undefined as null', async () => {
    const { w } = worker({ none: (ctx, t, p) => (p === undefined ? undefined : 'defined') });
    assert.equal((await w.invoke(call('none'))).result.toString(), 'null');
  });

  it('lists the methods sorted', () => {
    assert.deepEqual(worker({ b() {}, a() {} }).w.names(), ['a', 'b']);
  });

  it('refuses a method that is not a function', () => {
    assert.throws(() => worker({ a: 1 }), /method "a" is a number/);
  });

  it('fails an unknown method permanently with MethodNotFound', async () => {
    const { w } = worker({});
    assert.deepEqual((await w.invoke(call('toString'))).error, {
      name: 'MethodNotFound',
      message: 'plugin exports no method "toString"',
      permanent: true,
    });
  });

  it('fails a payload that is not JSON with InvalidPayload, permanently', async () => {
    const { w } = worker({ m: () => 1 });
    const out = await w.invoke({ ...call('m'), payload: Buffer.from('{nope') });
    assert.equal(out.error.name, 'InvalidPayload');
    assert.equal(out.error.permanent, true);
    assert.match(out.error.message, /^method "m": payload is not valid JSON/);
  });

  it('fails a result JSON cannot hold with InvalidResult', async () => {
    const { w } = worker({ m: () => 1n });
    const out = await w.invoke(call('m'));
    assert.equal(out.error.name, 'InvalidResult');
    assert.match(out.error.message, /BigInt/);
  });
});

describe('errors', () => {
  it('keeps a thrown error\'s name and message', async () => {
    const { w } = worker({
      plain: () => {
        throw new Error('no such image');
      },
      type: async () => {
        null.x;
      },
      custom: () => {
        throw new TaskError('ImageMissing', 'gone');
      },
      string: () => {
        throw 'just a string';
      },
    });
    assert.deepEqual((await w.invoke(call('plain'))).error, { name: 'Error', message: 'no such image', permanent: false });
    assert.equal((await w.invoke(call('type'))).error.name, 'TypeError');
    assert.deepEqual((await w.invoke(call('custom'))).error, { name: 'ImageMissing', message: 'gone', permanent: false });
    assert.deepEqual((await w.invoke(call('string'))).error, { name: 'Error', message: 'just a string', permanent: false });
  });

  it('marks permanent errors', async () => {
    const { w } = worker({
      p: () => {
        throw permanent(new RangeError('bad size'));
      },
      t: () => {
        throw new TaskError('Refused', 'never', { permanent: true });
      },
      s: () => {
        throw permanent('text');
      },
    });
    assert.deepEqual((await w.invoke(call('p'))).error, { name: 'RangeError', message: 'bad size', permanent: true });
    assert.equal((await w.invoke(call('t'))).error.permanent, true);
    assert.deepEqual((await w.invoke(call('s'))).error, { name: 'Error', message: 'text', permanent: true });
  });

  it('fails the running call with Panic on an uncaught error, with its stack', async () => {
    const { w } = worker({ m: () => new Promise(() => {}) });
    const pending = w.invoke(call('m'));
    await new Promise((r) => setImmediate(r));
    assert.equal(w.uncaught(new Error('boom'), 'threw an uncaught exception'), true);
    const out = await pending;
    assert.equal(out.error.name, 'Panic');
    assert.match(out.error.message, /^method "m" threw an uncaught exception: Error: boom\nat /);
    assert.equal(w.uncaught(new Error('late'), 'x'), false, 'no call runs any more');
  });
});

describe('cancellation and timeouts', () => {
  const waitAbort = (ctx) =>
    new Promise((_, reject) => {
      if (ctx.signal.aborted) reject(ctx.signal.reason);
      ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason));
    });

  it('aborts the signal of the call cancelled', async () => {
    const { w } = worker({ m: waitAbort, quick: () => 1 });
    await w.invoke(call('quick', undefined, { id: 1 }));
    const pending = w.invoke(call('m', undefined, { id: 2 }));
    await new Promise((r) => setImmediate(r));
    assert.equal(w.cancel(1), false, 'arrived, and no longer running');
    assert.equal(w.cancel(2), true);
    assert.deepEqual((await pending).error, { name: 'Cancelled', message: 'the task was cancelled', permanent: false });
  });

  it('keeps a cancel for a call that a later one overtook', async () => {
    // Several calls at once may arrive out of order: call 2 before call 1,
    // then the cancel of call 1, before call 1 itself.
    const { w } = worker({ m: waitAbort });
    const second = w.invoke(call('m', undefined, { id: 2 }));
    assert.equal(w.cancel(1), true, 'call 1 has not arrived: kept for it');
    assert.equal((await w.invoke(call('m', undefined, { id: 1 }))).error.name, 'Cancelled');
    assert.equal(w.cancel(1), false, 'call 1 is over');
    assert.equal(w.cancel(2), true);
    assert.equal((await second).error.name, 'Cancelled');
  });

  it('counts a call that failed before it ran as arrived', async () => {
    const { w } = worker({ m: waitAbort });
    assert.equal((await w.invoke(call('nope', undefined, { id: 1 }))).error.name, 'MethodNotFound');
    assert.equal((await w.invoke({ ...call('m', undefined, { id: 2 }), payload: Buffer.from('{') })).error.name, 'InvalidPayload');
    assert.equal(w.cancel(1), false);
    assert.equal(w.cancel(2), false);
  });

  it('keeps a cancel that overtook its call', async () => {
    const { w } = worker({ m: waitAbort });
    assert.equal(w.cancel(9), true);
    assert.equal((await w.invoke(call('m', undefined, { id: 9 }))).error.name, 'Cancelled');
  });

  it('aborts the signal when the timeout passes', async () => {
    const { w } = worker({ m: waitAbort });
    const out = await w.invoke(call('m', undefined, { timeoutMs: 20 }));
    assert.deepEqual(out.error, { name: 'ExecutionTimeout', message: 'the execution timeout of 20 ms passed', permanent: false });
  });
});

describe('progress', () => {
  it('sends the call\'s reports to the watchers after the first event and counts them', async () => {
    const seen = [];
    const { w } = worker({
      m: (ctx) => {
        ctx.progress(50, 'half');
        ctx.progress(250);
        ctx.progress(Number.NaN, 'nan');
        return 1;
      },
    });
    w.invoke(call('m', undefined, { id: 3 })); // no watcher yet: not counted
    const stop = w.watch((ev) => (seen.push(ev), true));
    const out = await w.invoke(call('m', undefined, { id: 4 }));
    stop();
    assert.equal(out.progressEvents, 3);
    assert.deepEqual(seen, [
      { callId: 0, percent: 0, message: '' },
      { callId: 4, percent: 50, message: 'half' },
      { callId: 4, percent: 100, message: '' },
      { callId: 4, percent: 0, message: 'nan' },
    ]);
  });
});

describe('log', () => {
  it('tags a call\'s lines with the task and method', async () => {
    const { w, lines } = worker({ m: (ctx) => ctx.log.warn('resized', { width: 320 }) });
    await w.invoke(call('m'));
    assert.equal(lines.length, 1);
    const { '@timestamp': ts, ...rest } = lines[0];
    assert.match(ts, /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(rest, { '@level': 'warn', '@message': 'resized', task_id: 't1', method: 'm', width: 320 });
  });
});
