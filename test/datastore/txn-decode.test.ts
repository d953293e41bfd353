/**
 * The transactions' decoder of etcd's TxnResponse (src/datastore/txn-decode.ts) against etcd3's
 * own (proto-loader + protobufjs, with etcd3's options), on random responses (every kind of
 * response, nested transactions) and edge cases, and its installation into the etcd3 client this
 * repository uses (src/datastore/etcd-range.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcdMethod, INT64S, rng, UINT64S } from './etcd-proto.ts';
import { decodedTxn } from '../../src/datastore/etcd-range.ts';
import { decodeTxnResponse } from '../../src/datastore/txn-decode.ts';

const Txn = etcdMethod('KV', 'Txn');

test('random transaction responses decode as etcd3 decodes them', () => {
  const next = rng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const int64 = (): string => (next() < 0.5 ? String(Math.floor(next() * 2 ** 40)) : pick(INT64S));
  const maybeHeader = (): Record<string, unknown> => (next() < 0.8 ? { header: { cluster_id: pick(UINT64S), member_id: pick(UINT64S), revision: int64(), raft_term: pick(UINT64S) } } : {});
  const kv = (): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (next() < 0.9) out.key = Buffer.from(`/calico/ipam/v2/handle/net.${Math.floor(next() * 1e6)}-é`);
    if (next() < 0.8) out.value = Buffer.from(JSON.stringify({ n: next() }));
    for (const f of ['create_revision', 'mod_revision', 'version', 'lease']) if (next() < 0.8) out[f] = int64();
    return out;
  };
  const kvs = (): Record<string, unknown>[] => Array.from({ length: Math.floor(next() * 3) }, kv);
  const txn = (depth: number): Record<string, unknown> => {
    const responses = Array.from({ length: Math.floor(next() * 5) }, () => {
      const kind = Math.floor(next() * (depth > 0 ? 5 : 4));
      if (kind === 0) return { response_range: { ...maybeHeader(), kvs: kvs(), ...(next() < 0.5 ? { more: next() < 0.5, count: int64() } : {}) } };
      if (kind === 1) return { response_put: { ...maybeHeader(), ...(next() < 0.4 ? { prev_kv: kv() } : {}) } };
      if (kind === 2) return { response_delete_range: { ...maybeHeader(), ...(next() < 0.6 ? { deleted: int64() } : {}), prev_kvs: kvs() } };
      if (kind === 3) return {};
      return { response_txn: txn(depth - 1) };
    });
    return { ...maybeHeader(), ...(next() < 0.7 ? { succeeded: next() < 0.7 } : {}), responses };
  };
  for (let round = 0; round < 400; round++) {
    const bytes = Txn.responseSerialize(txn(2));
    assert.deepEqual(decodeTxnResponse(bytes), Txn.responseDeserialize(bytes), `round ${round}`);
  }
});

test('fields it does not know are skipped, as protobufjs skips them', () => {
  const known = Txn.responseSerialize({ header: { revision: '42' }, succeeded: true, responses: [{ response_put: { header: { revision: '42' } } }] });
  // Field 9 of each wire type (varint, 64-bit, bytes, 32-bit), appended to the response.
  const unknown = Buffer.from([0x48, 0x96, 0x01, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x4a, 0x02, 0x61, 0x62, 0x4d, 1, 2, 3, 4]);
  const bytes = Buffer.concat([known, unknown]);
  const decoded = decodeTxnResponse(bytes);
  assert.deepEqual(decoded, Txn.responseDeserialize(bytes));
  assert.equal(decoded.responses[0]!.response, 'response_put');
  assert.equal(decoded.header!.revision, '42');
});

test('truncated input throws, as protobufjs does', () => {
  const bytes = Txn.responseSerialize({ header: { revision: '42' }, responses: [{ response_range: { kvs: [{ key: Buffer.from('/a'), value: Buffer.from('x'.repeat(50)) }] } }] });
  const cut = bytes.subarray(0, bytes.length - 10);
  assert.throws(() => Txn.responseDeserialize(cut));
  assert.throws(() => decodeTxnResponse(cut), RangeError);
});

test('the etcd3 client in use takes the decoder (an etcd3 whose internals differ would leave kv.txn to serve)', () => {
  const client = new Etcd3({ hosts: ['127.0.0.1:1'] });
  try {
    assert.equal(typeof decodedTxn(client), 'function');
    const kv = (client as unknown as { pool: { hosts: Array<{ getServiceClient(n: string): Record<string, unknown> }> } }).pool.hosts[0]!.getServiceClient('KV');
    assert.equal(typeof kv.margayTxnDecoded, 'function');
    assert.equal(typeof kv.txn, 'function', "etcd3's own method is left as it is");
    assert.equal(decodedTxn({} as Etcd3), undefined);
  } finally {
    client.close();
  }
});
