import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { parseItem, parseLine, Summary } from '../dist/catalogue.js';
import { count, initialise } from '../workers/catalogueWorker.mjs';

const csv = fileURLToPath(new URL('../../importworker/catalogue/tenant-a.csv', import.meta.url));

it('reads quoted fields', () => {
  assert.deepEqual(parseLine('TA-3,"Compact Backpack, pack of 2",24.10,111'), ['TA-3', 'Compact Backpack, pack of 2', '24.10', '111']);
  assert.deepEqual(parseLine('a,"say ""hi""",1,2'), ['a', 'say "hi"', '1', '2']);
});

it('says why a row is bad', () => {
  assert.deepEqual(parseItem(['a', 'b', '1.5', '2']), { sku: 'a', name: 'b', price: 1.5, quantity: 2 });
  assert.match(parseItem(['a', 'b', 'x', '2']), /price "x"/);
  assert.match(parseItem(['a', 'b', '1', '2.5']), /quantity "2.5"/);
  assert.match(parseItem(['a', 'b']), /2 fields/);
});

it('reports the tenant-a catalogue: 250 rows, 2 of them bad', () => {
  const s = new Summary();
  for (const line of readFileSync(csv, 'utf8').split('\n').slice(1)) if (line.trim()) s.add(parseItem(parseLine(line)));
  const r = s.report(2);
  assert.equal(r.rows, 250);
  assert.equal(r.bad, 2);
  assert.equal(r.top.length, 2);
  assert.ok(r.top[0].value >= r.top[1].value);
});

it('counts rows as a twin module', async () => {
  await initialise({ catalogue_dir: fileURLToPath(new URL('../../importworker/catalogue', import.meta.url)) });
  assert.deepEqual(await count({}, { source: 'tenant-a' }), { source: 'tenant-a', rows: 250 });
});
