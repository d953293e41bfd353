import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  allocateOrdinals,
  assignOrdinal,
  blockProblems,
  cloneBlock,
  deallocateCooled,
  decodeBlock,
  encodeBlock,
  freeCount,
  handleCounts,
  isEmptyBlock,
  newBlock,
  ordinalsOfHandle,
  releaseOrdinals,
} from '../../src/ipam/block.ts';
import { adjustHandle, decodeHandle, encodeHandle, handleTotal } from '../../src/ipam/handle.ts';
import { decodeAffinity, encodeAffinity } from '../../src/ipam/affinity.ts';
import { affinityKey, blockKey, handleKey, parseAffinityKey, parseBlockKey, parseHandleKey } from '../../src/ipam/keys.ts';
import { formatCidr, parseCidr } from '../../src/net/mod.ts';
import { prng } from '../selector/helpers.ts';

const owner = (handle: string, secondary: Record<string, string> = { node: 'n1' }) => ({ handle, secondary });
const fresh = (cidr = '10.0.0.0/29') => newBlock(parseCidr(cidr)!, { affinity: 'host:n1', sequenceNumber: 100n });

describe('ipam keys', () => {
  test("keys follow Calico's etcd layout", () => {
    const c4 = parseCidr('10.0.0.0/26')!;
    const c6 = parseCidr('fd00::40/122')!;
    assert.equal(blockKey(c4), '/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26');
    assert.equal(blockKey(c6), '/calico/ipam/v2/assignment/ipv6/block/fd00::40-122');
    assert.equal(affinityKey('node-1', c4), '/calico/ipam/v2/host/node-1/ipv4/block/10.0.0.0-26');
    assert.equal(handleKey('k8s-pod-network.abc'), '/calico/ipam/v2/handle/k8s-pod-network.abc');
    assert.equal(formatCidr(parseBlockKey(blockKey(c6))!), 'fd00::40/122');
    assert.deepEqual(parseAffinityKey(affinityKey('node-1', c6))?.node, 'node-1');
    assert.equal(parseHandleKey('/calico/ipam/v2/handle/h1'), 'h1');
    assert.equal(parseBlockKey('/calico/ipam/v2/assignment/ipv4/block/fd00::-122'), undefined, 'family must match');
  });
});

