// The catalogue CSV (examples/importworker's format: sku,name,price,quantity)
// and the report made of it. No taskhost here: plain functions, tested
// on their own.

export interface Item {
  sku: string;
  name: string;
  price: number;
  quantity: number;
}

export interface Report {
  rows: number;
  bad: number;
  stockValue: number;
  top: { sku: string; value: number }[];
}

/** parseLine splits one CSV line, with double-quoted fields. */
export function parseLine(line: string): string[] {
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else field += c;
  }
  fields.push(field);
  return fields;
}

/** parseItem reads a row, or says why it is bad. */
export function parseItem(fields: string[]): Item | string {
  if (fields.length !== 4) return `${fields.length} fields, want 4`;
  const [sku, name, p, q] = fields;
  const price = Number(p);
  const quantity = Number(q);
  if (!sku || !name) return 'empty sku or name';
  if (!Number.isFinite(price) || price < 0) return `price ${JSON.stringify(p)} is not a number ≥ 0`;
  if (!Number.isInteger(quantity) || quantity < 0) return `quantity ${JSON.stringify(q)} is not a whole number ≥ 0`;
  return { sku, name, price, quantity };
}

/** Summary accumulates a report row by row, as importworker counts rows. */
export class Summary {
  private readonly values: { sku: string; value: number }[] = [];
  private readonly seen = new Set<string>();
  rows = 0;
  bad = 0;

  add(item: Item | string): void {
    this.rows++;
    // A bad row, or a repeated sku (the first one counts).
    if (typeof item === 'string' || this.seen.has(item.sku)) {
      this.bad++;
      return;
    }
    this.seen.add(item.sku);
    this.values.push({ sku: item.sku, value: Math.round(item.price * item.quantity * 100) / 100 });
  }

  report(top: number): Report {
    const sorted = [...this.values].sort((a, b) => b.value - a.value || a.sku.localeCompare(b.sku));
    const stockValue = Math.round(this.values.reduce((s, v) => s + v.value, 0) * 100) / 100;
    return { rows: this.rows, bad: this.bad, stockValue, top: sorted.slice(0, top) };
  }
}
