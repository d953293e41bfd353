import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyGcState, planGc, type GcInput, type GcSettings, type GcState } from '../../src/controllers/ipam-gc/decide.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { encodeAffinity } from '../../src/ipam/affinity.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { affinityKey, handleKey } from '../../src/ipam/keys.ts';
import { parseCidr } from '../../src/net/mod.ts';
import type { WorkloadRef } from '../../src/ipam/ownership.ts';
import type { IpamSnapshot } from '../../src/ipam/snapshot.ts';
import { apply, node, pool } from '../ipam/helpers.ts';

const settings: GcSettings = { leakGraceMs: 1000, emptyBlockGraceMs: 1000, staleRecordGraceMs: 1000, cooldownSeconds: 0 };
const ALL = new Set(['n1', 'n2']);

function pod(pod: string, ips: string[], node = 'n1'): WorkloadRef {
  return { namespace: 'ns', name: `${node}-k8s-${pod}-eth0`, node, pod, containerID: `c-${pod}`, ips };
}

async function cluster(): Promise<{ ds: MemoryDatastore; ipam: Ipam }> {
  const ds = new MemoryDatastore();
  await apply(ds, pool('p', '10.0.0.0/16', { blockSize: 28 }), node('n1'), node('n2'));
  return { ds, ipam: new Ipam(ds, { sleep: async () => {} }) };
}

function plan(snapshot: IpamSnapshot, over: Partial<GcInput> & { state?: GcState } = {}) {
  return planGc({ snapshot, nodes: ALL, workloads: [], nowMs: 0, wallNowMs: Date.now(), settings, state: emptyGcState(), ...over });
}

async function alloc(ipam: Ipam, name: string, node = 'n1', num4 = 1): Promise<string[]> {
  const r = await ipam.autoAssign({ handle: `k8s-pod-network.c-${name}`, node, num4, attrs: { namespace: 'ns', pod: name } });
  return r.ipv4.map((a) => a.address);
}

describe('ipam gc - leaks', () => {
  test('an unused allocation is released only when seen in two passes a grace period apart', async () => {
    const { ipam } = await cluster();
    const [used] = await alloc(ipam, 'a');
    const [leaked] = await alloc(ipam, 'b');
    const snap = await ipam.snapshot();
    const workloads = [pod('a', [used!])];
    const p1 = plan(snap, { workloads, nowMs: 0 });
    assert.equal(p1.releases.length, 0);
    assert.equal(p1.stats.candidates, 1);
    const p2 = plan(snap, { workloads, nowMs: 999, state: p1.state });
    assert.equal(p2.releases.length, 0, 'not yet: 999 ms < grace');
    const p3 = plan(snap, { workloads, nowMs: 1000, state: p2.state });
    assert.deepEqual(p3.releases.map((r) => [r.allocation.address, r.reason]), [[leaked, 'leaked']]);
    assert.equal(p3.releases[0]!.allocation.handle, 'k8s-pod-network.c-b');
    // The pod came back: forgotten, and a later disappearance starts the clock again.
    const p4 = plan(snap, { workloads: [...workloads, pod('b', [leaked!])], nowMs: 5000, state: p3.state });
    assert.equal(p4.state.leaks.size, 0);
    assert.equal(plan(snap, { workloads, nowMs: 6000, state: p4.state }).releases.length, 0);
  });

  test('an address reallocated between passes is a new allocation (its sequence number changed)', async () => {
    const { ipam } = await cluster();
    const [ip] = await alloc(ipam, 'a');
    const p1 = plan(await ipam.snapshot(), { nowMs: 0 });
    await ipam.releaseIps([ip!]);
    await ipam.assignIp({ ip: ip!, handle: 'k8s-pod-network.c-z', node: 'n1', attrs: { namespace: 'ns', pod: 'z' } });
    const p2 = plan(await ipam.snapshot(), { nowMs: 5000, state: p1.state });
    assert.equal(p2.releases.length, 0);
  });

  test('a leak grace period of 0 disables leak release (as in Calico), not node clean-up', async () => {
    const { ipam } = await cluster();
    await alloc(ipam, 'a');
    await alloc(ipam, 'b', 'n2');
    const zero = { ...settings, leakGraceMs: 0 };
    const p1 = plan(await ipam.snapshot(), { settings: zero, nodes: new Set(['n1']) });
    const p2 = plan(await ipam.snapshot(), { settings: zero, nodes: new Set(['n1']), nowMs: 1e9, state: p1.state });
    assert.deepEqual(p2.releases.map((r) => r.reason), ['node-missing']);
  });

  test('a handle is released whole or not at all', async () => {
    const { ipam } = await cluster();
    const ips = await alloc(ipam, 'multi', 'n1', 2);
    const snap = await ipam.snapshot();
    const half = [pod('other', [ips[0]!])];
    const p1 = plan(snap, { workloads: half });
    const p2 = plan(snap, { workloads: half, nowMs: 2000, state: p1.state });
    assert.equal(p2.releases.length, 0);
    assert.equal(p2.stats.held, 1);
    const p3 = plan(snap, { workloads: [], nowMs: 4000, state: p2.state });
    assert.equal(p3.releases.length, 0, 'the first address was in use until now: its own grace starts now');
    const p4 = plan(snap, { workloads: [], nowMs: 5000, state: p3.state });
    assert.equal(p4.releases.length, 2);
  });

  test('a node that is gone loses its allocations, tunnel address and affinities at once', async () => {
    const { ipam } = await cluster();
    await alloc(ipam, 'a', 'n2');
    await ipam.autoAssign({ handle: 'vxlan-tunnel-addr-n2', node: 'n2', num4: 1, use: 'Tunnel', attrs: { type: 'vxlanTunnelAddress' } });
    await ipam.autoAssign({ handle: 'vxlan-tunnel-addr-n1', node: 'n1', num4: 1, use: 'Tunnel', attrs: { type: 'vxlanTunnelAddress' } });
    const snap = await ipam.snapshot();
    const kept = plan(snap);
    assert.equal(kept.releases.length, 0, 'tunnel addresses live while their node does');
    const p = plan(snap, { nodes: new Set(['n1']) });
    assert.deepEqual(p.releases.map((r) => r.reason), ['node-missing', 'node-missing']);
    assert.ok(p.releases.some((r) => r.allocation.handle === 'vxlan-tunnel-addr-n2'));
    assert.deepEqual(p.releaseAffinities.map((a) => [a.node, a.reason, a.requireEmpty]), [['n2', 'node-missing', false]]);
  });
});

