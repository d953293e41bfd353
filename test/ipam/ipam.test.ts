import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { encodeAffinity, decodeAffinity } from '../../src/ipam/affinity.ts';
import { blockProblems, decodeBlock } from '../../src/ipam/block.ts';
import { checkIpam } from '../../src/ipam/check.ts';
import { Ipam, type IpamOptions } from '../../src/ipam/ipam.ts';
import { affinityKey, blockKey, handleKey } from '../../src/ipam/keys.ts';
import { cidrContainsIp, formatCidr, parseCidr, parseIp } from '../../src/net/mod.ts';
import { candidateBlocks, poolFromResource } from '../../src/ipam/pools.ts';
import { apply, node, pool, reservation } from './helpers.ts';

const fast: IpamOptions = { sleep: async () => {} };

async function setup(...resources: unknown[]): Promise<{ ds: MemoryDatastore; ipam: Ipam }> {
  const ds = new MemoryDatastore();
  await apply(ds, ...resources);
  return { ds, ipam: new Ipam(ds, fast) };
}

async function expectCode(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(hasCode(err, code as never), `expected ${code}, got ${String(err)}`);
    if (re) assert.match((err as Error).message, re);
    return true;
  });
}

async function consistent(ds: MemoryDatastore, ipam: Ipam): Promise<void> {
  const snapshot = await ipam.snapshot();
  for (const e of snapshot.blocks.values()) assert.deepEqual(blockProblems(e.block, e.cidr), [], e.block.cidr);
  const report = checkIpam({ snapshot, pools: [], nodes: new Set(['n1', 'n2', 'n3']), workloads: [] });
  const structural = report.problems.filter((p) => p.kind !== 'leaked-address' && p.kind !== 'block-without-affinity');
  assert.deepEqual(structural, []);
  void ds;
}

