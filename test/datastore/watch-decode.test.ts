/**
 * The watch's decoder of etcd's WatchResponse (src/datastore/watch-decode.ts) against etcd3's own
 * (proto-loader + protobufjs, with etcd3's options), on random responses and edge cases, and its
 * installation into the etcd3 client this repository uses (src/datastore/etcd-watch.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Etcd3 } from 'etcd3';
import { etcdMethod, INT64S, rng, UINT64S } from './etcd-proto.ts';
import { decodedWatch } from '../../src/datastore/etcd-watch.ts';
import { decodeWatchResponse } from '../../src/datastore/watch-decode.ts';

const Watch = etcdMethod('Watch', 'Watch');

test('random watch responses decode as etcd3 decodes them', () => {
  const next = rng(21);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const int64 = (): string => (next() < 0.5 ? String(Math.floor(next() * 2 ** 40)) : pick(INT64S));
  const kv = (): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    if (next() < 0.9) out.key = Buffer.from(`/calico/ipam/v2/assignment/ipv4/block/10.244.${Math.floor(next() * 255)}.0-26-é`);
    if (next() < 0.8) out.value = Buffer.from(JSON.stringify({ n: next(), text: 'x'.repeat(Math.floor(next() * 300)) }));
    for (const f of ['create_revision', 'mod_revision', 'version', 'lease']) if (next() < 0.8) out[f] = int64();
    return out;
  };
  for (let round = 0; round < 400; round++) {
    const events = Array.from({ length: Math.floor(next() * 5) }, () => {
      const ev: Record<string, unknown> = {};
      if (next() < 0.8) ev.type = pick(['Put', 'Delete', 0, 1]);
      if (next() < 0.9) ev.kv = kv();
      if (next() < 0.3) ev.prev_kv = kv();
      return ev;
    });
    const response: Record<string, unknown> = { events };
    if (next() < 0.9) response.header = { cluster_id: pick(UINT64S), member_id: pick(UINT64S), revision: int64(), raft_term: pick(UINT64S) };
    if (next() < 0.5) response.watch_id = int64();
    if (next() < 0.2) response.created = next() < 0.5;
    if (next() < 0.2) response.canceled = next() < 0.5;
    if (next() < 0.2) response.compact_revision = int64();
    if (next() < 0.2) response.cancel_reason = pick(['', 'mvcc: required revision has been compacted', 'ünïcode']);
    if (next() < 0.2) response.fragment = next() < 0.5;
    const bytes = Watch.responseSerialize(response);
    assert.deepEqual(decodeWatchResponse(bytes), Watch.responseDeserialize(bytes), `round ${round}`);
  }
});

test('an event type the proto does not name, and unknown fields, come out as protobufjs gives them', () => {
  const known = Watch.responseSerialize({ header: { revision: '42' }, events: [{ type: 'Put', kv: { key: Buffer.from('/a'), value: Buffer.from('1'), mod_revision: '7' } }] });
  // An event of type 2 (field 11: one event, field 1 = 2), then field 9 of each wire type.
  const odd = Buffer.from([0x5a, 0x02, 0x08, 0x02, 0x48, 0x96, 0x01, 0x49, 1, 2, 3, 4, 5, 6, 7, 8, 0x4a, 0x02, 0x61, 0x62, 0x4d, 1, 2, 3, 4]);
  const bytes = Buffer.concat([known, odd]);
  const decoded = decodeWatchResponse(bytes);
  assert.deepEqual(decoded, Watch.responseDeserialize(bytes));
  assert.equal(decoded.events[1]!.type, 2);
  assert.equal(decoded.events[0]!.kv!.key.toString(), '/a');
});

test('truncated input throws, as protobufjs does', () => {
  const bytes = Watch.responseSerialize({ header: { revision: '42' }, events: [{ kv: { key: Buffer.from('/a'), value: Buffer.from('x'.repeat(50)) } }] });
  const cut = bytes.subarray(0, bytes.length - 10);
  assert.throws(() => Watch.responseDeserialize(cut));
  assert.throws(() => decodeWatchResponse(cut), RangeError);
});

test('the etcd3 client in use takes the decoder (an etcd3 whose internals differ would leave watchClient.watch to serve)', () => {
  const client = new Etcd3({ hosts: ['127.0.0.1:1'] });
  try {
    assert.equal(typeof decodedWatch(client), 'function');
    const watch = (client as unknown as { pool: { hosts: Array<{ getServiceClient(n: string): Record<string, unknown> }> } }).pool.hosts[0]!.getServiceClient('Watch');
    assert.equal(typeof watch.margayWatchDecoded, 'function');
    assert.equal(typeof watch.watch, 'function', "etcd3's own method is left as it is");
    assert.equal(decodedWatch({} as Etcd3), undefined);
  } finally {
    client.close();
  }
  const withDefaults = new Etcd3({ hosts: ['127.0.0.1:1'], defaultCallOptions: { timeout: 1000 } as never });
  try {
    assert.equal(decodedWatch(withDefaults), undefined, 'default call options are left to etcd3');
  } finally {
    withDefaults.close();
  }
});