describe('ipam gc - blocks, affinities, handles', () => {
  test('an empty block loses its affinity after two sightings, but a node keeps its last block', async () => {
    const { ipam } = await cluster();
    await ipam.claimAffinity({ cidr: '10.0.0.0/27', node: 'n1' }); // two /28 blocks, empty
    const snap = await ipam.snapshot();
    const p1 = plan(snap);
    assert.equal(p1.releaseAffinities.length, 0);
    const p2 = plan(snap, { nowMs: 1000, state: p1.state });
    assert.equal(p2.releaseAffinities.length, 1, 'one of two released, the last one kept');
    assert.equal(p2.releaseAffinities[0]!.requireEmpty, true);
    assert.equal(typeof p2.releaseAffinities[0]!.sequenceNumber, 'bigint');
    const p3 = plan(snap, { nowMs: 1000, state: p1.state, settings: { ...settings, keepLastBlock: false } });
    assert.equal(p3.releaseAffinities.length, 2);
  });

  test('a node whose other blocks are running low keeps one empty block (the spare its agent claims ahead)', async () => {
    for (const [used, kept] of [[12, true], [11, false]] as const) {
      const { ipam } = await cluster();
      for (let i = 0; i < used; i++) await alloc(ipam, `p${i}`); // one /28 block, 16 - used free
      const first = [...(await ipam.snapshot()).blocks.keys()][0]!;
      const spare = first === '10.0.250.0/28' ? '10.0.251.0/28' : '10.0.250.0/28';
      await ipam.claimAffinity({ cidr: spare, node: 'n1' });
      const snap = await ipam.snapshot();
      const p1 = plan(snap);
      const p2 = plan(snap, { nowMs: 1000, state: p1.state });
      assert.deepEqual(p2.releaseAffinities.map((r) => r.block), kept ? [] : [spare], `${16 - used} free in the other block`);
    }
  });

  test('stale pending affinity deleted after two sightings; one of an owned block confirmed at once', async () => {
    const { ds, ipam } = await cluster();
    await alloc(ipam, 'a');
    const owned = [...(await ipam.snapshot()).blocks.keys()][0]!;
    await ds.put(affinityKey('n1', parseCidr('10.0.9.0/28')!), encodeAffinity('pending'));
    await ds.put(affinityKey('n1', parseCidr(owned)!), encodeAffinity('pending'));
    const snap = await ipam.snapshot();
    const p1 = plan(snap, { workloads: [] });
    assert.deepEqual(p1.confirmAffinities.map((c) => c.block), [owned]);
    assert.equal(p1.deleteAffinities.length, 0);
    const p2 = plan(snap, { nowMs: 1000, state: p1.state });
    assert.deepEqual(p2.deleteAffinities.map((d) => d.block), ['10.0.9.0/28']);
  });

  test('orphaned handle deleted, miscounted handle rewritten, after two sightings', async () => {
    const { ds, ipam } = await cluster();
    const [ip] = await alloc(ipam, 'a');
    const block = [...(await ipam.snapshot()).blocks.keys()][0]!;
    await ds.put(handleKey('orphan'), `{"block":{"${block}":1},"deleted":false}`);
    await ds.put(handleKey('k8s-pod-network.c-a'), `{"block":{"${block}":3},"deleted":false}`);
    const snap = await ipam.snapshot();
    const workloads = [pod('a', [ip!])];
    const p1 = plan(snap, { workloads });
    assert.equal(p1.deleteHandles.length + p1.fixHandles.length, 0);
    const p2 = plan(snap, { workloads, nowMs: 1000, state: p1.state });
    assert.deepEqual(p2.deleteHandles.map((h) => h.id), ['orphan']);
    assert.deepEqual(p2.fixHandles.map((h) => [h.id, h.counts]), [['k8s-pod-network.c-a', { [block]: 1 }]]);
  });

  test('blocks whose cooldown is over are listed for deallocation', async () => {
    const ds = new MemoryDatastore();
    await apply(ds, pool('p', '10.0.0.0/16', { blockSize: 28 }), node('n1'), {
      apiVersion: 'projectcalico.org/v3', kind: 'IPAMConfiguration', metadata: { name: 'default' }, spec: { ipCooldownSeconds: 10 },
    });
    const t0 = Date.parse('2024-01-01T00:00:00Z');
    const ipam = new Ipam(ds, { sleep: async () => {}, now: () => new Date(t0) });
    await alloc(ipam, 'a');
    await ipam.releaseByHandle('k8s-pod-network.c-a');
    const snap = await ipam.snapshot();
    const cool = { ...settings, cooldownSeconds: 10 };
    assert.equal(plan(snap, { settings: cool, wallNowMs: t0 + 9000 }).coolBlocks.length, 0);
    assert.equal(plan(snap, { settings: cool, wallNowMs: t0 + 10_000 }).coolBlocks.length, 1);
    assert.equal(plan(snap, { settings: cool, wallNowMs: t0 + 10_000 }).releases.length, 0, 'a cooling address is not a leak');
  });
});
