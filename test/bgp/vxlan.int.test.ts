/**
 * VXLAN CrossSubnet through the node process (`margay agent --bgp`: the tunnel addresses with the
 * Node's registration, the plan in the calculation graph, the programming in the dataplane): h1
 * and h2 share the fabric
 * (192.0.2.0/24); h3 sits on a second subnet (198.51.100.0/24) behind a router namespace that
 * knows nothing of the pod pool. Each host gets its tunnel address from IPAM, `vxlan.margay`,
 * FDB/neighbour entries for the other VTEPs, and routes of protocol 78: plain routes to the host
 * on its own subnet, routes through the tunnel to the host across the router. BIRD still runs the
 * mesh (multihop through the router) but never programs the VXLAN pool.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nodeKind } from '../../src/api/kinds/node.ts';
import type { NodeProcess } from '../../src/agent/node.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { vxlanMacFor } from '../../src/bgp/tunnel-address.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { createTestNetns, run, type TestNetns, vethPair } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { addPod, createFabric, type Fabric, kernelRoutes, killBirdAtExit, resource, startLabNode, type TestHost } from './topology.ts';

describe('VXLAN CrossSubnet (2 hosts on the fabric, 1 behind a router)', () => {
  let fab: Fabric;
  let router: TestNetns;
  let h3ns: TestNetns;
  let hosts: TestHost[];
  const pods = new Map<string, { ip: string; block: string }>();
  const nodes: NodeProcess[] = [];
  let ds: MemoryDatastore;

  before(async () => {
    fab = await createFabric(2, { blocks: false });
    router = await createTestNetns('mgb');
    h3ns = await createTestNetns('mgb');
    await vethPair(router, fab.fabric, { nameA: 'eth0', nameB: 'prouter', addressA: '192.0.2.1/24' });
    await run('ip', ['-n', fab.fabric.name, 'link', 'set', 'prouter', 'master', 'br0']);
    await vethPair(router, h3ns, { nameA: 'eth1', nameB: 'eth0', addressA: '198.51.100.1/24', addressB: '198.51.100.13/24' });
    await router.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await h3ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await run('ip', ['-n', h3ns.name, 'route', 'add', 'default', 'via', '198.51.100.1']);
    for (const h of fab.hosts) await run('ip', ['-n', h.ns.name, 'route', 'add', '198.51.100.0/24', 'via', '192.0.2.1']);
    const h3: TestHost = {
      name: 'h3', ns: h3ns, ip: '198.51.100.13', block: '', podIp: '', iface: 'eth0', port: '', stateDir: join(fab.hosts[0]!.stateDir, '..', 'h3'), events: [],
    };
    hosts = [...fab.hosts, h3];

    ds = new MemoryDatastore();
    const store = new ResourceStore(ds);
    await store.create(resource('IPPool', 'vxlan-pool', { cidr: '10.250.0.0/16', vxlanMode: 'CrossSubnet', natOutgoing: false }));
    nodes.push(...(await Promise.all(hosts.map((h) => startLabNode(ds.peer(), h)))));
    await Promise.all(nodes.map((n) => n.bgp!.ready));
    for (const n of nodes) killBirdAtExit(n.bgp!.bird.pid!);
    const ipam = new Ipam(ds);
    for (const h of hosts) {
      const a = (await ipam.autoAssign({ handle: `pod-${h.name}`, node: h.name, num4: 1 })).ipv4[0]!;
      await addPod(h, a.address, a.block);
      pods.set(h.name, { ip: a.address, block: a.block });
    }
  });
  after(async () => {
    for (const n of nodes) await n.stop({ bird: 'stop' }).catch(() => undefined);
    await h3ns?.delete();
    await router?.delete();
    await fab?.destroy();
  });

  it('gives every Node a tunnel address from the VXLAN pool and a stable MAC', async () => {
    const store = new ResourceStore(ds);
    for (const h of hosts) {
      await eventually(async () => {
        const spec = (await store.get(nodeKind, h.name))?.spec as Record<string, string> | undefined;
        assert.match(spec?.ipv4VXLANTunnelAddr ?? '', /^10\.250\./, JSON.stringify(spec));
        assert.equal(spec?.vxlanTunnelMACAddr, vxlanMacFor(h.name, 4));
      });
    }
    const link = JSON.parse((await run('ip', ['-n', hosts[0]!.ns.name, '-j', '-d', 'link', 'show', 'dev', 'vxlan.margay'])).stdout)[0];
    assert.deepEqual(
      [link.linkinfo.info_data.id, link.linkinfo.info_data.port, link.linkinfo.info_data.local, link.linkinfo.info_data.learning, link.address, link.mtu],
      [4096, 4789, '192.0.2.11', false, vxlanMacFor('h1', 4), 1450],
    );
  });

  it('routes the same-subnet host plainly and the far host through the tunnel (protocol 78)', async () => {
    const [h1, h2, h3] = hosts as [TestHost, TestHost, TestHost];
    const h3Tunnel = async () => ((await new ResourceStore(ds).get(nodeKind, 'h3'))?.spec as Record<string, string>).ipv4VXLANTunnelAddr;
    await eventually(async () => {
      const routes = await kernelRoutes(h1);
      const toH2 = routes.find((r) => r.dst === pods.get('h2')!.block);
      const toH3 = routes.find((r) => r.dst === pods.get('h3')!.block);
      assert.deepEqual([toH2?.gateway, toH2?.dev, toH2?.protocol], [h2.ip, 'eth0', '78'], JSON.stringify(routes));
      assert.deepEqual([toH3?.gateway, toH3?.dev, toH3?.protocol, toH3?.flags], [await h3Tunnel(), 'vxlan.margay', '78', ['onlink']], JSON.stringify(routes));
    }, { timeoutMs: 10_000 });
    // h3 reaches both fabric hosts through the tunnel.
    await eventually(async () => {
      const routes = await kernelRoutes(h3);
      for (const h of [h1, h2]) assert.equal(routes.find((r) => r.dst === pods.get(h.name)!.block)?.dev, 'vxlan.margay', JSON.stringify(routes));
    }, { timeoutMs: 10_000 });
    // BIRD never programs the VXLAN pool, even though it learns the blocks over BGP.
    for (const h of hosts) assert.deepEqual((await kernelRoutes(h)).filter((r) => r.protocol === 'bird'), [], `${h.name}: no BIRD routes`);
    const fdb = JSON.parse((await run('ip', ['netns', 'exec', h1.ns.name, 'bridge', '-j', 'fdb', 'show', 'dev', 'vxlan.margay'])).stdout) as { mac: string; dst: string }[];
    assert.deepEqual(fdb.map((e) => [e.mac, e.dst]).sort(), [[vxlanMacFor('h2', 4), h2.ip], [vxlanMacFor('h3', 4), h3.ip]].sort());
  });

  it('pods reach pods: directly on the fabric, encapsulated across the router', async () => {
    const [h1, h2, h3] = hosts as [TestHost, TestHost, TestHost];
    const ping = async (from: TestHost, to: TestHost) =>
      (await from.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', pods.get(from.name)!.ip, pods.get(to.name)!.ip], { allowFail: true })).stdout;
    // The router has no route to 10.250.0.0/16: only encapsulated traffic can cross it.
    assert.equal((await run('ip', ['-n', router.name, 'route', 'get', '10.250.0.1'], { allowFail: true })).code !== 0, true);
    assert.match(await ping(h1, h2), / 0% packet loss/);
    assert.match(await ping(h1, h3), / 0% packet loss/);
    assert.match(await ping(h3, h2), / 0% packet loss/);
  });

  it('removing the VXLAN pool removes the device and its routes', async () => {
    const store = new ResourceStore(ds);
    await store.delete(resource('IPPool', 'vxlan-pool', { cidr: '10.250.0.0/16' }));
    const h1 = hosts[0]!;
    await eventually(async () => {
      const res = await run('ip', ['-n', h1.ns.name, 'link', 'show', 'dev', 'vxlan.margay'], { allowFail: true });
      assert.notEqual(res.code, 0, 'vxlan.margay still exists');
      assert.deepEqual((await kernelRoutes(h1)).filter((r) => r.protocol === '78'), []);
    }, { timeoutMs: 10_000 });
    await eventually(async () => assert.equal(((await store.get(nodeKind, 'h1'))?.spec as Record<string, unknown>).ipv4VXLANTunnelAddr, undefined));
  });
});
