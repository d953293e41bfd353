/** The leaf–spine fabric's plan and its FRR configuration (pure). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fabricBgpdConfig } from '../../src/lab/fabric/frr-config.ts';
import { fabricAgentEnv, fabricResources } from '../../src/lab/fabric/up.ts';
import { findLink, findRouter, linksOf, planFabric } from '../../src/lab/fabric/plan.ts';
import { planLab } from '../../src/lab/plan.ts';
import { validateResource } from '../../src/api/mod.ts';

const ranges = { fabric: '192.0.2.0/24', pool4: '10.244.0.0/16', fabric6: '2001:db8::/64', pool6: 'fd00:10:244::/48' };

describe('lab fabric - plan', () => {
  test('2 racks × 3 dual-homed hosts: two spines, two leaves per rack, loopback addresses only', () => {
    const plan = planFabric({ topology: 'leaf-spine', racks: 2, hostsPerRack: 3, dualHomed: true, asModel: 'rack' }, ranges);
    assert.deepEqual(plan.routers.map((r) => [r.name, r.role, r.asNumber]), [
      ['spine-1', 'spine', 65000], ['spine-2', 'spine', 65000],
      ['leaf-1a', 'leaf', 65001], ['leaf-1b', 'leaf', 65001], ['leaf-2a', 'leaf', 65002], ['leaf-2b', 'leaf', 65002],
    ]);
    assert.deepEqual(plan.hosts.map((h) => [h.name, h.rack, h.asNumber, h.loopback, h.loopback6, h.uplinks.join(',')]), [
      ['host-1', 1, 65001, '192.0.2.11/32', '2001:db8::b/128', 'uplink0,uplink1'],
      ['host-2', 1, 65001, '192.0.2.12/32', '2001:db8::c/128', 'uplink0,uplink1'],
      ['host-3', 1, 65001, '192.0.2.13/32', '2001:db8::d/128', 'uplink0,uplink1'],
      ['host-4', 2, 65002, '192.0.2.14/32', '2001:db8::e/128', 'uplink0,uplink1'],
      ['host-5', 2, 65002, '192.0.2.15/32', '2001:db8::f/128', 'uplink0,uplink1'],
      ['host-6', 2, 65002, '192.0.2.16/32', '2001:db8::10/128', 'uplink0,uplink1'],
    ]);
    assert.equal(plan.links.length, 8 + 12);
    assert.deepEqual(linksOf(plan, 'host-4').map((l) => `${l.mine.iface}->${l.theirs.node}:${l.theirs.iface}`), ['uplink0->leaf-2a:h4', 'uplink1->leaf-2b:h4']);
    assert.deepEqual(linksOf(plan, 'spine-1').map((l) => `${l.mine.iface}->${l.theirs.node}`), ['l1a->leaf-1a', 'l1b->leaf-1b', 'l2a->leaf-2a', 'l2b->leaf-2b']);
    assert.equal(findLink(plan, 'leaf-2a', 'host-4').b.iface, 'h4');
    assert.throws(() => findLink(plan, 'host-1', 'spine-1'), /no link between host-1 and spine-1/);
    assert.throws(() => findRouter(plan, 'leaf-9'), /no router "leaf-9" in the fabric \(routers: spine-1, spine-2, leaf-1a/);
  });

  test('AS per host, single-homed; bad sizes refused naming the flag', () => {
    const plan = planFabric({ topology: 'leaf-spine', racks: 2, hostsPerRack: 2, dualHomed: false, asModel: 'host' }, ranges);
    assert.deepEqual(plan.hosts.map((h) => h.asNumber), [65101, 65102, 65103, 65104]);
    assert.deepEqual(plan.routers.map((r) => r.name), ['spine-1', 'spine-2', 'leaf-1a', 'leaf-2a']);
    assert.throws(() => planFabric({ topology: 'leaf-spine', racks: 0, hostsPerRack: 2, dualHomed: false, asModel: 'host' }, ranges), /--racks must be a whole number from 1 to 8/);
    assert.throws(() => planFabric({ topology: 'leaf-spine', racks: 1, hostsPerRack: 99, dualHomed: false, asModel: 'host' }, ranges), /--hosts-per-rack/);
  });

  test('the lab plan: hosts are the fabric\'s, no router or Kubernetes with it', () => {
    const lab = planLab({ hosts: 3, router: false, ipv6: false, fabric: { topology: 'leaf-spine', racks: 2, hostsPerRack: 2, dualHomed: true, asModel: 'rack' } }, []);
    assert.deepEqual(lab.hosts.map((h) => [h.name, h.netns, h.address, h.uplink]), [
      ['host-1', 'mgl-host-1', '192.0.2.11/32', 'uplink0'], ['host-2', 'mgl-host-2', '192.0.2.12/32', 'uplink0'],
      ['host-3', 'mgl-host-3', '192.0.2.13/32', 'uplink0'], ['host-4', 'mgl-host-4', '192.0.2.14/32', 'uplink0'],
    ]);
    assert.equal(lab.options.hosts, 4);
    assert.throws(() => planLab({ hosts: 3, router: true, ipv6: false, fabric: { topology: 'leaf-spine', racks: 1, hostsPerRack: 1, dualHomed: false, asModel: 'rack' } }, []), /does not combine with --router/);
    assert.ok(lab.fabric!.routers.every((r) => r.netns.startsWith('mgl-')));
  });
});

describe('lab fabric - configuration', () => {
  const plan = planFabric({ topology: 'leaf-spine', racks: 2, hostsPerRack: 2, dualHomed: true, asModel: 'rack', bfd: { intervalMs: 50, multiplier: 4 } }, ranges);

  test('a leaf: unnumbered eBGP to the spines, iBGP route-reflection to its hosts with next hop self, BFD, ECMP', () => {
    const text = fabricBgpdConfig(plan, findRouter(plan, 'leaf-1a'));
    assert.match(text, /router bgp 65001\n bgp router-id 10\.255\.1\.2\n/);
    assert.match(text, / neighbor s1 interface remote-as external\n neighbor s1 timers connect 1\n neighbor s1 bfd 4 50 50\n/);
    assert.match(text, / neighbor h1 interface remote-as internal\n/);
    assert.match(text, /address-family ipv4 unicast\n  maximum-paths 16\n  maximum-paths ibgp 16\n[^]*  neighbor h1 route-reflector-client\n  neighbor h1 next-hop-self force\n/);
    assert.match(text, /address-family ipv6 unicast\n[^]*  neighbor s1 activate\n/);
    assert.doesNotMatch(fabricBgpdConfig(plan, findRouter(plan, 'spine-1')), /route-reflector-client|remote-as internal/);
  });

  test('one BGPPeer per rack selects its Nodes and names both uplinks, with BFD; Nodes carry rack, AS and loopbacks', () => {
    const docs = fabricResources(plan).map((d) => validateResource({ apiVersion: 'projectcalico.org/v3', ...(d as object) }));
    const peers = docs.filter((d) => d.kind === 'BGPPeer');
    assert.deepEqual(peers.map((p) => [p.metadata.name, (p.spec as { nodeSelector: string }).nodeSelector, p.metadata.annotations!['margay.io/peer-interface'], p.metadata.annotations!['margay.io/bfd']]), [
      ['rack-1', "margay.io/rack == 'r1'", 'uplink0,uplink1', 'true'],
      ['rack-2', "margay.io/rack == 'r2'", 'uplink0,uplink1', 'true'],
    ]);
    const node = docs.find((d) => d.kind === 'Node' && d.metadata.name === 'host-3')!;
    assert.deepEqual([node.metadata.labels, node.spec], [{ 'margay.io/rack': 'r2' }, { bgp: { ipv4Address: '192.0.2.13/32', ipv6Address: '2001:db8::d/128', asNumber: 65002 } }]);
    assert.deepEqual(fabricAgentEnv(plan, 'host-3'), { IP: '192.0.2.13/32', IP6: '2001:db8::d/128', AS: '65002' });
  });
});

describe('lab route reflectors', () => {
  test('--route-reflectors 2: the first two hosts reflect, every host peers with them, the mesh is off', async () => {
    const { routeReflectorResources, LAB_RR_CLUSTER_ID } = await import('../../src/lab/route-reflectors.ts');
    const plan = planLab({ hosts: 20, router: false, ipv6: false, routeReflectors: 2 }, []);
    const docs = routeReflectorResources(plan).map((d) => validateResource({ apiVersion: 'projectcalico.org/v3', ...(d as object) }));
    assert.deepEqual(docs.map((d) => `${d.kind}/${d.metadata.name}`), ['Node/host-1', 'Node/host-2', 'BGPPeer/peer-with-route-reflectors']);
    assert.deepEqual(docs[0]!.spec, { bgp: { routeReflectorClusterID: LAB_RR_CLUSTER_ID } });
    assert.deepEqual(docs[2]!.spec, { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" });
    assert.deepEqual(routeReflectorResources(planLab({ hosts: 3, router: false, ipv6: false }, [])), []);
    assert.throws(() => planLab({ hosts: 3, router: false, ipv6: false, routeReflectors: 3 }, []), /--route-reflectors must be a whole number from 0 to 2/);
  });
});
