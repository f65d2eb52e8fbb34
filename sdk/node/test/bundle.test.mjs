import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { cacheFile, loadBundle } from '../dist/bundle.js';

const grpcBundle = fileURLToPath(new URL('../dist/grpc.cjs', import.meta.url));

describe('loadBundle', () => {
  const dir = mkdtempSync(join(tmpdir(), 'taskhost-bundle-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads grpc-js with the code cache the build made for this node', () => {
    const { exports, cache } = loadBundle(grpcBundle);
    assert.equal(cache, 'used');
    assert.equal(typeof exports.Server, 'function');
  });

  it('compiles a bundle without a cache, or with one V8 refuses, as require would', () => {
    // Sources other than the first test's, and than each other's: V8
    // would take a source's compilation from its cache of this process.
    const copy = (name) => {
      const file = join(dir, name);
      writeFileSync(file, readFileSync(grpcBundle, 'utf8') + `\n// ${name}\n`);
      return file;
    };
    let got = loadBundle(copy('uncached.cjs'));
    assert.equal(got.cache, 'none');
    assert.equal(typeof got.exports.Server, 'function');

    const refused = copy('refused.cjs');
    writeFileSync(cacheFile(refused), Buffer.from('not a code cache'));
    got = loadBundle(refused);
    assert.equal(got.cache, 'rejected');
    assert.equal(typeof got.exports.Server, 'function');
  });

  it('runs a bundle as CommonJS: its own module, exports, require, __filename and __dirname', () => {
    const file = join(dir, 'mod.cjs');
    writeFileSync(file, "module.exports = { file: __filename, dir: __dirname, sep: require('node:path').sep, same: exports === module.exports };");
    const { exports, cache } = loadBundle(file);
    assert.equal(cache, 'none');
    assert.deepEqual(exports, { file, dir, sep: '/', same: true });
  });
});