describe('ipam - autoAssign', () => {
  test('IPv4 and IPv6 from blocks of the pool block size, affine to the node, one handle', async () => {
    const { ds, ipam } = await setup(pool('v4', '10.0.0.0/16', { blockSize: 28 }), pool('v6', 'fd00::/48'), node('n1'));
    const r = await ipam.autoAssign({ handle: 'k8s-pod-network.c1', node: 'n1', num4: 2, num6: 1, attrs: { namespace: 'ns', pod: 'p' } });
    assert.equal(r.ipv4.length, 2);
    assert.equal(r.ipv6.length, 1);
    assert.match(r.ipv4[0]!.cidr, /\/28$/);
    assert.match(r.ipv6[0]!.cidr, /\/122$/);
    assert.equal(r.ipv4[0]!.block, r.ipv4[1]!.block);
    assert.ok(r.ipv4.every((a) => !a.borrowed));
    const aff = await ds.get(affinityKey('n1', parseCidr(r.ipv4[0]!.block)!));
    assert.equal(decodeAffinity(aff!.value).state, 'confirmed');
    const block = decodeBlock((await ds.get(blockKey(parseCidr(r.ipv4[0]!.block)!)))!.value);
    assert.equal(block.affinity, 'host:n1');
    assert.deepEqual(block.attributes[0]?.secondary, { namespace: 'ns', pod: 'p', node: 'n1' });
    const handle = JSON.parse((await ds.get(handleKey('k8s-pod-network.c1')))!.value) as { block: Record<string, number> };
    assert.deepEqual(handle.block, { [r.ipv4[0]!.block]: 2, [r.ipv6[0]!.block]: 1 });
    assert.deepEqual((await ipam.ipsByHandle('k8s-pod-network.c1')).sort(), [...r.ipv4, ...r.ipv6].map((a) => a.address).sort());
    await consistent(ds, ipam);
  });

  test('prefetched reads serve the next autoAssign once, and only while fresh', async () => {
    const ds = new MemoryDatastore();
    await apply(ds, pool('v4', '10.0.0.0/16', { blockSize: 28 }), node('n1'));
    let now = Date.now();
    const ipam = new Ipam(ds, { ...fast, now: () => new Date(now) });
    await ipam.autoAssign({ handle: 'h0', node: 'n1', num4: 1, num6: 0 }); // claims the block
    // Reads: lists and multi-key reads (an autoAssign reads its context and blocks in one).
    let lists = 0;
    const list = ds.list.bind(ds);
    ds.list = (...args: Parameters<typeof ds.list>) => {
      lists++;
      return list(...args);
    };
    const getMany = ds.getMany.bind(ds);
    ds.getMany = (...args: Parameters<typeof ds.getMany>) => {
      lists++;
      return getMany(...args);
    };
    ipam.prefetch('n1', 1, 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const prefetchLists = lists;
    assert.ok(prefetchLists > 0);
    await ipam.autoAssign({ handle: 'h1', node: 'n1', num4: 1, num6: 0 });
    assert.equal(lists, prefetchLists, 'the autoAssign read nothing of its own');
    await ipam.autoAssign({ handle: 'h2', node: 'n1', num4: 1, num6: 0 });
    assert.equal(lists, 2 * prefetchLists, 'used once');
    ipam.prefetch('n1', 1, 0);
    await new Promise((resolve) => setTimeout(resolve, 20));
    now += 1500;
    await ipam.autoAssign({ handle: 'h3', node: 'n1', num4: 1, num6: 0 });
    assert.equal(lists, 4 * prefetchLists, 'too old: read again');
    assert.equal(new Set(await Promise.all(['h0', 'h1', 'h2', 'h3'].map((h) => ipam.ipsByHandle(h).then((a) => a[0])))).size, 4);
  });

  test("uses the node's own blocks first, then claims a new one", async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/24', { blockSize: 30 }), node('n1'));
    const blocks = new Set<string>();
    for (let i = 0; i < 6; i++) blocks.add((await ipam.autoAssign({ handle: `h${i}`, node: 'n1', num4: 1 })).ipv4[0]!.block);
    assert.equal(blocks.size, 2, '6 addresses in /30 blocks: two blocks');
    const { items } = await ds.list('/calico/ipam/v2/host/n1/ipv4/block/');
    assert.equal(items.length, 2);
  });

  test('100 concurrent requests on one host: no duplicate, the fewest blocks, handles all written', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/16'), node('n1'));
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => ipam.autoAssign({ handle: `k8s-pod-network.c${i}`, node: 'n1', num4: 1 })));
    const ips = results.map((r) => r.ipv4[0]!.address);
    assert.equal(new Set(ips).size, 100);
    assert.equal(new Set(results.map((r) => r.ipv4[0]!.block)).size, 2, '100 addresses fit in two /26 blocks');
    assert.equal((await ds.list('/calico/ipam/v2/handle/')).items.length, 100);
    await consistent(ds, ipam);
  });

  test('two processes (two clients) on the same blocks resolve conflicts by retry', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/16'), node('n1'), node('n2'));
    const other = new Ipam(ds.peer(), fast);
    const work = (client: Ipam, tag: string) =>
      Promise.all(Array.from({ length: 40 }, (_, i) => client.autoAssign({ handle: `${tag}-${i}`, node: i % 2 ? 'n1' : 'n2', num4: 1 })));
    const [a, b] = await Promise.all([work(ipam, 'a'), work(other, 'b')]);
    const ips = [...a, ...b].map((r) => r.ipv4[0]!.address);
    assert.equal(new Set(ips).size, 80);
    for (const r of [...a, ...b]) assert.ok(!r.ipv4[0]!.borrowed);
    await consistent(ds, ipam);
  });

  test('maxBlocksPerHost stops new claims; then it borrows unless strictAffinity', async () => {
    const { ipam } = await setup(pool('p', '10.0.0.0/24', { blockSize: 30 }), node('n1'), node('n2'));
    await ipam.setConfig({ maxBlocksPerHost: 1 });
    await ipam.autoAssign({ handle: 'other', node: 'n2', num4: 1 });
    await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 4 });
    const borrowed = await ipam.autoAssign({ handle: 'h2', node: 'n1', num4: 1 });
    assert.equal(borrowed.ipv4[0]!.borrowed, true);
    await ipam.setConfig({ strictAffinity: true });
    await expectCode(ipam.autoAssign({ handle: 'h3', node: 'n1', num4: 1 }), 'MARGAY_ERR_POOL_EXHAUSTED', /maxBlocksPerHost \(1 IPv4 blocks\).*strictAffinity/);
  });

  test('an exhausted pool fails with a clear error and allocates nothing (dual stack included)', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/29', { blockSize: 29 }), pool('v6', 'fd00::/126', { blockSize: 126 }), node('n1'));
    await ipam.autoAssign({ handle: 'a', node: 'n1', num4: 6 });
    const before = (await ds.list('/calico/ipam/v2/handle/')).items.length;
    await expectCode(ipam.autoAssign({ handle: 'b', node: 'n1', num4: 3 }), 'MARGAY_ERR_POOL_EXHAUSTED', /wanted 3, found 2/);
    await expectCode(ipam.autoAssign({ handle: 'c', node: 'n1', num4: 1, num6: 5 }), 'MARGAY_ERR_POOL_EXHAUSTED', /IPv6/);
    assert.equal((await ds.list('/calico/ipam/v2/handle/')).items.length, before, 'no handle left behind');
    assert.deepEqual(await ipam.ipsByHandle('b'), []);
    assert.equal((await ipam.autoAssign({ handle: 'd', node: 'n1', num4: 2 })).ipv4.length, 2, 'the two addresses are still free');
    await consistent(ds, ipam);
  });

  test('pool choice: disabled, nodeSelector, allowedUses, Manual, requested pools', async () => {
    const { ipam } = await setup(
      pool('off', '10.1.0.0/16', { disabled: true }),
      pool('zone-a', '10.2.0.0/16', { nodeSelector: "zone == 'a'" }),
      pool('tunnels', '10.3.0.0/16', { allowedUses: ['Tunnel'] }),
      pool('manual', '10.4.0.0/16', { assignmentMode: 'Manual' }),
      node('na', { zone: 'a' }),
      node('nb', { zone: 'b' }),
    );
    assert.equal((await ipam.autoAssign({ handle: 'w', node: 'na', num4: 1 })).ipv4[0]!.pool, 'zone-a');
    for (const why of [/"off" is disabled/, /"zone-a" does not select this node/, /"tunnels" does not allow Workload/, /"manual" is Manual/]) {
      await expectCode(ipam.autoAssign({ handle: 'w2', node: 'nb', num4: 1 }), 'MARGAY_ERR_NO_POOL', why);
    }
    assert.equal((await ipam.autoAssign({ handle: 't', node: 'nb', num4: 1, use: 'Tunnel' })).ipv4[0]!.pool, 'tunnels');
    assert.equal((await ipam.autoAssign({ handle: 'm', node: 'nb', num4: 1, pools4: ['manual'] })).ipv4[0]!.pool, 'manual');
    assert.equal((await ipam.autoAssign({ handle: 'm2', node: 'nb', num4: 1, pools4: ['10.4.0.0/16'] })).ipv4[0]!.pool, 'manual');
    await expectCode(ipam.autoAssign({ handle: 'x', node: 'nb', num4: 1, pools4: ['off'] }), 'MARGAY_ERR_NO_POOL', /"off" is disabled/);
    await expectCode(ipam.autoAssign({ handle: 'x', node: 'nb', num4: 1, pools4: ['nope'] }), 'MARGAY_ERR_NO_POOL', /does not exist/);
    await expectCode(ipam.autoAssign({ handle: 'x', node: 'na', num6: 1 }), 'MARGAY_ERR_NO_POOL', /no IPv6 IP pool exists/);
  });

  test('IPReservations are never handed out, and wholly reserved blocks are not claimed', async () => {
    const { ipam } = await setup(pool('p', '10.0.0.0/28', { blockSize: 30 }), node('n1'), reservation('r', ['10.0.0.0/29', '10.0.0.9']));
    const r = await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 7 });
    const got = r.ipv4.map((a) => a.address).sort();
    assert.deepEqual(got, ['10.0.0.10', '10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.14', '10.0.0.15', '10.0.0.8']);
    await expectCode(ipam.autoAssign({ handle: 'h2', node: 'n1', num4: 1 }), 'MARGAY_ERR_POOL_EXHAUSTED');
  });

  test('bad requests are refused before anything is written', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/24'), node('n1'));
    const rev = await ds.currentRevision();
    await expectCode(ipam.autoAssign({ handle: '', node: 'n1', num4: 1 }), 'MARGAY_ERR_VALIDATION', /handle/);
    await expectCode(ipam.autoAssign({ handle: 'a/b', node: 'n1', num4: 1 }), 'MARGAY_ERR_VALIDATION');
    await expectCode(ipam.autoAssign({ handle: 'h', node: 'n1', num4: -1 }), 'MARGAY_ERR_VALIDATION', /num4/);
    assert.equal(await ds.currentRevision(), rev);
  });
});

