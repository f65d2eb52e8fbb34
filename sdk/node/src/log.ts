// The plugin's logger: one JSON line per entry on the process's stderr, in
// hclog's JSON shape (@level, @message, @module, @timestamp, then the
// fields in the order given), which the host reads and logs as its own
// entries, tagged with the worker and, inside a method, the task.

/** Fields of a log entry. */
export type Fields = Record<string, unknown>;

/** The levels, lowest first, as hclog names them. */
export const levels = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof levels)[number];

/** A Logger writes entries that the host logs as its own. */
export interface Logger {
  trace(message: string, fields?: Fields): void;
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** with returns a logger that adds fields to every entry. */
  with(fields: Fields): Logger;
  /** named returns a logger whose entries carry @module name (dotted after this one's). */
  named(name: string): Logger;
}

/** A sink takes one finished line, with its newline. */
export type Sink = (line: string) => void;

export function newLogger(sink: Sink, level: Level = 'trace'): Logger {
  return new JSONLogger(sink, levels.indexOf(level), '', {});
}

class JSONLogger implements Logger {
  constructor(
    private readonly sink: Sink,
    private readonly min: number,
    private readonly module: string,
    private readonly implied: Fields,
  ) {}

  trace(message: string, fields?: Fields): void {
    this.log(0, message, fields);
  }
  debug(message: string, fields?: Fields): void {
    this.log(1, message, fields);
  }
  info(message: string, fields?: Fields): void {
    this.log(2, message, fields);
  }
  warn(message: string, fields?: Fields): void {
    this.log(3, message, fields);
  }
  error(message: string, fields?: Fields): void {
    this.log(4, message, fields);
  }

  with(fields: Fields): Logger {
    return new JSONLogger(this.sink, this.min, this.module, { ...this.implied, ...fields });
  }

  named(name: string): Logger {
    return new JSONLogger(this.sink, this.min, this.module ? `${this.module}.${name}` : name, this.implied);
  }

  private log(level: number, message: string, fields?: Fields): void {
    if (level < this.min) return;
    const entry: Fields = { '@level': levels[level], '@message': String(message), '@timestamp': new Date().toISOString() };
    if (this.module) entry['@module'] = this.module;
    for (const [k, v] of Object.entries(this.implied)) entry[k] = v;
    if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = v;
    this.sink(stringify(entry) + '\n');
  }
}

/** stringify is JSON.stringify that writes errors as their message and never throws. */
function stringify(entry: Fields): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(entry, (_key, value: unknown) => {
      if (value instanceof Error) return String(value);
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'object' && value !== null) {
        if (seen.has(value)) return '[circular]';
        seen.add(value);
      }
      return value;
    });
  } catch (err) {
    return JSON.stringify({ '@level': entry['@level'], '@message': entry['@message'], log_error: String(err) });
  }
}
