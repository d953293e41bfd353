/**
 * Unnumbered peering as a first-class configuration, in the node process against FRR 8.4: one
 * BGPPeer with a node selector, `margay.io/peer-interface`, `margay.io/peer-discovery: neighbors`
 * and BFD. The router is passive (`neighbor swp1 passive`), so only the host can open the
 * session: it must find the router's link-local address on its uplink (the agent reads the
 * neighbour table) and connect. BFD runs on the session over the link-local addresses, and
 * `node status` shows both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NodeProcess } from '../../src/agent/node.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { run, type TestNetns } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { createUplinkRouter, type Frr, frrAvailable, startFrr, UPLINK_ROUTER_BGPD } from './frr.ts';
import { createFabric, type Fabric, killBirdAtExit, resource, startLabNode } from './topology.ts';

const skip = frrAvailable() ? false : 'FRR is not installed (scripts/install-deps.sh installs it)';

describe('unnumbered peering: the host finds the router and connects, with BFD', { skip }, () => {
  let fab: Fabric;
  let router: TestNetns;
  let frr: Frr;
  let node: NodeProcess;
  let keepAlive: ReturnType<typeof setInterval> | undefined;

  before(async () => {
    keepAlive = setInterval(() => {}, 1 << 30);
    fab = await createFabric(1, { blocks: false });
    const h1 = fab.hosts[0]!;
    router = await createUplinkRouter(h1.ns);
    frr = await startFrr(router, {
      bfdd: 'bfd\n',
      bgpd: [
        ...UPLINK_ROUTER_BGPD,
        // The router never connects: only the host's discovery can bring the session up.
        ' neighbor swp1 passive',
        ' neighbor swp1 bfd 3 100 100',
        ' address-family ipv4 unicast',
        '  redistribute connected',
        ' exit-address-family',
        '',
      ].join('\n'),
    });
    const ds = new MemoryDatastore();
    const store = new ResourceStore(ds);
    await store.create(resource('IPPool', 'pool4', { cidr: '10.244.0.0/16' }));
    await store.create(resource('BGPConfiguration', 'default', { nodeToNodeMeshEnabled: false, asNumber: 64512 }));
    await store.create(resource('BGPPeer', 'rack', { nodeSelector: 'all()' }, {
      annotations: { 'margay.io/peer-interface': 'uplink0', 'margay.io/peer-discovery': 'neighbors', 'margay.io/bfd': 'true' },
    }));
    node = await startLabNode(ds.peer(), h1, { bird: { backoff: { initialMs: 100, maxMs: 1000 } } });
    await node.bgp!.ready;
    killBirdAtExit(node.bgp!.bird.pid!);
  });
  after(async () => {
    await node?.stop({ bird: 'stop' }).catch(() => undefined);
    await frr?.stop();
    await router?.delete();
    await fab?.destroy();
    clearInterval(keepAlive);
  });

  it('finds the router on the uplink and connects to it; node status shows the session and its BFD session', async () => {
    const t0 = Date.now();
    const status = await eventually(async () => {
      const s = await node.bgp!.status();
      const up = s.peers.find((p) => p.type === 'unnumbered' && p.info === 'Established');
      assert.ok(up, JSON.stringify(s.peers));
      assert.equal(s.bfd.find((b) => b.interface === 'uplink0')?.state, 'Up', JSON.stringify(s.bfd));
      return { s, up };
    }, { timeoutMs: 30_000, intervalMs: 100 });
    console.log(`# unnumbered, the host connecting to the router it found: Established with BFD Up ${Date.now() - t0} ms after the node was ready`);
    assert.match(status.up.protocol, /^Iface_fe80_/, 'the active session to the discovered router');
    assert.match(status.up.address, /^fe80::/);
    assert.equal(status.up.interface, 'uplink0');
    assert.equal(status.up.neighborAs, 65001);
    const peers = JSON.parse(await frr.vtysh('show bfd peers json')) as { status: string; interface?: string }[];
    assert.ok(peers.some((p) => p.status === 'up' && p.interface === 'swp1'), JSON.stringify(peers));
    // Routes both ways: the router's network on the host, via its link-local address.
    await eventually(async () => {
      const r = JSON.parse((await run('ip', ['-n', fab.hosts[0]!.ns.name, '-j', 'route', 'show', '10.8.8.8'])).stdout) as { via?: { family: string }; dev?: string }[];
      assert.equal(r[0]?.via?.family, 'inet6', JSON.stringify(r));
      assert.equal(r[0]?.dev, 'uplink0');
    }, { timeoutMs: 10_000 });
  });

  it('BFD takes the session down when the router goes silent', async () => {
    await router.exec('nft', ['-f', '-'], { input: 'table inet silent {\n chain drop_in { type filter hook input priority -300; policy drop; }\n}\n' });
    const t0 = Date.now();
    const down = await eventually(async () => {
      const s = await node.bgp!.status();
      const p = s.peers.find((x) => x.protocol.startsWith('Iface_fe80_'));
      assert.ok(p && p.info !== 'Established', JSON.stringify(s.peers));
      return p;
    }, { timeoutMs: 20_000, intervalMs: 20 });
    // BFD, not the hold timer, took it down: the host's own BFD, or the router's BFD first (the
    // router still sends, so its Cease with subcode 10, "BFD down" (RFC 9384), may arrive first;
    // BIRD 2.0.12 prints that subcode as "Unknown error 6.10").
    assert.match(down.lastError ?? '', /BFD session down|error 6\.10\b/, JSON.stringify(down));
    console.log(`# router silent: the unnumbered session went down ${Date.now() - t0} ms later (BFD 100 ms × 3; hold time 9 s)`);
    await router.exec('nft', ['delete', 'table', 'inet', 'silent']);
  });
});
