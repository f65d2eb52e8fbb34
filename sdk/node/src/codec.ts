// The protobuf wire format of the plugin's services, table-driven: the
// tables (dist/proto/descriptors.json) are generated at build time from
// shared/proto/worker.proto and proto/*.proto (scripts/build.mjs), so the
// contract has one source, and a plugin loads neither a .proto parser nor
// a code generator when it starts (@grpc/proto-loader with protobufjs
// took about a third of a cold start).

import { readFileSync } from 'node:fs';

import type { ServiceDefinition } from '@grpc/grpc-js';

/** A field: [name, number, type, label, key type of a map]. */
type FieldDesc = [name: string, id: number, type: string, label: '' | 'repeated' | 'optional' | 'map', keyType?: string];

/** What scripts/build.mjs generates. */
export interface Descriptors {
  messages: Record<string, FieldDesc[]>;
  enums: string[];
  services: Record<string, { name: string; request: string; response: string; requestStream: boolean; responseStream: boolean }[]>;
}

/** A decoded message: the proto field names as keys. */
export type Message = Record<string, unknown>;

const varintTypes = new Set(['int32', 'int64', 'uint32', 'uint64', 'bool', 'sint32', 'sint64']);

export class Codec {
  private readonly byNumber = new Map<string, Map<number, FieldDesc>>();

  constructor(private readonly d: Descriptors) {
    for (const [name, fields] of Object.entries(d.messages)) {
      this.byNumber.set(name, new Map(fields.map((f) => [f[1], f])));
    }
  }

  encode(type: string, m: Message): Buffer {
    const w = new Writer();
    this.write(w, type, m);
    return w.finish();
  }

  decode(type: string, b: Uint8Array): Message {
    const r = new Reader(b);
    return this.read(r, type, b.length);
  }

  /** service returns the grpc-js definition of a service. */
  service(name: string): ServiceDefinition {
    const methods = this.d.services[name];
    if (!methods) throw new Error(`no service ${name} in the descriptors`);
    const def: Record<string, unknown> = {};
    for (const m of methods) {
      def[m.name] = {
        path: `/${name}/${m.name}`,
        requestStream: m.requestStream,
        responseStream: m.responseStream,
        requestSerialize: (v: Message) => this.encode(m.request, v),
        requestDeserialize: (b: Buffer) => this.decode(m.request, b),
        responseSerialize: (v: Message) => this.encode(m.response, v),
        responseDeserialize: (b: Buffer) => this.decode(m.response, b),
        originalName: m.name,
      };
    }
    return def as unknown as ServiceDefinition;
  }

  private write(w: Writer, type: string, m: Message): void {
    const fields = this.d.messages[type];
    if (!fields) throw new Error(`no message ${type} in the descriptors`);
    for (const [name, id, ftype, label, keyType] of fields) {
      const v = m[name];
      if (v === undefined || v === null) continue;
      if (label === 'repeated') {
        for (const item of v as unknown[]) this.writeValue(w, id, ftype, item, true);
      } else if (label === 'map') {
        for (const [k, item] of Object.entries(v as Record<string, unknown>)) {
          const entry = new Writer();
          this.writeValue(entry, 1, keyType!, k, true);
          this.writeValue(entry, 2, ftype, item, true);
          w.tag(id, 2).bytes(entry.finish());
        }
      } else {
        this.writeValue(w, id, ftype, v, label === 'optional');
      }
    }
  }

  /** writeValue writes one field value; a proto3 default is left out unless always. */
  private writeValue(w: Writer, id: number, type: string, v: unknown, always: boolean): void {
    switch (type) {
      case 'string': {
        const s = String(v);
        if (s !== '' || always) w.tag(id, 2).bytes(Buffer.from(s, 'utf8'));
        return;
      }
      case 'bytes': {
        const b = v as Uint8Array;
        if (b.length > 0 || always) w.tag(id, 2).bytes(b);
        return;
      }
      case 'double': {
        const n = Number(v);
        if (n !== 0 || Object.is(n, -0) || always) w.tag(id, 1).double(n);
        return;
      }
      case 'bool':
        if (v || always) w.tag(id, 0).varint(v ? 1 : 0);
        return;
    }
    if (varintTypes.has(type) || this.d.enums.includes(type)) {
      const n = typeof v === 'bigint' ? v : Number(v);
      if (n != 0 || always) w.tag(id, 0).varint(n); // eslint-disable-line eqeqeq
      return;
    }
    // A message.
    const sub = new Writer();
    this.write(sub, type, v as Message);
    w.tag(id, 2).bytes(sub.finish());
  }