describe('ipam - canAssign', () => {
  test('answers as autoAssign would: own block, a block to claim, borrowing unless strictAffinity', async () => {
    const { ipam } = await setup(pool('tiny', '10.9.0.0/30', { blockSize: 31 }), node('n1'), node('n2'));
    assert.deepEqual(await ipam.canAssign({ node: 'n1', families: [4] }), { ok: true });
    const none6 = await ipam.canAssign({ node: 'n1', families: [4, 6] });
    assert.equal(none6.ok, false);
    // n1 takes the first block, n2 the second: no block left to claim, but room in each.
    await ipam.autoAssign({ handle: 'h1', node: 'n1', num4: 1, num6: 0 });
    await ipam.autoAssign({ handle: 'h2', node: 'n2', num4: 1, num6: 0 });
    assert.deepEqual(await ipam.canAssign({ node: 'n1', families: [4] }), { ok: true });
    await ipam.autoAssign({ handle: 'h3', node: 'n1', num4: 1, num6: 0 });
    // n1's block is full; it may borrow from n2's block…
    assert.deepEqual(await ipam.canAssign({ node: 'n1', families: [4] }), { ok: true });
    await ipam.setConfig({ strictAffinity: true });
    // …unless strictAffinity forbids it, exactly when autoAssign fails.
    const strict = await ipam.canAssign({ node: 'n1', families: [4] });
    assert.deepEqual(strict, { ok: false, reason: 'no free IPv4 address for node "n1" in pools tiny' });
    await expectCode(ipam.autoAssign({ handle: 'h4', node: 'n1', num4: 1, num6: 0 }), 'MARGAY_ERR_POOL_EXHAUSTED');
    assert.deepEqual(await ipam.canAssign({ node: 'n2', families: [4] }), { ok: true });
    const unknownPool = await ipam.canAssign({ node: 'n1', families: [4], pools4: ['nope'] });
    assert.equal(unknownPool.ok, false);
  });
});

