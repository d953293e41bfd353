/**
 * etcd's `TxnResponse` decoded straight from its protobuf bytes into the object etcd3's own
 * deserializer gives (proto-loader with etcd3's options: 64-bit integers as decimal text, defaults
 * filled in, the `response` oneof named, bytes as Buffers over the message), with range-decode.ts's
 * parts. Every write is a transaction (each CNI ADD's block, handle and endpoint), and protobufjs
 * made a `Long` of each header's revision, term and ids and their text through `Long`'s division.
 * Pure; throws on malformed input, as protobufjs does.
 */
import { fieldEnd, header, int64Text, keyValue, rangeResponse, Reader, type RangeKeyValue, type RangeResponseObject } from './range-decode.ts';

type Header = RangeResponseObject['header'];

/** One response of a transaction as etcd3 gives it: the member etcd set, named by `response`. */
export interface ResponseOpObject {
  response?: 'response_range' | 'response_put' | 'response_delete_range' | 'response_txn';
  response_range?: RangeResponseObject;
  response_put?: { header: Header; prev_kv: RangeKeyValue | null };
  response_delete_range?: { header: Header; deleted: string; prev_kvs: RangeKeyValue[] };
  response_txn?: TxnResponseObject;
}

/** A transaction's response as etcd3 gives it. */
export interface TxnResponseObject {
  header: Header;
  succeeded: boolean;
  responses: ResponseOpObject[];
}

function putResponse(r: Reader, end: number): NonNullable<ResponseOpObject['response_put']> {
  const out: NonNullable<ResponseOpObject['response_put']> = { header: null, prev_kv: null };
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    if ((tag & 7) === 2 && (field === 1 || field === 2)) {
      const fend = fieldEnd(r);
      if (field === 1) out.header = header(r, fend);
      else out.prev_kv = keyValue(r, fend);
      r.pos = fend;
    } else r.skip(tag & 7);
  }
  return out;
}

/**
 * The fields a delete-range response and a transaction response share the layout of: the header
 * (1), a varint (2) given to `onVarint` as its low and high words, and a repeated message (3) read
 * by `item` into `items`. Returns the header.
 */
function headerVarintItems<T>(r: Reader, end: number, items: T[], item: (r: Reader, end: number) => T, onVarint: (lo: number, hi: number) => void): Header {
  let head: Header = null;
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === 2 && (field === 1 || field === 3)) {
      const fend = fieldEnd(r);
      if (field === 1) head = header(r, fend);
      else items.push(item(r, fend));
      r.pos = fend;
    } else if (wire === 0 && field === 2) {
      const lo = r.varint();
      onVarint(lo, r.hi);
    } else r.skip(wire);
  }
  return head;
}

function deleteResponse(r: Reader, end: number): NonNullable<ResponseOpObject['response_delete_range']> {
  const out: NonNullable<ResponseOpObject['response_delete_range']> = { header: null, deleted: '0', prev_kvs: [] };
  out.header = headerVarintItems(r, end, out.prev_kvs, keyValue, (lo, hi) => (out.deleted = int64Text(lo, hi, true)));
  return out;
}

const MEMBERS = ['response_range', 'response_put', 'response_delete_range', 'response_txn'] as const;

function responseOp(r: Reader, end: number): ResponseOpObject {
  const out: ResponseOpObject = {};
  while (r.pos < end) {
    const tag = r.varint();
    const field = tag >>> 3;
    if ((tag & 7) === 2 && field >= 1 && field <= 4) {
      const fend = fieldEnd(r);
      if (field === 1) out.response_range = rangeResponse(r, fend);
      else if (field === 2) out.response_put = putResponse(r, fend);
      else if (field === 3) out.response_delete_range = deleteResponse(r, fend);
      else out.response_txn = txnResponse(r, fend);
      r.pos = fend;
    } else r.skip(tag & 7);
  }
  // protobufjs names the last member present in declaration order (etcd sends one).
  for (const m of MEMBERS) if (out[m] !== undefined) out.response = m;
  return out;
}

function txnResponse(r: Reader, end: number): TxnResponseObject {
  const out: TxnResponseObject = { header: null, succeeded: false, responses: [] };
  out.header = headerVarintItems(r, end, out.responses, responseOp, (lo, hi) => (out.succeeded = lo !== 0 || hi !== 0));
  return out;
}

/** Decodes an `etcdserverpb.TxnResponse` as etcd3's own deserializer would. */
export function decodeTxnResponse(buf: Buffer): TxnResponseObject {
  return txnResponse(new Reader(buf), buf.length);
}
