import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { encodeAffinity } from '../../src/ipam/affinity.ts';
import { decodeBlock, encodeBlock } from '../../src/ipam/block.ts';
import { checkIpam, type ProblemKind } from '../../src/ipam/check.ts';
import { borderedTable, formatG5, renderCheck } from '../../src/ipam/format.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { affinityKey, blockKey, handleKey } from '../../src/ipam/keys.ts';
import { parseCidr } from '../../src/net/mod.ts';
import { indexWorkloads, judgeAllocation, workloadFromResource, type AllocationView, type WorkloadRef } from '../../src/ipam/ownership.ts';
import { poolFromResource, reservationsFromResources } from '../../src/ipam/pools.ts';
import { computeUsage, reservedCount } from '../../src/ipam/usage.ts';
import { validateResource } from '../../src/api/validate.ts';
import { apply, node, pool, reservation, wep } from './helpers.ts';

const fast = { sleep: async () => {} };

function alloc(over: Partial<AllocationView> = {}): AllocationView {
  return { block: '10.0.0.0/26', ordinal: 1, address: '10.0.0.1', handle: 'k8s-pod-network.c1', attrs: { node: 'n1', namespace: 'ns', pod: 'p' }, sequenceNumber: 1n, releasedAt: undefined, blockHost: 'n1', ...over };
}

function ref(over: Partial<WorkloadRef> = {}): WorkloadRef {
  return { namespace: 'ns', name: 'n1-k8s-p-eth0', node: 'n1', pod: 'p', containerID: 'c1', ips: ['10.0.0.1'], ...over };
}

describe('ipam ownership - is an allocation in use', () => {
  const nodes = new Set(['n1']);
  test('the rules, in order', () => {
    const judge = (a: AllocationView, ws: WorkloadRef[] = []) => judgeAllocation(a, indexWorkloads(ws), nodes).kind;
    assert.equal(judge(alloc({ releasedAt: '2024-01-01T00:00:00Z' })), 'cooldown');
    assert.equal(judge(alloc({ handle: 'ipip-tunnel-addr-n1', attrs: { node: 'n1' } })), 'tunnel');
    assert.equal(judge(alloc({ handle: 'vxlan-v6-tunnel-addr-gone', attrs: {} })), 'node-missing');
    assert.equal(judge(alloc({ handle: 'x', attrs: { node: 'n1', type: 'wireguardTunnelAddress' } })), 'tunnel');
    assert.equal(judge(alloc({ attrs: { node: 'gone', namespace: 'ns', pod: 'p' } }), [ref()]), 'node-missing', 'a missing node beats a workload');
    assert.equal(judge(alloc({ attrs: {}, blockHost: 'gone' })), 'node-missing', 'the block host stands in for a missing node attribute');
    assert.equal(judge(alloc(), [ref()]), 'in-use');
    assert.equal(judge(alloc({ handle: 'other.zzz', attrs: { node: 'n1' } }), [ref({ pod: 'q', containerID: 'q' })]), 'in-use', 'any endpoint listing the address keeps it');
    assert.equal(judge(alloc(), [ref({ ips: [] })]), 'in-use', 'the owner endpoint exists, its addresses not written yet');
    assert.equal(judge(alloc({ handle: 'weird', attrs: { node: 'n1' } })), 'assumed-valid');
    assert.equal(judge(alloc()), 'leak-candidate');
    assert.equal(judge(alloc(), [ref({ ips: ['10.0.0.9'] })]), 'leak-candidate', 'the owner now uses another address');
  });

  test('workload refs read ipNetworks in canonical form', () => {
    const w = workloadFromResource(validateResource(wep({ node: 'n1', namespace: 'ns', pod: 'p', containerID: 'c', ips: ['10.0.0.1', 'FD00::0001'] })));
    assert.deepEqual(w.ips, ['10.0.0.1', 'fd00::1']);
    assert.equal(w.pod, 'p');
  });
});