describe('ipam - specific addresses', () => {
  test('assignIp claims the block, refuses taken, reserved and outside addresses, is idempotent per handle', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/24'), pool('off', '10.9.0.0/24', { disabled: true }), node('n1'), node('n2'), reservation('r', ['10.0.0.200/29']));
    const a = await ipam.assignIp({ ip: '10.0.0.77', handle: 'h1', node: 'n1', attrs: { pod: 'x', namespace: 'y' } });
    assert.equal(a.cidr, '10.0.0.77/26');
    assert.equal(a.block, '10.0.0.64/26');
    assert.equal(decodeBlock((await ds.get(blockKey(parseCidr(a.block)!)))!.value).affinity, 'host:n1');
    assert.equal((await ipam.assignIp({ ip: '10.0.0.77', handle: 'h1', node: 'n1' })).address, '10.0.0.77');
    await expectCode(ipam.assignIp({ ip: '10.0.0.77', handle: 'h2', node: 'n1' }), 'MARGAY_ERR_ADDRESS_IN_USE', /handle h1/);
    await expectCode(ipam.assignIp({ ip: '10.0.0.201', handle: 'h2', node: 'n1' }), 'MARGAY_ERR_ADDRESS_RESERVED', /IPReservation "r"/);
    await expectCode(ipam.assignIp({ ip: '10.8.0.1', handle: 'h2', node: 'n1' }), 'MARGAY_ERR_NO_POOL', /not in any IP pool/);
    await expectCode(ipam.assignIp({ ip: '10.9.0.1', handle: 'h2', node: 'n1' }), 'MARGAY_ERR_NO_POOL', /disabled/);
    await expectCode(ipam.assignIp({ ip: 'banana', handle: 'h2', node: 'n1' }), 'MARGAY_ERR_VALIDATION');
    // Another host's block: allowed without strict affinity, refused with it.
    assert.equal((await ipam.assignIp({ ip: '10.0.0.78', handle: 'h3', node: 'n2' })).borrowed, true);
    await ipam.setConfig({ strictAffinity: true });
    await expectCode(ipam.assignIp({ ip: '10.0.0.79', handle: 'h4', node: 'n2' }), 'MARGAY_ERR_STRICT_AFFINITY', /affine to host:n1/);
    const info = await ipam.getAssignmentAttributes('10.0.0.77');
    assert.equal(info?.handle, 'h1');
    assert.deepEqual(info?.attributes, { pod: 'x', namespace: 'y', node: 'n1' });
    assert.equal(await ipam.getAssignmentAttributes('10.0.0.90'), undefined);
  });
});

