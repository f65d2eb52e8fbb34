import assert from 'node:assert/strict';
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, it } from 'node:test';

import { contextIdStorage, parseArgs, twinMethods } from '../dist/twin.js';
import * as imageWorker from './fixtures/twin/workers/imageWorker.mjs';

const task = (contextIds = {}) => ({ id: 't', type: 'image-resize', threadId: 'main', attempt: 1, contextIds });

describe('twin runner', () => {
  it('reads its arguments', () => {
    assert.deepEqual(parseArgs(['/m.mjs', '--initialise=init', '--shutdown=stop']), { module: '/m.mjs', initialise: 'init', shutdown: 'stop' });
    assert.deepEqual(parseArgs(['/m.mjs']), { module: '/m.mjs' });
    assert.throws(() => parseArgs([]), /usage/);
    assert.throws(() => parseArgs(['/a', '/b']), /more than one module/);
    assert.throws(() => parseArgs(['/a', '--x']), /unknown flag/);
  });

  it('calls module[method](engineCloneData, payload) with the task\'s context ids where twin reads them', async () => {
    const storage = await contextIdStorage();
    assert.equal(await contextIdStorage(), storage, 'one storage, found again');
    const engine = { bucket: 'tenant-a' };
    const m = twinMethods(imageWorker, engine, storage, { initialise: 'initialise', shutdown: 'shutdown' });
    assert.deepEqual(Object.keys(m).sort(), ['initialise', 'resize', 'shutdown']);
    await m.initialise({}, task(), { ignored: true });
    const out = await m.resize({}, task({ tenant: 'a' }), { imageId: 'hero', width: 1920, height: 1080 });
    assert.deepEqual(out, { imageId: 'hero', location: 's3://tenant-a/images/hero-1920x1080.webp', tenant: 'a' });
    await assert.rejects(m.resize({}, task(), { imageId: 'hero', width: 0, height: 1 }), RangeError);
  });

  it('finds the storage twin\'s older ContextIdStore made ({ contextIds })', async () => {
    const g = globalThis;
    const saved = g.__TWIN_SHARED__;
    const old = new AsyncLocalStorage();
    g.__TWIN_SHARED__ = { asyncHooks: { contextIds: old } };
    try {
      assert.equal(await contextIdStorage(), old);
    } finally {
      g.__TWIN_SHARED__ = saved;
    }
  });

  it('takes the functions of a CommonJS module\'s default export', () => {
    const m = twinMethods({ default: { run: () => 1, value: 2 } }, {}, new AsyncLocalStorage(), {});
    assert.deepEqual(Object.keys(m), ['run']);
  });

  it('calls shutdown() with no arguments', async () => {
    let got;
    const m = twinMethods({ stop: (...a) => (got = a) }, { x: 1 }, new AsyncLocalStorage(), { shutdown: 'stop' });
    await m.stop({}, task(), { x: 1 });
    assert.deepEqual(got, []);
  });
});
