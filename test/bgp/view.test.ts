/**
 * The BGP datastore view (resources + IPAM blocks → renderer input) and the VXLAN planner.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BgpView } from '../../src/bgp/view.ts';
import { MARGAY_VXLAN_ROUTE_PROTOCOL, planVxlan } from '../../src/dataplane/vxlan/plan.ts';
import { vxlanMacFor } from '../../src/dataplane/vxlan/tunnel-address.ts';
import { node, res } from './helpers.ts';

const R = '/calico/resources/v3/projectcalico.org/';

function block(cidr: string, affinity: string | null, allocations: (number | null)[] = [], attributes: unknown[] = []): string {
  return JSON.stringify({ cidr, affinity, allocations, unallocated: [], attributes, sequenceNumber: 1700000000000000001, sequenceNumberForAllocation: {}, deleted: false });
}

describe('BgpView', () => {
  it('follows the BGP kinds and blocks; ignores everything else', () => {
    const v = new BgpView();
    assert.equal(v.onUpdate(`${R}nodes/h1`, JSON.stringify(node('h1', '192.0.2.11/24'))), true);
    assert.equal(v.onUpdate(`${R}ippools/p`, res('IPPool', 'p', { cidr: '10.244.0.0/16' })), true);
    assert.equal(v.onUpdate(`${R}workloadendpoints/ns/x`, '{}'), false);
    assert.equal(v.onUpdate('/calico/ipam/v2/host/h1/ipv4/block/10.244.1.0-26', '{}'), false);
    const g = v.generation;
    assert.equal(v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', block('10.244.1.0/26', 'host:h1')), true);
    assert.equal(v.generation, g + 1);
    assert.deepEqual(v.affineBlocks('h1'), ['10.244.1.0/26']);
    const input = v.birdInput('h1');
    assert.deepEqual(input.nodes.map((n) => n.metadata.name), ['h1']);
    assert.deepEqual(input.affineBlocks, ['10.244.1.0/26']);
    v.onUpdate(`${R}nodes/h1`, undefined);
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', undefined);
    assert.deepEqual(v.birdInput('h1').nodes, []);
    assert.deepEqual(v.affineBlocks('h1'), []);
  });

  it('borrowed addresses: allocations of another host in a block, inside an enabled pool', () => {
    const v = new BgpView();
    v.onUpdate(`${R}ippools/p`, res('IPPool', 'p', { cidr: '10.244.0.0/16' }));
    v.onUpdate(`${R}ippools/off`, res('IPPool', 'off', { cidr: '10.99.0.0/16', disabled: true }));
    const attrs = [
      { handle_id: 'k8s-pod-network.a', secondary: { node: 'h1', pod: 'a' } },
      { handle_id: 'k8s-pod-network.b', secondary: { node: 'h2', pod: 'b' } },
      { handle_id: null, secondary: { node: 'h2' }, releasedAt: '2026-11-26T00:00:00Z' },
    ];
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', block('10.244.1.0/26', 'host:h1', [0, 1, 2, null], attrs));
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.99.0.0-26', block('10.99.0.0/26', 'host:h1', [null, 1], attrs));
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.9.0-26', block('10.244.9.0/26', null, [null, null, 1], attrs));
    assert.deepEqual(v.borrowedAddresses('h2'), ['10.244.1.1', '10.244.9.2'], 'cooling-down address and disabled pool left out');
    assert.deepEqual(v.borrowedAddresses('h1'), []);
    // A deleted block disappears.
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', JSON.stringify({ ...JSON.parse(block('10.244.1.0/26', 'host:h1')), deleted: true }));
    assert.deepEqual(v.affineBlocks('h1'), ['10.99.0.0/26']);
  });
});

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
    assert.equal(MARGAY_VXLAN_ROUTE_PROTOCOL, 78);
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