describe('ipam - release', () => {
  test('release by handle is idempotent and deletes the handle; releaseIps reports what it did', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/24'), pool('v6', 'fd00::/120', { blockSize: 122 }), node('n1'));
    const r = await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 2, num6: 2 });
    assert.equal((await ipam.releaseByHandle('h')).length, 4);
    assert.equal(await ds.get(handleKey('h')), undefined);
    assert.deepEqual(await ipam.releaseByHandle('h'), []);
    assert.deepEqual(await ipam.releaseByHandle('never-existed'), []);
    const s = await ipam.autoAssign({ handle: 's', node: 'n1', num4: 2 });
    const out = await ipam.releaseIps([s.ipv4[0]!.address, { ip: s.ipv4[1]!.address, handle: 'wrong' }, r.ipv4[0]!.address, '10.200.0.1']);
    assert.deepEqual(out.released, [s.ipv4[0]!.address]);
    assert.deepEqual(out.mismatched, [s.ipv4[1]!.address]);
    assert.deepEqual(out.notAllocated.sort(), [r.ipv4[0]!.address, '10.200.0.1'].sort());
    assert.deepEqual(JSON.parse((await ds.get(handleKey('s')))!.value).block, { [s.ipv4[0]!.block]: 1 });
    await consistent(ds, ipam);
  });

  test('a stale release (sequence number of an earlier allocation) leaves the new owner alone', async () => {
    const { ipam } = await setup(pool('p', '10.0.0.0/30', { blockSize: 30 }), node('n1'));
    const first = await ipam.assignIp({ ip: '10.0.0.1', handle: 'old', node: 'n1' });
    await ipam.releaseIps(['10.0.0.1']);
    await ipam.assignIp({ ip: '10.0.0.1', handle: 'new', node: 'n1' });
    const out = await ipam.releaseIps([{ ip: '10.0.0.1', sequenceNumber: first.sequenceNumber }]);
    assert.deepEqual(out.mismatched, ['10.0.0.1']);
    assert.equal((await ipam.getAssignmentAttributes('10.0.0.1'))?.handle, 'new');
  });

  test('ipCooldownSeconds keeps a released address out of use until it has cooled down', async () => {
    let now = Date.parse('2024-05-01T00:00:00Z');
    const ds = new MemoryDatastore();
    await apply(ds, pool('p', '10.0.0.0/30', { blockSize: 30 }), node('n1'), {
      apiVersion: 'projectcalico.org/v3', kind: 'IPAMConfiguration', metadata: { name: 'default' }, spec: { ipCooldownSeconds: 60 },
    });
    const ipam = new Ipam(ds, { ...fast, now: () => new Date(now) });
    await ipam.autoAssign({ handle: 'a', node: 'n1', num4: 4 });
    await ipam.releaseByHandle('a');
    const info = await ipam.getAssignmentAttributes('10.0.0.0');
    assert.equal(info?.releasedAt, '2024-05-01T00:00:00.000Z');
    await expectCode(ipam.autoAssign({ handle: 'b', node: 'n1', num4: 1 }), 'MARGAY_ERR_POOL_EXHAUSTED');
    now += 60_000;
    assert.equal((await ipam.autoAssign({ handle: 'b', node: 'n1', num4: 4 })).ipv4.length, 4, 'cooled addresses are freed in the same write');
  });
});

