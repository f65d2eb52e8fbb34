// A twin.org background-task handler module, as a twin application
// registers it:
//
//   registerHandler('catalogue-count', './workers/catalogueWorker', 'count',
//     onStateChange, { initialiseMethod: 'initialise', shutdownMethod: 'shutdown' })
//
// taskhost runs it unchanged (runtime = "node", module = …): count(engineCloneData,
// payload) per task, with the handler's config as engineCloneData.
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

let dir;

export async function initialise(engineCloneData) {
  dir = resolve(engineCloneData.catalogue_dir ?? '.');
}

export async function count(engineCloneData, payload) {
  const text = await readFile(join(dir, `${payload.source}.csv`), 'utf8');
  const rows = text.split('\n').slice(1).filter((l) => l.trim() !== '');
  return { source: payload.source, rows: rows.length };
}

export async function shutdown() {
  dir = undefined;
}
