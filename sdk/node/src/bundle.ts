// Loading a CommonJS bundle of the build (dist/grpc.cjs) with the V8 code
// cache the build made for it, which Node 20 has no switch for (Node 22's
// module.enableCompileCache). Compiling grpc-js's 600 KB anew took ~7 of
// the ~21 ms its loading costs every plugin start; with the cache, V8
// skips the parse and the compile of the functions the bundle runs as it
// loads.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as vm from 'node:vm';

/** How a bundle was compiled: with its cache, without one, or V8 refused it. */
export type CacheUse = 'used' | 'none' | 'rejected';

/** cacheFile is where the build puts the code cache of a bundle. */
export function cacheFile(file: string): string {
  return file + '.cache';
}

function compile(file: string, cachedData?: Buffer): vm.Script {
  // CommonJS's own wrapper: the bundle runs as require would run it.
  const source = '(function (exports, require, module, __filename, __dirname) { ' + readFileSync(file, 'utf8') + '\n});';
  return new vm.Script(source, { filename: file, cachedData });
}

function run(script: vm.Script, file: string): unknown {
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, dirname(file));
  return module.exports;
}

/**
 * loadBundle runs the CommonJS file at file (an absolute path) and returns
 * its exports, compiled with its code cache where the build left one that
 * this node accepts (a cache made by another Node version, or under other
 * V8 flags, is refused by V8, and the file compiles as usual).
 */
export function loadBundle(file: string): { exports: unknown; cache: CacheUse } {
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile(file));
  } catch {
    // None: compile.
  }
  const script = compile(file, cachedData);
  const cache: CacheUse = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
  return { exports: run(script, file), cache };
}

/**
 * writeBundleCache loads the bundle at file and writes its code cache,
 * taken once it has loaded, so that the cache holds the functions its
 * loading compiled. The build runs it with the node that will run the
 * plugins.
 */
export function writeBundleCache(file: string): void {
  const script = compile(file);
  run(script, file);
  writeFileSync(cacheFile(file), script.createCachedData());
}