describe('ipam - affinity protocol', () => {
  test('a pending affinity left by a crashed claimer is completed by the same host', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/24'), node('n1'));
    const info = poolFromResource((await ds.list('/calico/resources/v3/projectcalico.org/ippools/')).items.map((kv) => JSON.parse(kv.value))[0])!;
    const first = candidateBlocks(info, 'n1', 1).next().value!;
    await ds.create(affinityKey('n1', first), encodeAffinity('pending')); // phase 1 only, then "crash"
    const r = await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1 });
    assert.ok(cidrContainsIp(first, parseIp(r.ipv4[0]!.address)!), 'the same block, completed');
    assert.equal(decodeAffinity((await ds.get(affinityKey('n1', first)))!.value).state, 'confirmed');
  });

  test('a host that loses the race for a block withdraws its pending affinity and takes another', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/24'), node('n1'), node('n2'));
    const info = poolFromResource(JSON.parse((await ds.list('/calico/resources/v3/projectcalico.org/ippools/')).items[0]!.value))!;
    const first = candidateBlocks(info, 'n1', 1).next().value!;
    await ipam.claimAffinity({ cidr: formatCidr(first), node: 'n2' });
    const r = await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1 });
    assert.ok(!cidrContainsIp(first, parseIp(r.ipv4[0]!.address)!));
    assert.equal(await ds.get(affinityKey('n1', first)), undefined, 'no pending affinity left behind');
  });

  test('releaseAffinity: an empty block goes with its affinity, a used one keeps its addresses', async () => {
    const { ds, ipam } = await setup(pool('p', '10.0.0.0/24'), node('n1'));
    const { claimed } = await ipam.claimAffinity({ cidr: '10.0.0.0/25', node: 'n1' });
    assert.deepEqual(claimed, ['10.0.0.0/26', '10.0.0.64/26']);
    await ipam.assignIp({ ip: '10.0.0.70', handle: 'h', node: 'n1' });
    assert.equal(await ipam.releaseAffinity({ cidr: '10.0.0.64/26', node: 'n1', requireEmpty: true }), 'not-empty');
    assert.equal(await ipam.releaseAffinity({ cidr: '10.0.0.0/26', node: 'n1', requireEmpty: true }), 'released');
    assert.equal(await ds.get(blockKey(parseCidr('10.0.0.0/26')!)), undefined);
    assert.equal(await ipam.releaseAffinity({ cidr: '10.0.0.64/26', node: 'n1' }), 'released');
    assert.equal(decodeBlock((await ds.get(blockKey(parseCidr('10.0.0.64/26')!)))!.value).affinity, null);
    assert.equal((await ipam.getAssignmentAttributes('10.0.0.70'))?.handle, 'h');
    assert.equal(await ds.get(affinityKey('n1', parseCidr('10.0.0.64/26')!)), undefined);
  });

  test('an empty block of another host older than a minute is reclaimed when the pool is otherwise full', async () => {
    let now = Date.parse('2024-05-01T00:00:00Z');
    const ds = new MemoryDatastore();
    await apply(ds, pool('p', '10.0.0.0/29', { blockSize: 30 }), node('n1'), node('n2'));
    const ipam = new Ipam(ds, { ...fast, now: () => new Date(now) });
    await ipam.claimAffinity({ cidr: '10.0.0.0/29', node: 'n2' });
    await ipam.setConfig({ strictAffinity: true });
    await expectCode(ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1 }), 'MARGAY_ERR_POOL_EXHAUSTED');
    now += 61_000;
    const r = await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1 });
    assert.equal(r.ipv4[0]!.borrowed, false);
  });
});
