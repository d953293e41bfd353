import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { IpamGarbageCollector } from '../../src/controllers/ipam-gc/collector.ts';
import { acquireLeadership } from '../../src/controllers/leader.ts';
import { LEADER_KEY } from '../../src/datastore/keys.ts';
import { gcIntervalMs, loadControllerSettings } from '../../src/controllers/settings.ts';
import { ManualClock } from '../../src/os/mod.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import type { ReadRequest } from '../../src/datastore/datastore.ts';
import { nodeKind } from '../../src/api/kinds/node.ts';
import { checkIpam } from '../../src/ipam/check.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { workloadFromResource } from '../../src/ipam/ownership.ts';
import { poolFromResource } from '../../src/ipam/pools.ts';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { ipPoolKind } from '../../src/api/kinds/ip-pool.ts';
import { apply, node, pool, wep } from '../ipam/helpers.ts';

async function check(ds: MemoryDatastore) {
  const store = new ResourceStore(ds);
  return checkIpam({
    snapshot: await new Ipam(ds).snapshot(),
    pools: (await store.list(ipPoolKind)).items.map((p) => poolFromResource(p)!),
    nodes: new Set((await store.list(nodeKind)).items.map((n) => n.metadata.name)),
    workloads: (await store.list(workloadEndpointKind)).items.map(workloadFromResource),
  });
}

describe('controllers - ipam garbage collector', () => {
  test('leaks go after the grace period, used addresses stay, a deleted node is cleaned at once', async () => {
    const ds = new MemoryDatastore();
    await apply(ds, pool('p', '10.0.0.0/16'), node('n1'), node('n2'));
    const ipam = new Ipam(ds, { sleep: async () => {} });
    const used = await ipam.autoAssign({ handle: 'k8s-pod-network.c-a', node: 'n1', num4: 1, attrs: { namespace: 'ns', pod: 'a' } });
    await ipam.autoAssign({ handle: 'k8s-pod-network.c-b', node: 'n1', num4: 1, attrs: { namespace: 'ns', pod: 'b' } });
    await ipam.autoAssign({ handle: 'k8s-pod-network.c-c', node: 'n2', num4: 1, attrs: { namespace: 'ns', pod: 'c' } });
    await ipam.autoAssign({ handle: 'ipip-tunnel-addr-n2', node: 'n2', num4: 1, use: 'Tunnel', attrs: { type: 'ipipTunnelAddress' } });
    await apply(ds, wep({ node: 'n1', namespace: 'ns', pod: 'a', containerID: 'c-a', ips: [used.ipv4[0]!.address] }));
    const clock = new ManualClock();
    const gc = new IpamGarbageCollector({ datastore: ds, clock, leakGraceMs: 60_000 });

    const r1 = await gc.runPass();
    assert.equal(r1.outcome.released.length, 0, 'first sighting');
    clock.advance(60_000);
    const r2 = await gc.runPass();
    assert.equal(r2.outcome.released.length, 2, 'pods b and c (n2 still exists, so its tunnel address stays)');
    assert.deepEqual(await ipam.ipsByHandle('k8s-pod-network.c-a'), [used.ipv4[0]!.address]);
    assert.equal((await ipam.ipsByHandle('ipip-tunnel-addr-n2')).length, 1);
    assert.deepEqual((await check(ds)).problems, []);

    await new ResourceStore(ds).delete((await new ResourceStore(ds).get(nodeKind, 'n2'))!);
    const r3 = await gc.runPass();
    assert.deepEqual(r3.outcome.released.length, 1, 'the tunnel address of the deleted node, at once');
    assert.equal(r3.outcome.affinitiesReleased.length, 1);
    assert.equal((await ds.list('/calico/ipam/v2/host/n2/')).items.length, 0);
    assert.deepEqual((await check(ds)).problems, []);
  });

  test('a pod that comes back between the decision and the release keeps its address', async () => {
    const ds = new MemoryDatastore();
    await apply(ds, pool('p', '10.0.0.0/16'), node('n1'));
    const ipam = new Ipam(ds, { sleep: async () => {} });
    const r = await ipam.autoAssign({ handle: 'k8s-pod-network.c-a', node: 'n1', num4: 1, attrs: { namespace: 'ns', pod: 'a' } });
    const clock = new ManualClock();
    const gc = new IpamGarbageCollector({ datastore: ds, clock, leakGraceMs: 1000 });
    await gc.runPass();
    clock.advance(1000);
    // The WEP is written while the pass runs: after the snapshot, before the release.
    const peer = ds.peer();
    // Resource lists are one getMany (with the batch markers, datastore/batch-recovery.ts).
    const original = ds.getMany.bind(ds);
    let injected = false;
    ds.getMany = async (reads: readonly ReadRequest[]) => {
      if (!injected && reads.some((r) => 'prefix' in r && r.prefix.includes('workloadendpoints'))) {
        const out = await original(reads);
        injected = true;
        await apply(peer, wep({ node: 'n1', namespace: 'ns', pod: 'a', containerID: 'c-a', ips: [r.ipv4[0]!.address] }));
        return out;
      }
      return original(reads);
    };
    const pass = await gc.runPass();
    assert.equal(pass.plan.releases.length, 1, 'decided on the stale read');
    assert.deepEqual(pass.outcome.released, []);
    assert.deepEqual(pass.outcome.spared, [r.ipv4[0]!.address]);
    assert.equal((await ipam.ipsByHandle('k8s-pod-network.c-a')).length, 1);
  });

  test('settings: leakGracePeriod from KubeControllersConfiguration, 15m by default', async () => {
    const ds = new MemoryDatastore();
    const store = new ResourceStore(ds);
    assert.equal((await loadControllerSettings(store)).leakGraceMs, 15 * 60_000);
    await apply(ds, { apiVersion: 'projectcalico.org/v3', kind: 'KubeControllersConfiguration', metadata: { name: 'default' }, spec: { controllers: { node: { leakGracePeriod: '2m30s' } } } });
    assert.equal((await loadControllerSettings(store)).leakGraceMs, 150_000);
    assert.equal(gcIntervalMs(150_000), 75_000);
    assert.equal(gcIntervalMs(15 * 60_000), 5 * 60_000);
    assert.equal(gcIntervalMs(10), 1000);
  });
});

