import assert from 'node:assert/strict';
import { it } from 'node:test';

import { handshakeLine, negotiate } from '../dist/handshake.js';

it('negotiates the highest common version, else our lowest', () => {
  assert.equal(negotiate('1'), 1);
  assert.equal(negotiate('3,1,2', [1, 2]), 2);
  assert.equal(negotiate('7', [1, 2]), 1);
  assert.equal(negotiate(undefined, [1, 2]), 1);
  assert.equal(negotiate('x, 2', [1, 2]), 2);
});

it('prints five fields, and the certificate as a sixth without padding', () => {
  assert.equal(handshakeLine(1, 'unix', '/tmp/plugin1'), '1|1|unix|/tmp/plugin1|grpc\n');
  assert.equal(handshakeLine(1, 'tcp', '127.0.0.1:5000', Buffer.from([1, 2, 3, 4])), '1|1|tcp|127.0.0.1:5000|grpc|AQIDBA\n');
});
