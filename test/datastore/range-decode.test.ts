/**
 * The listing's decoder of etcd's RangeResponse (src/datastore/range-decode.ts) against etcd3's own
 * (proto-loader + protobufjs, with etcd3's options), on random responses and edge cases, and its
 * installation into the etcd3 client this repository uses (src/datastore/etcd-range.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcdMethod, INT64S, rng, UINT64S } from './etcd-proto.ts';
import { decodedRange } from '../../src/datastore/etcd-range.ts';
import { decodeRangeResponse } from '../../src/datastore/range-decode.ts';

const Range = etcdMethod('KV', 'Range');

test('random responses decode as etcd3 decodes them', () => {
  const next = rng(14);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const int64 = (): string => (next() < 0.5 ? String(Math.floor(next() * 2 ** 40)) : pick(INT64S));
  for (let round = 0; round < 300; round++) {
    const kvs = Array.from({ length: Math.floor(next() * 6) }, () => {
      const kv: Record<string, unknown> = {};
      if (next() < 0.9) kv.key = Buffer.from(`/calico/resources/v3/projectcalico.org/k-${Math.floor(next() * 1e6)}-é`);
      if (next() < 0.9) kv.value = Buffer.from(JSON.stringify({ n: next(), text: 'x'.repeat(Math.floor(next() * 300)) }));
      for (const f of ['create_revision', 'mod_revision', 'version', 'lease']) if (next() < 0.8) kv[f] = int64();
      return kv;
    });
    const response: Record<string, unknown> = { kvs };
    if (next() < 0.9) response.header = { cluster_id: pick(UINT64S), member_id: pick(UINT64S), revision: int64(), raft_term: pick(UINT64S) };
    if (next() < 0.5) response.more = next() < 0.5;
    if (next() < 0.7) response.count = int64();
    const bytes = Range.responseSerialize(response);
    assert.deepEqual(decodeRangeResponse(bytes), Range.responseDeserialize(bytes), `round ${round}`);
  }
});

test('fields it does not know are skipped, as protobufjs skips them', () => {
  const known = Range.responseSerialize({ header: { revision: '42' }, kvs: [{ key: Buffer.from('/a'), value: Buffer.from('1'), mod_revision: '7' }], count: '1' });
  // Field 9 of each wire type (varint, 64-bit, bytes, 32-bit), appended to the response.
  const unknown = Buffer.from([0x48, 0x96, 0x01, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x4a, 0x02, 0x61, 0x62, 0x4d, 1, 2, 3, 4]);
  const bytes = Buffer.concat([known, unknown]);
  assert.deepEqual(decodeRangeResponse(bytes), Range.responseDeserialize(bytes));
  assert.equal(decodeRangeResponse(bytes).kvs[0]!.key.toString(), '/a');
});

test('truncated input throws, as protobufjs does', () => {
  const bytes = Range.responseSerialize({ header: { revision: '42' }, kvs: [{ key: Buffer.from('/a'), value: Buffer.from('x'.repeat(50)) }] });
  const cut = bytes.subarray(0, bytes.length - 10);
  assert.throws(() => Range.responseDeserialize(cut));
  assert.throws(() => decodeRangeResponse(cut), RangeError);
});

test('the etcd3 client in use takes the decoder (an etcd3 whose internals differ would leave kv.range to serve)', async () => {
  const client = new Etcd3({ hosts: ['127.0.0.1:1'] });
  try {
    const range = decodedRange(client);
    assert.equal(typeof range, 'function');
    const kv = (client as unknown as { pool: { hosts: Array<{ getServiceClient(n: string): Record<string, unknown> }> } }).pool.hosts[0]!.getServiceClient('KV');
    assert.equal(typeof kv.margayRangeDecoded, 'function');
    assert.equal(typeof kv.range, 'function', "etcd3's own method is left as it is");
    assert.equal(decodedRange({} as Etcd3), undefined);
  } finally {
    client.close();
  }
});
