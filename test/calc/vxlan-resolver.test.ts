/**
 * The VXLAN resolver: the planner (Nodes, pools, blocks → devices, VTEPs, routes) and the graph
 * node that sends the plan to the dataplane when it changes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vxlanMacFor } from '../../src/bgp/tunnel-address.ts';
import { planVxlan } from '../../src/calc/vxlan-resolver.ts';
import { keyOfResource } from '../../src/calc/offline.ts';
import { node, res } from '../bgp/helpers.ts';
import { Harness, summary } from './helpers.ts';

describe('VXLAN planner', () => {
  const vx = (name: string, ip: string, tunnel: string | undefined, extra: Record<string, unknown> = {}) =>
    res('Node', name, { bgp: { ipv4Address: ip }, ...(tunnel ? { ipv4VXLANTunnelAddr: tunnel, vxlanTunnelMACAddr: vxlanMacFor(name, 4) } : {}), ...extra });
  const nodes = [vx('h1', '192.0.2.11/24', '10.250.1.0'), vx('h2', '192.0.2.12/24', '10.250.2.0'), vx('h3', '198.51.100.13/24', '10.250.3.0'), vx('h4', '198.51.100.14/24', undefined)];
  const blocks = [
    { cidr: '10.250.1.0/26', family: 4 as const, host: 'h1' },
    { cidr: '10.250.2.0/26', family: 4 as const, host: 'h2', borrowedBy: new Map([['h3', ['10.250.2.7']]]) },
    { cidr: '10.250.3.0/26', family: 4 as const, host: 'h3' },
    { cidr: '10.250.4.0/26', family: 4 as const, host: 'h4' },
    { cidr: '10.244.5.0/26', family: 4 as const, host: 'h2' },
  ];

  it('CrossSubnet: same subnet routed plainly, other subnets through vxlan.margay; FDB and neighbours per VTEP', () => {
    const plan = planVxlan({ nodeName: 'h1', nodes, pools: [res('IPPool', 'vx', { cidr: '10.250.0.0/16', vxlanMode: 'CrossSubnet' }), res('IPPool', 'bgp', { cidr: '10.244.0.0/16' })], blocks });
    assert.deepEqual(plan.devices, [{ family: 4, name: 'vxlan.margay', vni: 4096, port: 4789, localIp: '192.0.2.11', mac: vxlanMacFor('h1', 4), tunnelIp: '10.250.1.0' }]);
    assert.deepEqual(plan.vteps.map((v) => [v.node, v.tunnelIp, v.nodeIp]), [['h2', '10.250.2.0', '192.0.2.12'], ['h3', '10.250.3.0', '198.51.100.13']]);
    assert.deepEqual(plan.routes.map((r) => [r.dst, r.via, r.dev ?? '-']), [
      ['10.250.2.0/26', '192.0.2.12', '-'],
      ['10.250.2.7/32', '10.250.3.0', 'vxlan.margay'],
      ['10.250.3.0/26', '10.250.3.0', 'vxlan.margay'],
    ]);
    assert.deepEqual(plan.absent, [6]);
    assert.match(plan.warnings.join('\n'), /h4 has no VXLAN tunnel address yet; no route to 10\.250\.4\.0\/26/);
  });

  it('Always: everything remote goes through the tunnel', () => {
    const plan = planVxlan({ nodeName: 'h1', nodes, pools: [res('IPPool', 'vx', { cidr: '10.250.0.0/16', vxlanMode: 'Always' })], blocks });
    assert.ok(plan.routes.every((r) => r.dev === 'vxlan.margay'));
    assert.equal(plan.routes.find((r) => r.dst === '10.250.2.0/26')?.via, '10.250.2.0');
  });

  it('no VXLAN pool, or no tunnel address yet: no device', () => {
    assert.deepEqual(planVxlan({ nodeName: 'h1', nodes, pools: [res('IPPool', 'bgp', { cidr: '10.244.0.0/16' })], blocks }), { devices: [], vteps: [], routes: [], absent: [4, 6], warnings: [] });
    const p = planVxlan({ nodeName: 'h4', nodes, pools: [res('IPPool', 'vx', { cidr: '10.250.0.0/16', vxlanMode: 'Always' })], blocks });
    assert.deepEqual(p.devices, []);
    assert.match(p.warnings[0]!, /node h4 has no VXLAN tunnel address and MAC yet/);
  });

  it('IPv6 VXLAN uses the IPv6 underlay and vxlan-v6.margay', () => {
    const n6 = ['h1', 'h2'].map((n, i) =>
      res('Node', n, { bgp: { ipv6Address: `fd00:192::${11 + i}/64` }, ipv6VXLANTunnelAddr: `fd00:10:250:${i + 1}::`, vxlanTunnelMACAddrV6: vxlanMacFor(n, 6) }),
    );
    const plan = planVxlan({
      nodeName: 'h1',
      nodes: n6,
      pools: [res('IPPool', 'vx6', { cidr: 'fd00:10:250::/48', vxlanMode: 'Always' })],
      blocks: [{ cidr: 'fd00:10:250:2::/122', family: 6, host: 'h2' }],
    });
    assert.deepEqual(plan.devices.map((d) => [d.name, d.localIp, d.tunnelIp]), [['vxlan-v6.margay', 'fd00:192::11', 'fd00:10:250:1::']]);
    assert.deepEqual(plan.routes.map((r) => [r.dst, r.via, r.dev]), [['fd00:10:250:2::/122', 'fd00:10:250:2::', 'vxlan-v6.margay']]);
    assert.notEqual(vxlanMacFor('h1', 6), vxlanMacFor('h1', 4));
    assert.match(vxlanMacFor('h1', 4), /^66(:[0-9a-f]{2}){5}$/);
  });
});

describe('VXLAN resolver in the graph', () => {
  const blockKey = '/calico/ipam/v2/assignment/ipv4/block/10.250.2.0-26';
  const block = { cidr: '10.250.2.0/26', affinity: 'host:h2', allocations: [], unallocated: [], attributes: [], sequenceNumber: 1, sequenceNumberForAllocation: {}, deleted: false };
  const vxNode = (name: string, ip: string, tunnel: string) => res('Node', name, { bgp: { ipv4Address: ip }, ipv4VXLANTunnelAddr: tunnel, vxlanTunnelMACAddr: vxlanMacFor(name, 4) });

  it('sends nothing without a VXLAN pool, then the plan whenever it changes', () => {
    const h = new Harness({ hostname: 'h1' });
    h.put(res('IPPool', 'bgp', { cidr: '10.244.0.0/16' }), node('h1', '192.0.2.11/24'), node('h2', '192.0.2.12/24'));
    h.graph.onUpdate(blockKey, block);
    assert.equal(summary(h.sync()).filter((l) => l.startsWith('vxlan')).length, 0, 'no VXLAN pool: no message');
    h.put(res('IPPool', 'vx', { cidr: '10.250.0.0/16', vxlanMode: 'Always' }));
    assert.deepEqual(summary(h.flush()).filter((l) => l.startsWith('vxlan')), ['vxlan-update '], 'a pool but no tunnel address yet');
    h.put(vxNode('h1', '192.0.2.11/24', '10.250.1.0'), vxNode('h2', '192.0.2.12/24', '10.250.2.0'));
    const batch = h.flush();
    const update = batch.find((u) => u.type === 'vxlan-update');
    assert.ok(update?.type === 'vxlan-update');
    assert.deepEqual(update.plan.routes, [{ dst: '10.250.2.0/26', family: 4, via: '10.250.2.0', dev: 'vxlan.margay', node: 'h2' }]);
    assert.deepEqual(h.flush(), [], 'nothing changed: nothing sent');
    h.graph.onUpdate(keyOfResource(res('IPPool', 'vx', { cidr: '10.250.0.0/16' })), undefined);
    const removed = h.flush().find((u) => u.type === 'vxlan-update');
    assert.ok(removed?.type === 'vxlan-update');
    assert.deepEqual(removed.plan.absent, [4, 6]);
  });

  it('policy trace graphs (mode all) resolve no VXLAN', () => {
    const h = new Harness({ hostname: 'h1', mode: 'all' });
    h.put(res('IPPool', 'vx', { cidr: '10.250.0.0/16', vxlanMode: 'Always' }), vxNode('h1', '192.0.2.11/24', '10.250.1.0'));
    assert.equal(h.sync().filter((u) => u.type === 'vxlan-update').length, 0);
  });
});