  private read(r: Reader, type: string, end: number): Message {
    const fields = this.byNumber.get(type);
    if (!fields) throw new Error(`no message ${type} in the descriptors`);
    const m: Message = {};
    for (const [name, , , label] of fields.values()) {
      if (label === 'repeated') m[name] = [];
      else if (label === 'map') m[name] = {};
    }
    while (r.pos < end) {
      const key = r.varint();
      const id = key >>> 3;
      const wire = key & 7;
      const f = fields.get(id);
      if (!f) {
        r.skip(wire);
        continue;
      }
      const [name, , ftype, label, keyType] = f;
      if (label === 'map') {
        const len = r.varint();
        const stop = r.pos + len;
        let k: unknown = keyType === 'string' ? '' : 0;
        let v: unknown = this.zero(ftype);
        while (r.pos < stop) {
          const ek = r.varint();
          if (ek >>> 3 === 1) k = this.readValue(r, keyType!, ek & 7);
          else if (ek >>> 3 === 2) v = this.readValue(r, ftype, ek & 7);
          else r.skip(ek & 7);
        }
        (m[name] as Record<string, unknown>)[String(k)] = v;
      } else if (label === 'repeated') {
        const list = m[name] as unknown[];
        if (wire === 2 && ftype !== 'string' && ftype !== 'bytes' && !this.d.messages[ftype]) {
          const len = r.varint(); // packed
          const stop = r.pos + len;
          while (r.pos < stop) list.push(this.readValue(r, ftype, ftype === 'double' ? 1 : 0));
        } else {
          list.push(this.readValue(r, ftype, wire));
        }
      } else {
        m[name] = this.readValue(r, ftype, wire);
      }
    }
    if (r.pos !== end) throw new Error(`message ${type}: read past its end`);
    return m;
  }

  private readValue(r: Reader, type: string, wire: number): unknown {
    switch (type) {
      case 'string':
        return r.bytes().toString('utf8');
      case 'bytes':
        return r.bytes();
      case 'double':
        return r.double();
      case 'bool':
        return r.varint() !== 0;
      case 'int32':
        return r.int64() | 0;
      case 'int64':
        return r.int64();
    }
    if (varintTypes.has(type) || this.d.enums.includes(type)) return r.varint();
    if (wire !== 2) throw new Error(`field of message type ${type} has wire type ${wire}`);
    const len = r.varint();
    return this.read(r, type, r.pos + len);
  }

  private zero(type: string): unknown {
    switch (type) {
      case 'string':
        return '';
      case 'bytes':
        return Buffer.alloc(0);
      case 'bool':
        return false;
    }
    return this.d.messages[type] ? {} : 0;
  }
}

/** loadCodec reads the descriptors generated next to this module. */
export function loadCodec(): Codec {
  return new Codec(JSON.parse(readFileSync(new URL('./proto/descriptors.json', import.meta.url), 'utf8')) as Descriptors);
}

class Writer {
  private chunks: Buffer[] = [];
  private buf = Buffer.allocUnsafe(64);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.chunks.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(Math.max(64, n));
    this.pos = 0;
  }

  tag(id: number, wire: number): this {
    return this.varint(id * 8 + wire);
  }

  /** varint writes a non-negative number below 2^53, or any 64-bit integer as a bigint or negative number. */
  varint(v: number | bigint): this {
    if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) {
      this.ensure(10);
      while (v > 0x7f) {
        this.buf[this.pos++] = (v % 0x80) | 0x80;
        v = Math.floor(v / 0x80);
      }
      this.buf[this.pos++] = v;
      return this;
    }
    let b = BigInt.asUintN(64, BigInt(v));
    this.ensure(10);
    while (b > 0x7fn) {
      this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
      b >>= 7n;
    }
    this.buf[this.pos++] = Number(b);
    return this;
  }

  double(v: number): this {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  finish(): Buffer {
    const last = this.buf.subarray(0, this.pos);
    return this.chunks.length === 0 ? last : Buffer.concat([...this.chunks, last]);
  }
}

class Reader {
  pos = 0;
  private readonly b: Buffer;

  constructor(b: Uint8Array) {
    this.b = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  }

  /** varint reads an unsigned varint as a number (exact below 2^53). */
  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.b.length) throw new Error('truncated varint');
      const byte = this.b[this.pos++];
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 0x80;
    }
    throw new Error('varint longer than 10 bytes');
  }

  /** int64 reads a signed 64-bit varint as a number. */
  int64(): number {
    const start = this.pos;
    const v = this.varint();
    if (v <= Number.MAX_SAFE_INTEGER) return v;
    // Negative (or huge): decode exactly.
    this.pos = start;
    let b = 0n;
    let shift = 0n;
    for (;;) {
      const byte = this.b[this.pos++];
      b |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) break;
      shift += 7n;
    }
    return Number(BigInt.asIntN(64, b));
  }

  double(): number {
    const v = this.b.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(): Buffer {
    const len = this.varint();
    if (this.pos + len > this.b.length) throw new Error('truncated length-delimited field');
    const out = this.b.subarray(this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        return;
      case 2: {
        const len = this.varint();
        this.pos += len;
        return;
      }
      case 5:
        this.pos += 4;
        return;
    }
    throw new Error(`unknown wire type ${wire}`);
  }
}
