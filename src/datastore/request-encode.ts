/**
 * etcd's `RangeRequest` and `WatchRequest` encoded straight into protobuf bytes (pure), for the
 * requests Margay makes (etcd.ts: reads, listings, the revision; a watch's creation). etcd3's
 * encoder (protobufjs) generates its code for a message type at the first request of that type
 * (`new Function`: never in V8's code cache), ~4 ms each on an agent's cold start, and converts
 * every request through `fromObject` first. The bytes are those protobufjs writes: the fields
 * present (not undefined or null) in field-number order, an int64 as a varint, a bool as 0 or 1.
 * A request with any other field or value type gets undefined: etcd3's encoder takes it.
 */

/** Field numbers of `etcdserverpb.RangeRequest` that Margay sets (rpc.proto). */
const RANGE_FIELDS: Record<string, { no: number; kind: Kind }> = {
  key: { no: 1, kind: 'bytes' },
  range_end: { no: 2, kind: 'bytes' },
  limit: { no: 3, kind: 'int64' },
  revision: { no: 4, kind: 'int64' },
  count_only: { no: 9, kind: 'bool' },
};

/** Field numbers of `etcdserverpb.WatchCreateRequest` that Margay sets (rpc.proto). */
const WATCH_CREATE_FIELDS: Record<string, { no: number; kind: Kind }> = {
  key: { no: 1, kind: 'bytes' },
  range_end: { no: 2, kind: 'bytes' },
  start_revision: { no: 3, kind: 'int64' },
  prev_kv: { no: 6, kind: 'bool' },
};

/** `etcdserverpb.WatchRequest.create_request`. */
const WATCH_CREATE_REQUEST = 1;

type Kind = 'bytes' | 'int64' | 'bool';

/** Protobuf wire types. */
const VARINT = 0;
const LENGTH_DELIMITED = 2;

/** A `RangeRequest`'s bytes, or undefined when it holds a field or value this encoder does not write. */
export function encodeRangeRequest(req: unknown): Buffer | undefined {
  return encodeFields(req, RANGE_FIELDS);
}

/** A `WatchRequest` creating a watch: its bytes, or undefined for any other request (a cancel, other fields). */
export function encodeWatchRequest(req: unknown): Buffer | undefined {
  if (!isPlainObject(req)) return undefined;
  const keys = Object.keys(req);
  if (keys.length !== 1 || keys[0] !== 'create_request') return undefined;
  const create = encodeFields(req.create_request, WATCH_CREATE_FIELDS);
  if (create === undefined) return undefined;
  const out: number[] = [];
  varint(out, (WATCH_CREATE_REQUEST << 3) | LENGTH_DELIMITED);
  varint(out, create.length);
  return Buffer.concat([Buffer.from(out), create]);
}

/** The fields of `message` laid out by `fields`, in field-number order; undefined when one is not known or not writable. */
function encodeFields(message: unknown, fields: Record<string, { no: number; kind: Kind }>): Buffer | undefined {
  if (!isPlainObject(message)) return undefined;
  const present: Array<{ no: number; kind: Kind; value: unknown }> = [];
  for (const [name, value] of Object.entries(message)) {
    if (value === undefined || value === null) continue;
    const field = fields[name];
    if (field === undefined) return undefined;
    present.push({ ...field, value });
  }
  present.sort((a, b) => a.no - b.no);
  const head: number[] = [];
  const parts: Buffer[] = [];
  for (const { no, kind, value } of present) {
    if (kind === 'bytes') {
      if (!(value instanceof Uint8Array)) return undefined;
      varint(head, (no << 3) | LENGTH_DELIMITED);
      varint(head, value.length);
      parts.push(Buffer.from(head.splice(0)), Buffer.from(value.buffer, value.byteOffset, value.length));
    } else if (kind === 'int64') {
      if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return undefined;
      varint(head, (no << 3) | VARINT);
      varint(head, value);
    } else {
      if (typeof value !== 'boolean') return undefined;
      varint(head, (no << 3) | VARINT);
      head.push(value ? 1 : 0);
    }
  }
  parts.push(Buffer.from(head));
  return Buffer.concat(parts);
}

/** Appends `n` (a non-negative safe integer) as a base-128 varint. */
function varint(out: number[], n: number): void {
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
