/**
 * etcd's `WatchResponse` decoded straight from its protobuf bytes into the object etcd3's own
 * deserializer gives (proto-loader with etcd3's options: 64-bit integers as decimal text, enums
 * by name, defaults filled in, bytes as Buffers over the message), with range-decode.ts's parts.
 * Every write the agent makes comes back as a watch response (each CNI ADD's endpoint and IPAM
 * block), and protobufjs made a `Long` of each revision and its text through `Long`'s division
 * (~0.2 ms of the agent's event loop per ADD with its `toObject`). Pure; throws on malformed
 * input, as protobufjs does.
 */
import { fieldEnd, header, int64Text, keyValue, Reader, type RangeKeyValue, type RangeResponseObject } from './range-decode.ts';

/** One event as etcd3 gives it (`type` a number when etcd sends a type this proto does not name). */
export interface WatchEventObject {
  type: 'Put' | 'Delete' | number;
  kv: RangeKeyValue | null;
  prev_kv: RangeKeyValue | null;
}

/** A watch response as etcd3 gives it. */
export interface WatchResponseObject {
  header: RangeResponseObject['header'];
  watch_id: string;
  created: boolean;
  canceled: boolean;
  compact_revision: string;
  cancel_reason: string;
  fragment: boolean;
  events: WatchEventObject[];
}

const EVENT_TYPES = ['Put', 'Delete'] as const;

function event(r: Reader, end: number): WatchEventObject {
  const out: WatchEventObject = { type: 'Put', kv: null, prev_kv: null };
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 0 && field === 1) {
      const n = r.varint() | 0; // an enum is an int32
      out.type = EVENT_TYPES[n] ?? n;
    } else if (wire === 2 && (field === 2 || field === 3)) {
      const fend = fieldEnd(r);
      const kv = keyValue(r, fend);
      r.pos = fend;
      if (field === 2) out.kv = kv;
      else out.prev_kv = kv;
    } else r.skip(wire);
  }
  return out;
}

/** Decodes an `etcdserverpb.WatchResponse` as etcd3's own deserializer would. */
export function decodeWatchResponse(buf: Buffer): WatchResponseObject {
  const r = new Reader(buf);
  const out: WatchResponseObject = {
    header: null,
    watch_id: '0',
    created: false,
    canceled: false,
    compact_revision: '0',
    cancel_reason: '',
    fragment: false,
    events: [],
  };
  while (r.pos < buf.length) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2 && (field === 1 || field === 6 || field === 11)) {
      const end = fieldEnd(r);
      if (field === 1) out.header = header(r, end);
      else if (field === 6) out.cancel_reason = buf.toString('utf8', r.pos, end);
      else out.events.push(event(r, end));
      r.pos = end;
    } else if (wire === 0 && field >= 2 && field <= 7 && field !== 6) {
      const lo = r.varint();
      if (field === 2) out.watch_id = int64Text(lo, r.hi, true);
      else if (field === 5) out.compact_revision = int64Text(lo, r.hi, true);
      else {
        const on = lo !== 0 || r.hi !== 0;
        if (field === 3) out.created = on;
        else if (field === 4) out.canceled = on;
        else out.fragment = on;
      }
    } else r.skip(wire);
  }
  return out;
}
