import assert from 'node:assert/strict';
import { it } from 'node:test';

import { newLogger } from '../dist/index.js';

it('writes hclog JSON lines, fields in order, errors as text', () => {
  const lines = [];
  const log = newLogger((l) => lines.push(l), 'debug').named('a').named('b').with({ first: 1 });
  log.trace('dropped');
  log.debug('kept', { second: new Error('bad'), big: 2n });
  const o = { me: null };
  o.me = o;
  log.error('circular', { o });
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('\n')));
  const first = JSON.parse(lines[0]);
  assert.deepEqual(Object.keys(first), ['@level', '@message', '@timestamp', '@module', 'first', 'second', 'big']);
  assert.equal(first['@module'], 'a.b');
  assert.equal(first.second, 'Error: bad');
  assert.equal(first.big, '2');
  assert.deepEqual(JSON.parse(lines[1]).o, { me: '[circular]' });
});