describe('controllers - leader election', () => {
  const sleep = async (ms: number, signal: AbortSignal) => {
    try {
      await delay(Math.min(ms, 10), undefined, { signal });
    } catch {
      // aborted
    }
  };

  test('one leader; the next takes over when it resigns, or when its lease expires', async () => {
    const clock = new ManualClock();
    const ds = new MemoryDatastore({ clock });
    const a = ds.peer();
    const b = ds.peer();
    const stopB = new AbortController();
    const la = await acquireLeadership({ datastore: a, identity: 'a', ttlSeconds: 3, sleep, monotonicNow: () => clock.now() }, new AbortController().signal);
    assert.equal(la?.identity, 'a');
    let lb: Awaited<ReturnType<typeof acquireLeadership>>;
    const waiting = acquireLeadership({ datastore: b, identity: 'b', ttlSeconds: 3, sleep, monotonicNow: () => clock.now() }, stopB.signal).then((l) => (lb = l));
    await delay(50);
    assert.equal(lb, undefined, 'b waits while a leads');
    await la!.resign();
    await waiting;
    assert.equal(lb!.identity, 'b');
    assert.ok(la!.signal.aborted);
    assert.match((await ds.get(LEADER_KEY))!.value, /"b"/);

    // b "crashes": it cannot reach etcd, so its lease runs out and a takes over.
    const stopA = new AbortController();
    let la2: Awaited<ReturnType<typeof acquireLeadership>>;
    const again = acquireLeadership({ datastore: a, identity: 'a', ttlSeconds: 3, sleep, monotonicNow: () => clock.now() }, stopA.signal).then((l) => (la2 = l));
    b.setReachable(false);
    await delay(30);
    assert.equal(la2, undefined);
    clock.advance(3000);
    await again;
    assert.equal(la2!.identity, 'a');
    await delay(50);
    assert.ok(lb!.signal.aborted, 'b stepped down: it could not renew within the TTL');
    await la2!.resign();
    await lb!.resign();
  });

  test('a stopped campaign returns undefined', async () => {
    const ds = new MemoryDatastore();
    await ds.put(LEADER_KEY, '{"identity":"someone"}');
    const stop = new AbortController();
    const p = acquireLeadership({ datastore: ds, identity: 'x', sleep }, stop.signal);
    stop.abort();
    assert.equal(await p, undefined);
  });
});
