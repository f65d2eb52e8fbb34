// The table-driven codec against protobufjs, the reference encoder,
// loading the same .proto files the tables were generated from.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import protobuf from 'protobufjs';

import { Codec, loadCodec } from '../dist/codec.js';

const codec = loadCodec();
const root = new protobuf.Root().loadSync(
  ['../../../shared/proto/worker.proto', '../proto/goplugin.proto', '../proto/health.proto'].map((p) => fileURLToPath(new URL(p, import.meta.url))),
  { keepCase: true },
);

const cases = [
  ['taskhost.worker.v1.InvokeRequest', {
    call_id: 2 ** 40 + 3, method: 'resize', payload: Buffer.from('{"a":"é"}'), timeout_ms: 300000,
    task: { id: 'abc', type: 'image-resize', thread_id: 'main', attempt: 2, retries_remaining: 0, context_ids: { tenant: 'a', b: '' } },
  }],
  ['taskhost.worker.v1.InvokeRequest', { call_id: 1, method: 'm', task: { type: 't' } }],
  ['taskhost.worker.v1.InvokeResponse', { result: Buffer.from('null'), progress_events: 3 }],
  ['taskhost.worker.v1.InvokeResponse', { error: { name: 'Error', message: 'no', permanent: true } }],
  ['taskhost.worker.v1.ProgressEvent', { call_id: 7, percent: 12.5, message: 'step' }],
  ['taskhost.worker.v1.MethodsResponse', { names: ['a', 'b', ''] }],
  ['taskhost.worker.v1.CancelResponse', { found: true }],
  ['plugin.StdioData', { channel: 2, data: Buffer.from('line\n') }],
  ['grpc.health.v1.HealthCheckResponse', { status: 1 }],
  ['taskhost.worker.v1.TaskInfo', { attempt: -1 }],
];

describe('codec', () => {
  for (const [type, msg] of cases) {
    it(`encodes ${type} as protobufjs does, and decodes it back`, () => {
      const T = root.lookupType(type);
      const ours = codec.encode(type, msg);
      assert.deepEqual(ours, Buffer.from(T.encode(T.fromObject(msg)).finish()));
      const back = codec.decode(type, ours);
      const ref = T.toObject(T.decode(ours), { longs: Number, bytes: Buffer, enums: Number, arrays: true, objects: true });
      assert.deepEqual(normalise(back), normalise(ref));
    });
  }

  it('skips fields it does not know', () => {
    const T = root.lookupType('taskhost.worker.v1.CancelRequest');
    const b = Buffer.concat([Buffer.from(T.encode({ call_id: 5 }).finish()), Buffer.from([0x52, 0x02, 0x68, 0x69, 0x60, 0x01])]);
    assert.deepEqual(codec.decode('taskhost.worker.v1.CancelRequest', b), { call_id: 5 });
  });

  it('refuses a truncated message', () => {
    assert.throws(() => codec.decode('taskhost.worker.v1.InvokeRequest', Buffer.from([0x12, 0x05, 0x61])), /truncated/);
  });

  it('makes grpc-js service definitions', () => {
    const def = codec.service('taskhost.worker.v1.Worker');
    assert.deepEqual(Object.keys(def), ['Methods', 'Invoke', 'Calls', 'Cancel', 'WatchProgress']);
    assert.equal(def.Invoke.path, '/taskhost.worker.v1.Worker/Invoke');
    assert.equal(def.WatchProgress.responseStream, true);
    assert.deepEqual([def.Calls.requestStream, def.Calls.responseStream], [true, true]);
  });
});

// normalise drops what is absent or a proto3 default, for a comparison
// that does not depend on how each side spells "not set".
function normalise(v) {
  if (Buffer.isBuffer(v)) return v.length ? v.toString('hex') : undefined;
  if (Array.isArray(v)) return v.length ? v.map(normalise) : undefined;
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) {
      const n = normalise(x);
      if (n !== undefined && n !== '' && n !== 0 && n !== false) out[k] = n;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return v;
}

it('reads a packed repeated field', () => {
  const c = new Codec({ messages: { M: [['ns', 1, 'int32', 'repeated'], ['s', 2, 'string', '']] }, enums: [], services: {} });
  // ns = [1, 300] packed, then s = "x".
  assert.deepEqual(c.decode('M', Buffer.from([0x0a, 0x03, 0x01, 0xac, 0x02, 0x12, 0x01, 0x78])), { ns: [1, 300], s: 'x' });
});