describe('ipam block - stored form', () => {
  test('round-trips exactly, with uint64 sequence numbers beyond 2^53', () => {
    const text =
      '{"cidr":"10.0.0.0/30","affinity":"host:n1","affinity_claim_time":"2024-01-01T00:00:00Z","allocations":[0,null,0,null],"unallocated":[1,3],' +
      '"attributes":[{"handle_id":"h","secondary":{"node":"n1","pod":"p"}}],"sequenceNumber":1700000000123456789,' +
      '"sequenceNumberForAllocation":{"0":1700000000123456788,"2":1700000000123456789},"deleted":false,"futureField":{"x":1}}';
    const b = decodeBlock(text);
    assert.equal(b.sequenceNumber, 1700000000123456789n);
    assert.equal(b.sequenceNumberForAllocation['0'], 1700000000123456788n);
    assert.deepEqual(b.extra, { futureField: { x: 1 } });
    assert.equal(encodeBlock(b), text);
  });

  test('the text is what JSON.stringify writes with the sequence numbers as bare integers, for any block', () => {
    // The reference: a replacer turning every bigint into a marked string, the marks then removed.
    const reference = (b: ReturnType<typeof fresh>): string => {
      const out: Record<string, unknown> = { cidr: b.cidr, affinity: b.affinity };
      if (b.affinity_claim_time !== undefined) out.affinity_claim_time = b.affinity_claim_time;
      Object.assign(out, { allocations: b.allocations, unallocated: b.unallocated, attributes: b.attributes, sequenceNumber: b.sequenceNumber });
      Object.assign(out, { sequenceNumberForAllocation: b.sequenceNumberForAllocation, deleted: b.deleted }, b.extra);
      return JSON.stringify(out, (_k, v: unknown) => (typeof v === 'bigint' ? `@big@${v}` : v)).replace(/"@big@(\d+)"/g, '$1');
    };
    const random = prng(7);
    const rand = (n: number): number => Math.floor(random() * n);
    for (let i = 0; i < 200; i++) {
      const b = newBlock(parseCidr(`10.${rand(256)}.0.0/${26 + rand(5)}`)!, { affinity: rand(3) === 0 ? null : `host:n"${rand(9)}\u2028`, sequenceNumber: BigInt(rand(1000)) * 10n ** 16n });
      for (let k = rand(8); k > 0 && b.unallocated.length > 0; k--) {
        b.sequenceNumber = BigInt(rand(2 ** 30)) * 2n ** 33n;
        allocateOrdinals(b, 1 + rand(2), owner(`h${rand(5)}`, { node: 'n1', pod: `p\\${rand(99)}` }));
      }
      if (rand(2) === 0) b.affinity_claim_time = '2024-01-01T00:00:00Z';
      // Unknown fields follow the known ones (named like integers they went first before, an
      // artefact of Object.assign's key order; Calico has no such fields).
      if (rand(2) === 0) b.extra = { future: { x: [rand(9), null, 'y'] }, later: true };
      if (rand(4) === 0) b.deleted = true;
      assert.equal(encodeBlock(b), reference(b));
      assert.deepEqual(decodeBlock(encodeBlock(b)), b);
    }
  });

  test('a new block lists every ordinal free, in order, with field names Calico uses', () => {
    const b = fresh();
    const json = JSON.parse(encodeBlock(b)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['cidr', 'affinity', 'allocations', 'unallocated', 'attributes', 'sequenceNumber', 'sequenceNumberForAllocation', 'deleted']);
    assert.deepEqual(json.unallocated, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(blockProblems(b, parseCidr('10.0.0.0/29')), []);
  });

  test('handles, affinities round-trip', () => {
    const h = adjustHandle(adjustHandle(undefined, '10.0.0.0/26', 2), 'fd00::/122', 1);
    assert.equal(encodeHandle(h), '{"block":{"10.0.0.0/26":2,"fd00::/122":1},"deleted":false}');
    assert.equal(handleTotal(decodeHandle(encodeHandle(h))), 3);
    assert.deepEqual(adjustHandle(h, '10.0.0.0/26', -2).block, { 'fd00::/122': 1 });
    assert.equal(encodeAffinity('pending'), '{"state":"pending","deleted":false}');
    assert.equal(decodeAffinity('{}').state, 'confirmed', 'records from before states are confirmed');
    assert.throws(() => decodeAffinity('{"state":"bogus"}'));
  });
});

describe('ipam block - operations', () => {
  test('allocates from the head of the FIFO, one shared attribute per owner, stamped with the sequence', () => {
    const b = fresh();
    assert.deepEqual(allocateOrdinals(b, 3, owner('a')), [0, 1, 2]);
    assert.deepEqual(allocateOrdinals(b, 2, owner('b')), [3, 4]);
    assert.equal(b.attributes.length, 2);
    assert.equal(b.sequenceNumberForAllocation['4'], 100n);
    assert.deepEqual(b.unallocated, [5, 6, 7]);
    assert.deepEqual(Object.fromEntries(handleCounts(b)), { a: 3, b: 2 });
    assert.deepEqual(blockProblems(b), []);
  });

  test('skips reserved ordinals without moving them, and stops when full', () => {
    const b = fresh();
    assert.deepEqual(allocateOrdinals(b, 10, owner('a'), (o) => o < 2), [2, 3, 4, 5, 6, 7]);
    assert.deepEqual(b.unallocated, [0, 1]);
    assert.equal(freeCount(b, (o) => o < 2), 0);
    assert.deepEqual(allocateOrdinals(b, 1, owner('b'), (o) => o < 2), []);
  });

  test('released addresses go to the tail, so the longest-free address is reused first', () => {
    const b = fresh('10.0.0.0/30');
    allocateOrdinals(b, 4, owner('a'));
    releaseOrdinals(b, [{ ordinal: 1 }, { ordinal: 0 }], { now: '2024-01-01T00:00:00Z', cooldownSeconds: 0 });
    assert.deepEqual(b.unallocated, [1, 0]);
    assert.deepEqual(allocateOrdinals(b, 1, owner('b')), [1]);
  });

  test('assign: a free ordinal, the same handle again, another handle', () => {
    const b = fresh();
    assert.equal(assignOrdinal(b, 5, owner('a')), 'assigned');
    assert.ok(!b.unallocated.includes(5));
    assert.equal(assignOrdinal(b, 5, owner('a')), 'same-handle');
    assert.equal(assignOrdinal(b, 5, owner('b')), 'taken');
    assert.deepEqual(blockProblems(b), []);
  });

  test('release honours handle and sequence guards, is idempotent, and prunes attributes', () => {
    const b = fresh();
    allocateOrdinals(b, 2, owner('a'));
    b.sequenceNumber = 101n;
    allocateOrdinals(b, 1, owner('b'));
    const timing = { now: '2024-01-01T00:00:00Z', cooldownSeconds: 0 };
    const r = releaseOrdinals(b, [{ ordinal: 0, handle: 'b' }, { ordinal: 1, sequenceNumber: 99n }, { ordinal: 2, handle: 'b', sequenceNumber: 101n }, { ordinal: 7 }], timing);
    assert.deepEqual(r.released, [2]);
    assert.deepEqual(r.mismatched, [0, 1]);
    assert.deepEqual(r.notAllocated, [7]);
    assert.deepEqual(Object.fromEntries(r.byHandle), { b: 1 });
    assert.equal(b.attributes.length, 1, 'attribute of b pruned');
    assert.deepEqual(releaseOrdinals(b, [{ ordinal: 2 }], timing).notAllocated, [2]);
    assert.deepEqual(blockProblems(b), []);
  });

  test('cooldown: a released address stays allocated without a handle until the cooldown passes', () => {
    const b = fresh();
    allocateOrdinals(b, 2, owner('a'));
    const at = '2024-01-01T00:00:00.000Z';
    releaseOrdinals(b, [{ ordinal: 0 }, { ordinal: 1 }], { now: at, cooldownSeconds: 30 });
    assert.equal(b.allocations[0], 0);
    assert.equal(b.attributes[0]!.releasedAt, at);
    assert.deepEqual(ordinalsOfHandle(b, 'a'), []);
    assert.equal(handleCounts(b).size, 0);
    assert.ok(!isEmptyBlock(b), 'cooling addresses keep the block from being empty');
    assert.deepEqual(releaseOrdinals(b, [{ ordinal: 0 }], { now: at, cooldownSeconds: 30 }).notAllocated, [0], 'releasing again is a no-op');
    const t0 = Date.parse(at);
    assert.equal(deallocateCooled(b, t0 + 29_999, 30), 0);
    assert.equal(deallocateCooled(b, t0 + 30_000, 30), 2);
    assert.ok(isEmptyBlock(b));
    assert.deepEqual(b.unallocated.slice(-2), [0, 1]);
    assert.deepEqual(blockProblems(b), []);
  });

  test('problems: every kind of structural damage is named', () => {
    const b = fresh('10.0.0.0/30');
    allocateOrdinals(b, 1, owner('a'));
    const bad = cloneBlock(b);
    bad.unallocated = [0, 1, 1];
    bad.allocations[3] = 7;
    bad.attributes.push({ handle_id: 'x' });
    const problems = blockProblems(bad, parseCidr('10.0.0.4/30'));
    for (const re of [/does not match its key/, /ordinal 3 points at attribute 7/, /twice/, /both allocated and unallocated/, /ordinal 2 is neither/, /attribute 1 is not used/]) {
      assert.ok(problems.some((p) => re.test(p)), `${re} in ${problems.join('; ')}`);
    }
  });
});
