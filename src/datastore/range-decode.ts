/**
 * etcd's `RangeResponse` decoded straight from its protobuf bytes into the object etcd3 hands
 * over (proto-loader's `toObject` with `longs: String, defaults: true`: 64-bit integers as decimal
 * text, bytes as Buffers over the message). Listing a prefix decodes thousands of key-value pairs
 * at a cold start (6,000 for 1,000 endpoints and 5,000 policies), and protobufjs makes a `Long`
 * of every revision, then its decimal text through `Long`'s division (~70 ms of the agent's start
 * on this machine, ~15 ms this way). Used for reads and listings (etcd.ts), its parts for watch
 * and transaction responses (watch-decode.ts, txn-decode.ts); the other calls (leases,
 * maintenance) go through protobufjs. Pure; throws on malformed input, as protobufjs does.
 */

/** A key-value pair as etcd3 gives it. */
export interface RangeKeyValue {
  key: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  value: Buffer;
  lease: string;
}

/** A range response as etcd3 gives it. */
export interface RangeResponseObject {
  kvs: RangeKeyValue[];
  header: { cluster_id: string; member_id: string; revision: string; raft_term: string } | null;
  more: boolean;
  count: string;
}

/** A cursor over one message's bytes. */
export class Reader {
  pos = 0;
  /** The high 32 bits of the last varint read. */
  hi = 0;
  constructor(readonly buf: Buffer) {}

  /** A varint: its low 32 bits returned (unsigned), its high ones in {@link hi}. */
  varint(): number {
    let lo = 0;
    for (let shift = 0; shift < 28; shift += 7) {
      const b = this.#byte();
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.hi = 0;
        return lo >>> 0;
      }
    }
    let b = this.#byte();
    lo |= (b & 0x0f) << 28;
    let hi = (b & 0x7f) >> 4;
    for (let shift = 3; b >= 0x80; shift += 7) {
      if (shift > 31) throw new Error('invalid varint encoding');
      b = this.#byte();
      hi |= (b & 0x7f) << shift;
    }
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  /** A length-delimited field's bytes (a view, as protobufjs gives them in Node). */
  bytes(): Buffer {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.buf.length) throw new RangeError('index out of range');
    const out = this.buf.subarray(this.pos, end);
    this.pos = end;
    return out;
  }

  /** Skips a field of wire type `wire`. */
  skip(wire: number): void {
    switch (wire) {
      case 0:
        this.varint();
        return;
      case 1:
        this.#advance(8);
        return;
      case 2:
        this.bytes();
        return;
      case 5:
        this.#advance(4);
        return;
      default:
        throw new Error(`invalid wire type ${wire} at offset ${this.pos}`);
    }
  }

  #byte(): number {
    if (this.pos >= this.buf.length) throw new RangeError('index out of range');
    return this.buf[this.pos++]!;
  }

  #advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError('index out of range');
    this.pos += n;
  }
}

/** The decimal text of a 64-bit integer given as two 32-bit halves. */
export function int64Text(lo: number, hi: number, signed: boolean): string {
  if (hi < 0x200000) return String(hi * 4294967296 + lo); // below 2^53: exact as a number
  const v = (BigInt(hi) << 32n) | BigInt(lo);
  return String(signed ? BigInt.asIntN(64, v) : v);
}

/** An `mvccpb.KeyValue` ending at `end`. */
export function keyValue(r: Reader, end: number): RangeKeyValue {
  let key: Buffer | undefined;
  let value: Buffer | undefined;
  let create = '0';
  let mod = '0';
  let version = '0';
  let lease = '0';
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2 && (field === 1 || field === 5)) {
      if (field === 1) key = r.bytes();
      else value = r.bytes();
    } else if (wire === 0 && field >= 2 && field <= 6 && field !== 5) {
      const text = int64Text(r.varint(), r.hi, true);
      if (field === 2) create = text;
      else if (field === 3) mod = text;
      else if (field === 4) version = text;
      else lease = text;
    } else r.skip(wire);
  }
  return { key: key ?? Buffer.alloc(0), create_revision: create, mod_revision: mod, version, value: value ?? Buffer.alloc(0), lease };
}

/** An `etcdserverpb.ResponseHeader` ending at `end`. */
export function header(r: Reader, end: number): NonNullable<RangeResponseObject['header']> {
  const out = { cluster_id: '0', member_id: '0', revision: '0', raft_term: '0' };
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire !== 0 || field < 1 || field > 4) {
      r.skip(wire);
      continue;
    }
    const lo = r.varint();
    if (field === 1) out.cluster_id = int64Text(lo, r.hi, false);
    else if (field === 2) out.member_id = int64Text(lo, r.hi, false);
    else if (field === 3) out.revision = int64Text(lo, r.hi, true);
    else out.raft_term = int64Text(lo, r.hi, false);
  }
  return out;
}

/** Decodes an `etcdserverpb.RangeResponse` as etcd3's own deserializer would. */
export function decodeRangeResponse(buf: Buffer): RangeResponseObject {
  return rangeResponse(new Reader(buf), buf.length);
}

/** An `etcdserverpb.RangeResponse` ending at `end`. */
export function rangeResponse(r: Reader, end: number): RangeResponseObject {
  const out: RangeResponseObject = { kvs: [], header: null, more: false, count: '0' };
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2 && (field === 1 || field === 2)) {
      const fend = fieldEnd(r);
      if (field === 1) out.header = header(r, fend);
      else out.kvs.push(keyValue(r, fend));
      r.pos = fend;
    } else if (wire === 0 && (field === 3 || field === 4)) {
      const lo = r.varint();
      if (field === 3) out.more = lo !== 0 || r.hi !== 0;
      else out.count = int64Text(lo, r.hi, true);
    } else r.skip(wire);
  }
  return out;
}

/** The end of the length-delimited field whose length is at the reader's position (read). */
export function fieldEnd(r: Reader): number {
  const len = r.varint();
  const end = r.pos + len;
  if (end > r.buf.length) throw new RangeError('index out of range');
  return end;
}
