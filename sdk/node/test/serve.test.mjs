// serve() in a real process, spoken to as go-plugin's client would.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import * as grpc from '@grpc/grpc-js';

import { loadCodec } from '../dist/codec.js';

const plugin = fileURLToPath(new URL('./fixtures/testworker.mjs', import.meta.url));
const cookie = { TASKHOST_PLUGIN: 'b7d3f0c1-taskhost-worker' };

function start(env) {
  const child = spawn(process.execPath, [plugin], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  return { child, stderr: () => stderr };
}

describe('serve', () => {
  it('explains itself and exits 1 when run by hand', async () => {
    const { child, stderr } = start({});
    const [code] = await once(child, 'exit');
    assert.equal(code, 1);
    assert.match(stderr(), /is a taskhost handler plugin: the taskhost host starts it/);
  });

  it('serves the worker, health, stdio and controller services until Shutdown', async () => {
    const { child, stderr } = start({ ...cookie, PLUGIN_PROTOCOL_VERSIONS: '2,1' });
    const [line] = await once(createInterface({ input: child.stdout }), 'line');
    const [core, version, network, address, protocol, ...rest] = line.split('|');
    assert.deepEqual([core, version, network, protocol, rest], ['1', '2', 'unix', 'grpc', []]);
    assert.ok(existsSync(address));

    const codec = loadCodec();
    const creds = grpc.credentials.createInsecure();
    const target = `unix:${address}`;
    const client = (name) => new (grpc.makeGenericClientConstructor(codec.service(name), name))(target, creds);
    const worker = client('taskhost.worker.v1.Worker');
    const health = client('grpc.health.v1.Health');
    const stdio = client('plugin.GRPCStdio');
    const controller = client('plugin.GRPCController');
    const unary = (client, method, req) =>
      new Promise((resolve, reject) => client[method](req, (err, res) => (err ? reject(err) : resolve(res))));

    assert.equal((await unary(health, 'Check', { service: 'plugin' })).status, 1);
    await assert.rejects(unary(health, 'Check', { service: 'other' }), /NOT_FOUND/);
    assert.ok((await unary(worker, 'Methods', {})).names.includes('echo'));

    const chunks = [];
    const stream = stdio.StreamStdio({});
    stream.on('data', (d) => chunks.push(d));
    stream.on('error', () => {});
    const echoed = await unary(worker, 'Invoke', {
      call_id: 1,
      method: 'echo',
      payload: Buffer.from('{"a":1}'),
      task: { id: 't', type: 'echo', attempt: 1 },
    });
    assert.equal(echoed.result.toString(), '{"a":1}');
    const logged = await unary(worker, 'Invoke', { call_id: 2, method: 'log', payload: Buffer.from('{"message":"hi"}'), task: { id: 't2' } });
    assert.equal(logged.result.toString(), '"logged"');
    await waitFor(() => chunks.some((c) => c.channel === 1 && c.data.toString() === 'stdout: hi\n'));
    await waitFor(() => stderr().includes('"@message":"hi"'));
    const entry = JSON.parse(stderr().split('\n').find((l) => l.includes('"@message":"hi"')));
    assert.equal(entry.task_id, 't2');
    assert.equal(entry.method, 'log');

    // Protocol 2: calls on one stream, answered by call id as they finish;
    // a result over the host's limit is sent as its size.
    const md = new grpc.Metadata();
    md.set('taskhost-max-message', '300');
    const calls = worker.Calls(md);
    const answers = [];
    calls.on('data', (a) => answers.push(a));
    const ended = once(calls, 'end');
    calls.write({ call_id: 3, method: 'sleep', payload: Buffer.from('{"ms":100}'), task: { id: 't3' } });
    calls.write({ call_id: 4, method: 'echo', payload: Buffer.from('{"b":2}'), task: { id: 't4' } });
    calls.write({ call_id: 5, method: 'echo', payload: Buffer.from(`"${'x'.repeat(400)}"`), task: { id: 't5' } });
    const chatty = JSON.stringify({ name: 'TooChatty', message: 'é'.repeat(400), permanent: true });
    calls.write({ call_id: 6, method: 'fail', payload: Buffer.from(chatty), task: { id: 't6' } });
    await waitFor(() => answers.length === 4);
    assert.equal(Number(answers[3].call_id), 3, 'the slow call answers last');
    answers.sort((a, b) => Number(a.call_id) - Number(b.call_id));
    assert.deepEqual(
      answers.map((a) => [Number(a.call_id), a.result?.toString() ?? '', Number(a.result_size ?? 0)]),
      [
        [3, '{"ms":100}', 0],
        [4, '{"b":2}', 0],
        [5, '', 402],
        [6, '', 0],
      ],
    );
    // An error over the limit is cut, keeping its name: still a failure.
    const failed = answers[3].error;
    assert.equal(failed.name, 'TooChatty');
    assert.equal(failed.permanent, true);
    assert.match(failed.message, /^é+ … \(800 bytes cut: the host takes answers of up to 300 bytes\)$/);
    calls.end();
    await ended;

    await unary(controller, 'Shutdown', {}).catch(() => {});
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    assert.ok(!existsSync(address), 'the socket is removed');
    for (const c of [worker, health, stdio, controller]) c.close();
  });
});

describe('an uncaught exception outside any call', () => {
  it('ends the worker, with the stack on stderr', async () => {
    const { child, stderr } = start({ ...cookie, PLUGIN_PROTOCOL_VERSIONS: '1' });
    const [line] = await once(createInterface({ input: child.stdout }), 'line');
    const codec = loadCodec();
    const Worker = grpc.makeGenericClientConstructor(codec.service('taskhost.worker.v1.Worker'), 'Worker');
    const worker = new Worker(`unix:${line.split('|')[3]}`, grpc.credentials.createInsecure());
    const out = await new Promise((resolve, reject) =>
      worker.Invoke({ call_id: 1, method: 'late', payload: Buffer.from('{"message":"too late","afterMs":300}'), task: { id: 't' } }, (err, res) =>
        err ? reject(err) : resolve(res),
      ),
    );
    assert.equal(out.result.toString(), '"returned"');
    const [code] = await once(child, 'exit');
    assert.equal(code, 1);
    assert.match(stderr(), /uncaught exception outside any method call:\nError: testworker: too late\n\s+at /);
    worker.close();
  });
});

async function waitFor(cond) {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}