describe('ipam check - findings', () => {
  test('a clean cluster is consistent; each kind of damage is found', async () => {
    const ds = new MemoryDatastore();
    await apply(ds, pool('p', '10.0.0.0/24'), node('n1'), node('n2'));
    const ipam = new Ipam(ds, fast);
    const a = await ipam.autoAssign({ handle: 'k8s-pod-network.c1', node: 'n1', num4: 1, attrs: { namespace: 'ns', pod: 'p1' } });
    const b = await ipam.autoAssign({ handle: 'k8s-pod-network.c2', node: 'n1', num4: 1, attrs: { namespace: 'ns', pod: 'p2' } });
    await ipam.autoAssign({ handle: 'ipip-tunnel-addr-n2', node: 'n2', num4: 1, use: 'Tunnel', attrs: { type: 'ipipTunnelAddress' } });
    const ws = [
      ref({ pod: 'p1', containerID: 'c1', ips: [a.ipv4[0]!.address] }),
      ref({ name: 'other', pod: 'p2', containerID: 'c2', ips: [b.ipv4[0]!.address] }),
    ];
    const run = async (workloads = ws, nodes = new Set(['n1', 'n2'])) =>
      checkIpam({ snapshot: await ipam.snapshot(), pools: [poolFromResource(validateResource(pool('p', '10.0.0.0/24')))!], nodes, workloads });
    const clean = await run();
    assert.deepEqual(clean.problems, []);
    assert.equal(clean.inUse, 2);
    assert.equal(clean.tunnel, 1);
    assert.match(renderCheck(clean), /IPAM is consistent\./);

    const kinds = (r: { problems: { kind: ProblemKind }[] }) => new Set(r.problems.map((p) => p.kind));
    assert.deepEqual(kinds(await run(ws.slice(0, 1))), new Set(['leaked-address']));
    assert.deepEqual(kinds(await run(ws, new Set(['n1']))), new Set(['leaked-address', 'stale-affinity']), 'tunnel of a gone node, affinity of a gone node');
    assert.deepEqual(kinds(await run([...ws, ref({ name: 'dup', pod: 'p9', containerID: 'c9', ips: [a.ipv4[0]!.address, '10.0.0.250'] })])), new Set(['duplicate-address', 'missing-allocation']));

    // Damage the store directly.
    const used = new Set((await ipam.snapshot()).blocks.keys());
    const spare = ['10.0.0.0/26', '10.0.0.64/26', '10.0.0.128/26', '10.0.0.192/26'].find((c) => !used.has(c))!;
    const blockCidr = parseCidr(a.ipv4[0]!.block)!;
    await ds.put(handleKey('orphan'), '{"block":{"10.0.0.0/26":1},"deleted":false}');
    await ds.put(handleKey('k8s-pod-network.c1'), `{"block":{"${a.ipv4[0]!.block}":5},"deleted":false}`);
    await ds.delete(handleKey('k8s-pod-network.c2'));
    await ds.put(affinityKey('n1', parseCidr(spare)!), encodeAffinity('pending'));
    const kv = (await ds.get(blockKey(blockCidr)))!;
    const blk = decodeBlock(kv.value);
    blk.unallocated.push(blk.unallocated[0]!);
    await ds.put(kv.key, encodeBlock(blk));
    const unaffine = decodeBlock(encodeBlock(blk));
    unaffine.cidr = spare;
    unaffine.affinity = null;
    unaffine.allocations = unaffine.allocations.map(() => null);
    unaffine.attributes = [];
    unaffine.unallocated = Array.from({ length: 64 }, (_, i) => i);
    await ds.put(blockKey(parseCidr(spare)!), encodeBlock(unaffine));
    await ds.put('/calico/ipam/v2/handle/garbage', '{not json');
    const damaged = await run();
    assert.deepEqual(
      kinds(damaged),
      new Set(['orphaned-handle', 'handle-mismatch', 'stale-affinity', 'corrupt-block', 'block-without-affinity', 'unreadable']),
    );
    assert.match(renderCheck(damaged), /Found \d+ problem\(s\)\./);
  });
});

describe('ipam show - utilisation', () => {
  test('pools and blocks, reservations neither used nor free', async () => {
    const ds = new MemoryDatastore();
    await apply(ds, pool('p', '10.0.0.0/24'), node('n1'), reservation('r', ['10.0.0.0/30', '10.0.0.2/31', '10.1.0.0/16']));
    const ipam = new Ipam(ds, fast);
    await ipam.assignIp({ ip: '10.0.0.9', handle: 'h', node: 'n1' });
    const u = computeUsage(await ipam.snapshot(), [poolFromResource(validateResource(pool('p', '10.0.0.0/24')))!], reservationsFromResources([validateResource(reservation('r', ['10.0.0.0/30', '10.0.0.2/31']))]));
    assert.equal(u.pools[0]!.total, 256n);
    assert.equal(u.pools[0]!.inUse, 1n);
    assert.equal(u.pools[0]!.reserved, 4n);
    assert.equal(u.pools[0]!.free, 251n);
    assert.deepEqual(u.pools[0]!.blocks.map((b) => [b.cidr, b.inUse, b.free]), [['10.0.0.0/26', 1n, 59n]]);
    assert.equal(reservedCount(reservationsFromResources([validateResource(reservation('x', ['10.0.0.0/25', '10.0.0.64/26', '10.0.0.200']))]), parseCidr('10.0.0.0/24')!), 129n);
  });

  test("numbers print as Go's %.5g, tables as calicoctl's", () => {
    assert.deepEqual([0n, 64n, 65536n, 100000n, 16777216n, 1n << 80n].map(formatG5), ['0', '64', '65536', '1e+05', '1.6777e+07', '1.2089e+24']);
    assert.equal(borderedTable(['A', 'NUM'], [['x', '5']]), '+---+-----+\n| A | NUM |\n+---+-----+\n| x |   5 |\n+---+-----+\n');
  });
});
