#!/usr/bin/env node
// The twin runner: runs a twin.org background-task handler module, written
// for twin's registerHandler(type, module, method, …), as a taskhost
// plugin, unchanged. The host starts it for a handler block with
// runtime = "node" and module = "…":
//
//   node twin.js <module> [--initialise=<name>] [--shutdown=<name>]
//
// As twin does, it calls module[method](engineCloneData, payload) for each
// task, initialise(engineCloneData) once per worker and shutdown() before
// the worker stops, with engineCloneData the handler's config (from
// TASKHOST_TWIN_CONFIG, which the runner removes from its environment),
// and runs each task with its context ids set where twin's
// ContextIdStore.getContextIds() reads them.

import { AsyncLocalStorage } from 'node:async_hooks';
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

import { exitUnlessStartedByHost, serve } from './serve.js';
import type { Method, Methods, Task } from './worker.js';

export const configEnv = 'TASKHOST_TWIN_CONFIG';

/** A twin module's exports that the runner can call. */
type TwinFunction = (...args: unknown[]) => unknown;

interface RunnerArgs {
  module: string;
  initialise?: string;
  shutdown?: string;
}

export function parseArgs(argv: string[]): RunnerArgs {
  const out: Partial<RunnerArgs> = {};
  for (const a of argv) {
    if (a.startsWith('--initialise=')) out.initialise = a.slice('--initialise='.length);
    else if (a.startsWith('--shutdown=')) out.shutdown = a.slice('--shutdown='.length);
    else if (a.startsWith('-')) throw new Error(`unknown flag ${a}`);
    else if (out.module === undefined) out.module = a;
    else throw new Error(`more than one module: ${out.module}, ${a}`);
  }
  if (!out.module) throw new Error('usage: taskhost-twin <module> [--initialise=<name>] [--shutdown=<name>]');
  return out as RunnerArgs;
}

/**
 * contextIdStorage returns the AsyncLocalStorage that twin's
 * @twin.org/context keeps its context ids in, making it if no module has
 * yet: its ContextIdStore keeps it in globalThis.__TWIN_SHARED__.asyncHooks,
 * as a promise of the storage (newer versions) or as { contextIds }
 * (0.9.0). The one made here has both shapes, so that either version finds
 * it.
 */
export async function contextIdStorage(): Promise<AsyncLocalStorage<Record<string, string>>> {
  const g = globalThis as { __TWIN_SHARED__?: Record<string, unknown> };
  g.__TWIN_SHARED__ ??= {};
  const existing = g.__TWIN_SHARED__.asyncHooks as
    | (Promise<AsyncLocalStorage<Record<string, string>>> & { contextIds?: AsyncLocalStorage<Record<string, string>> })
    | { contextIds: AsyncLocalStorage<Record<string, string>> }
    | undefined;
  if (existing) return existing instanceof Promise ? existing : existing.contextIds;
  const storage = new AsyncLocalStorage<Record<string, string>>();
  const shared = Object.assign(Promise.resolve(storage), { contextIds: storage });
  g.__TWIN_SHARED__.asyncHooks = shared;
  return storage;
}

/**
 * twinMethods wraps a twin module's functions as SDK methods. A CommonJS
 * module's functions may also sit on its default export.
 */
export function twinMethods(
  mod: Record<string, unknown>,
  engineCloneData: unknown,
  storage: AsyncLocalStorage<Record<string, string>>,
  args: Pick<RunnerArgs, 'initialise' | 'shutdown'>,
): Methods {
  const fns = new Map<string, TwinFunction>();
  const def = mod.default;
  if (typeof def === 'object' && def !== null) {
    for (const [k, v] of Object.entries(def)) if (typeof v === 'function') fns.set(k, v as TwinFunction);
  }
  for (const [k, v] of Object.entries(mod)) if (k !== 'default' && typeof v === 'function') fns.set(k, v as TwinFunction);

  const methods: Methods = {};
  for (const [name, fn] of fns) {
    let m: Method;
    if (name === args.initialise) m = () => fn(engineCloneData);
    else if (name === args.shutdown) m = () => fn();
    else m = (_ctx, task: Task, payload: unknown) => storage.run({ ...task.contextIds }, () => fn(engineCloneData, payload));
    methods[name] = m;
  }
  return methods;
}

async function main(): Promise<void> {
  exitUnlessStartedByHost();
  const args = parseArgs(process.argv.slice(2));
  let engineCloneData: unknown = {};
  const raw = process.env[configEnv];
  delete process.env[configEnv];
  if (raw) engineCloneData = JSON.parse(raw);
  const storage = await contextIdStorage();
  const mod = (await import(pathToFileURL(resolve(args.module)).href)) as Record<string, unknown>;
  serve(twinMethods(mod, engineCloneData, storage, args));
}

// Run as the bin, not when imported (tests import the helpers).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`taskhost-twin: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
