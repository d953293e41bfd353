/**
 * The encoder of the Range and Watch requests Margay makes (src/datastore/request-encode.ts)
 * against etcd3's own (proto-loader + protobufjs): the same bytes, and undefined for what it
 * leaves to etcd3's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeRangeRequest, encodeWatchRequest } from '../../src/datastore/request-encode.ts';
import { etcdMethod, rng } from './etcd-proto.ts';

const Range = etcdMethod('KV', 'Range');
const Watch = etcdMethod('Watch', 'Watch');

/** Integers around the varint's byte boundaries, up to the largest safe one. */
const INTS = [0, 1, 127, 128, 16383, 16384, 2 ** 21, 2 ** 28 - 1, 2 ** 31, 2 ** 32, 2 ** 35 + 7, 2 ** 53 - 1];

test('random range requests: the bytes etcd3 writes', () => {
  const next = rng(17);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const bytes = (): Buffer => Buffer.from(Array.from({ length: Math.floor(next() * 300) }, () => Math.floor(next() * 256)));
  for (let round = 0; round < 500; round++) {
    const req: Record<string, unknown> = {};
    // In a random order: the encoder writes by field number whatever the object's order.
    const fields: Array<[string, () => unknown]> = [
      ['key', bytes],
      ['range_end', bytes],
      ['limit', () => pick(INTS)],
      ['revision', () => pick(INTS)],
      ['count_only', () => next() < 0.5],
    ];
    fields.sort(() => next() - 0.5);
    for (const [name, make] of fields) if (next() < 0.6) req[name] = make();
    assert.deepEqual(encodeRangeRequest(req), Range.requestSerialize(req), JSON.stringify(req));
  }
});

test('the range requests etcd.ts makes: one key, a page of a prefix, a page at a revision, the revision alone', () => {
  const key = Buffer.from('/calico/resources/v3/projectcalico.org/networkpolicies/ns-1/np-é');
  for (const req of [
    { key },
    { key, range_end: Buffer.from('/calico/resources/v3/projectcalico.org0'), limit: 1000 },
    { key, range_end: Buffer.from([0]), limit: 1000, revision: 123456789 },
    { key: Buffer.from([0]), count_only: true },
    { key: Buffer.alloc(0), limit: 0, revision: undefined },
  ]) {
    assert.deepEqual(encodeRangeRequest(req), Range.requestSerialize(req), JSON.stringify(req));
  }
  // A key that is a view into a larger buffer: only its bytes.
  const big = Buffer.from('xx/a/b/cyy');
  const view = big.subarray(2, 8);
  assert.deepEqual(encodeRangeRequest({ key: view }), Range.requestSerialize({ key: Buffer.from('/a/b/c') }));
});

test('watch creations: the bytes etcd3 writes', () => {
  const next = rng(23);
  for (let round = 0; round < 300; round++) {
    const create: Record<string, unknown> = { key: Buffer.from(`/calico/ipam/v2/assignment/${round}`) };
    if (next() < 0.8) create.range_end = Buffer.from(`/calico/ipam/v2/assignment0`);
    if (next() < 0.6) create.start_revision = INTS[Math.floor(next() * INTS.length)];
    if (next() < 0.4) create.prev_kv = next() < 0.5;
    const req = { create_request: create };
    assert.deepEqual(encodeWatchRequest(req), Watch.requestSerialize(req), JSON.stringify(req));
  }
});

test("what it does not write is left to etcd3's encoder (undefined)", () => {
  const key = Buffer.from('/k');
  for (const req of [
    { key, sort_order: 'ASCEND' }, // a field Margay does not set
    { key: '/k' }, // a string (protobufjs would read it as base64)
    { key, limit: -1 },
    { key, limit: 2 ** 53 },
    { key, revision: '12' },
    { key, limit: 10n },
    { key, count_only: 1 },
    [key],
    null,
  ]) {
    assert.equal(encodeRangeRequest(req), undefined, JSON.stringify(req, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)));
  }
  for (const req of [{ cancel_request: { watch_id: 1 } }, { create_request: { key, filters: ['NOPUT'] } }, { create_request: { key }, progress_request: {} }, { create_request: { key, watch_id: 3 } }]) {
    assert.equal(encodeWatchRequest(req), undefined, JSON.stringify(req));
  }
});
