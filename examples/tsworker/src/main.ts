// tsworker: a taskhost plugin in TypeScript. Its report method reads a
// tenant's catalogue CSV and reports its stock value, with progress,
// honouring cancellation; initialise and shutdown get the handler's config.
import { createReadStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

import { permanent, serve, TaskError, type Context, type Task } from '@taskhost/sdk';

import { parseItem, parseLine, Summary, type Report } from './catalogue.js';

interface Config {
  catalogue_dir?: string;
}

interface ReportPayload {
  source: string;
  top?: number;
}

let catalogueDir = '.';

async function initialise(ctx: Context, _task: Task, config: Config): Promise<void> {
  catalogueDir = resolve(config.catalogue_dir ?? '.');
  ctx.log.info('catalogues from', { dir: catalogueDir });
}

async function report(ctx: Context, task: Task, p: ReportPayload): Promise<Report> {
  if (!p?.source || !/^[a-z0-9-]+$/.test(p.source)) {
    throw permanent(new TaskError('InvalidPayload', `source ${JSON.stringify(p?.source)}: want a tenant name like "tenant-a"`));
  }
  const file = join(catalogueDir, `${p.source}.csv`);
  const summary = new Summary();
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let header = true;
  for await (const line of lines) {
    ctx.signal.throwIfAborted();
    if (header) {
      header = false;
      continue;
    }
    if (line.trim() === '') continue;
    summary.add(parseItem(parseLine(line)));
    if (summary.rows % 50 === 0) ctx.progress(Math.min(99, summary.rows / 2.5), `${summary.rows} rows read`);
  }
  const r = summary.report(p.top ?? 3);
  ctx.log.info('catalogue reported', { source: p.source, rows: r.rows, bad: r.bad, attempt: task.attempt });
  return r;
}

async function shutdown(ctx: Context): Promise<void> {
  ctx.log.debug('bye');
}

serve({ initialise, report, shutdown });
