/**
 * Node registration: Calico's IP autodetection methods (first-found, interface=, skip-interface=,
 * can-reach=, cidr=) over a described set of interfaces, the Node written to the datastore, and
 * the default IP pools.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nodeKind } from '../../src/api/kinds/node.ts';
import { ipPoolKind } from '../../src/api/kinds/ip-pool.ts';
import {
  autodetectAddress,
  type AutodetectSources,
  filteredEnumeration,
  type InterfaceInfo,
  isGlobalUnicast,
  parseAutodetectionMethod,
  parseIpAddrJson,
} from '../../src/bgp/autodetect.ts';
import { ensureDefaultPools, randomUlaPrefix, registerNode } from '../../src/bgp/node-registration.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { res } from './helpers.ts';

const IFACES: InterfaceInfo[] = [
  { name: 'lo', index: 1, addresses: [{ family: 4, address: '127.0.0.1', prefixLen: 8 }, { family: 6, address: '::1', prefixLen: 128 }] },
  { name: 'eth0', index: 2, addresses: [{ family: 4, address: '192.0.2.11', prefixLen: 24 }, { family: 6, address: 'fe80::1', prefixLen: 64 }, { family: 6, address: 'fd00:192::11', prefixLen: 64 }] },
  { name: 'eth1', index: 3, addresses: [{ family: 4, address: '198.51.100.11', prefixLen: 24 }] },
  { name: 'docker0', index: 4, addresses: [{ family: 4, address: '172.17.0.1', prefixLen: 16 }] },
  { name: 'cali1234567890a', index: 5, addresses: [{ family: 4, address: '169.254.1.1', prefixLen: 32 }] },
  { name: 'vxlan.margay', index: 6, addresses: [{ family: 4, address: '10.244.1.0', prefixLen: 32 }] },
];

const sources = (ifaces = IFACES, route: Record<string, string> = {}): AutodetectSources => ({
  interfaces: async () => ifaces,
  sourceAddressFor: async (dst) => route[dst],
});

describe('autodetection', () => {
  it('parses the methods and refuses bad ones', () => {
    assert.deepEqual(parseAutodetectionMethod(undefined), { kind: 'first-found' });
    assert.deepEqual(parseAutodetectionMethod('interface=eth.*, ens[0-9]+'), { kind: 'interface', patterns: ['eth.*', 'ens[0-9]+'] });
    assert.deepEqual(parseAutodetectionMethod('skip-interface=eth1'), { kind: 'skip-interface', patterns: ['eth1'] });
    assert.deepEqual(parseAutodetectionMethod('can-reach=8.8.8.8'), { kind: 'can-reach', destination: '8.8.8.8' });
    assert.deepEqual(parseAutodetectionMethod('cidr=192.0.2.0/24,10.0.0.0/8'), { kind: 'cidr', cidrs: ['192.0.2.0/24', '10.0.0.0/8'] });
    // Each refusal is a MARGAY_ERR_CONFIG naming the variable, the value, the fault and what is allowed.
    const refused = (text: string, variable: string | undefined, why: RegExp) =>
      assert.throws(
        () => parseAutodetectionMethod(text, variable),
        (err: unknown) => {
          assert.ok(hasCode(err, 'MARGAY_ERR_CONFIG'), String(err));
          assert.ok(err.message.startsWith(`${variable ?? 'IP_AUTODETECTION_METHOD'}=${JSON.stringify(text)}: `), err.message);
          assert.match(err.message, why);
          assert.match(err.message, /allowed: first-found, interface=REGEX\[,REGEX\], skip-interface=.*can-reach=IP or cidr=CIDR/);
          return true;
        },
      );
    refused('can-reach=www.example.com', undefined, /can-reach needs an IP address/);
    refused('interface=(', undefined, /"\(" is not a valid regular expression/);
    refused('cidr=10.0.0.1', 'IP6_AUTODETECTION_METHOD', /cidr= needs/);
    refused('kubernetes-internal-ip', undefined, /not an IP autodetection method/);
    refused('interface=', undefined, /names no interface pattern/);
  });

  it('first-found: highest interface index first, internal interfaces skipped, prefix kept', async () => {
    assert.deepEqual(await autodetectAddress({ kind: 'first-found' }, 4, sources()), { cidr: '198.51.100.11/24', address: '198.51.100.11', interface: 'eth1' });
    // IPv6: link-local and loopback are not global unicast.
    assert.deepEqual(await autodetectAddress({ kind: 'first-found' }, 6, sources()), { cidr: 'fd00:192::11/64', address: 'fd00:192::11', interface: 'eth0' });
  });

  it('interface=, skip-interface= and cidr=', async () => {
    assert.equal((await autodetectAddress(parseAutodetectionMethod('interface=eth0'), 4, sources()))?.cidr, '192.0.2.11/24');
    assert.equal((await autodetectAddress(parseAutodetectionMethod('interface=^eth[0-9]$'), 4, sources()))?.cidr, '198.51.100.11/24');
    assert.equal((await autodetectAddress(parseAutodetectionMethod('skip-interface=eth1'), 4, sources()))?.cidr, '192.0.2.11/24');
    assert.equal((await autodetectAddress(parseAutodetectionMethod('cidr=192.0.2.0/24'), 4, sources()))?.cidr, '192.0.2.11/24');
    assert.equal(await autodetectAddress(parseAutodetectionMethod('cidr=203.0.113.0/24'), 4, sources()), undefined);
    assert.equal(await autodetectAddress(parseAutodetectionMethod('interface=wlan0'), 4, sources()), undefined);
  });

  it('can-reach=: the source address of the route, with its interface prefix', async () => {
    const s = sources(IFACES, { '192.0.2.1': '192.0.2.11' });
    assert.deepEqual(await autodetectAddress(parseAutodetectionMethod('can-reach=192.0.2.1'), 4, s), { cidr: '192.0.2.11/24', address: '192.0.2.11', interface: 'eth0' });
    assert.equal(await autodetectAddress(parseAutodetectionMethod('can-reach=203.0.113.1'), 4, s), undefined, 'no route');
    assert.equal(await autodetectAddress(parseAutodetectionMethod('can-reach=192.0.2.1'), 6, s), undefined, 'wrong family');
  });

  it('reads ip -j addr output and classifies addresses', () => {
    const parsed = parseIpAddrJson(
      JSON.stringify([{ ifindex: 2, ifname: 'eth0', addr_info: [{ family: 'inet', local: '192.0.2.11', prefixlen: 24 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64 }] }, { ifindex: 9 }]),
    );
    assert.deepEqual(parsed, [{ name: 'eth0', index: 2, addresses: [{ family: 4, address: '192.0.2.11', prefixLen: 24 }, { family: 6, address: 'fe80::1', prefixLen: 64 }] }]);
    for (const a of ['127.0.0.1', '169.254.1.1', '224.0.0.1', '255.255.255.255', '0.0.0.0', '::1', 'fe80::1', 'ff02::1', '::']) assert.equal(isGlobalUnicast(a), false, a);
    for (const a of ['192.0.2.1', '10.0.0.1', 'fd00::1', '2001:db8::1']) assert.equal(isGlobalUnicast(a), true, a);
    assert.equal(filteredEnumeration(IFACES, 4, { include: ['docker0'] })?.address, '172.17.0.1');
  });
});

describe('node registration', () => {
  it('creates the Node with the detected address, then keeps it; an address given without prefix gets the interface prefix', async () => {
    const store = new ResourceStore(new MemoryDatastore());
    const first = await registerNode(store, { nodeName: 'n1' }, sources());
    assert.equal(first.outcome, 'created');
    assert.deepEqual(first.node.spec, { bgp: { ipv4Address: '198.51.100.11/24' } });
    assert.equal(first.detected.ipv4Interface, 'eth1');
    // Same again: unchanged (the existing address is kept, no detection).
    const again = await registerNode(store, { nodeName: 'n1' }, sources([]));
    assert.equal(again.outcome, 'unchanged');
    // Explicit address, IPv6 autodetected, AS number.
    const explicit = await registerNode(store, { nodeName: 'n1', ip: '192.0.2.11', ip6: 'autodetect', asNumber: '1.10' }, sources());
    assert.equal(explicit.outcome, 'updated');
    assert.deepEqual(explicit.node.spec, { bgp: { ipv4Address: '192.0.2.11/24', ipv6Address: 'fd00:192::11/64', asNumber: 65546 } });
    // IP=autodetect with a method re-detects.
    const redetect = await registerNode(store, { nodeName: 'n1', ip: 'autodetect', ipAutodetectionMethod: 'cidr=192.0.2.0/24', ip6: 'none' }, sources());
    assert.deepEqual(redetect.node.spec, { bgp: { ipv4Address: '192.0.2.11/24', asNumber: 65546 } });
  });

  it('records the Kubernetes node it is (CALICO_K8S_NODE_REF) as orchRefs', async () => {
    const store = new ResourceStore(new MemoryDatastore());
    const r = await registerNode(store, { nodeName: 'n1', kubernetesNodeRef: 'worker-1' }, sources());
    assert.deepEqual((r.node.spec as { orchRefs?: unknown }).orchRefs, [{ nodeName: 'worker-1', orchestrator: 'k8s' }]);
  });

  it('keeps labels and other fields of an existing Node', async () => {
    const store = new ResourceStore(new MemoryDatastore());
    await store.create(res('Node', 'n1', { bgp: { routeReflectorClusterID: '1.0.0.1' }, ipv4VXLANTunnelAddr: '10.244.1.0' }, { labels: { rack: 'r1' } }));
    const r = await registerNode(store, { nodeName: 'n1' }, sources());
    assert.deepEqual(r.node.metadata.labels, { rack: 'r1' });
    assert.deepEqual(r.node.spec, { bgp: { routeReflectorClusterID: '1.0.0.1', ipv4Address: '198.51.100.11/24' }, ipv4VXLANTunnelAddr: '10.244.1.0' });
  });

  it('refuses an address another Node already has, and a node with no address at all', async () => {
    const store = new ResourceStore(new MemoryDatastore());
    await registerNode(store, { nodeName: 'n1' }, sources());
    await assert.rejects(registerNode(store, { nodeName: 'n2' }, sources()), /already used by node n1 \(198\.51\.100\.11\/24\)/);
    await assert.rejects(registerNode(store, { nodeName: 'n3' }, sources([])), /has no IPv4 or IPv6 address/);
    await assert.rejects(registerNode(store, { nodeName: 'n3', ip: 'fd00::1' }, sources()), /is not an IPv4 address/);
    assert.equal(await store.get(nodeKind, 'n3'), undefined, 'nothing written');
  });
});

describe('default IP pools', () => {
  it('creates default-ipv4-ippool (192.168.0.0/16) when there is no IPv4 pool, once', async () => {
    const store = new ResourceStore(new MemoryDatastore());
    const created = await ensureDefaultPools(store);
    assert.deepEqual(created.map((p) => [p.metadata.name, p.spec?.cidr, p.spec?.natOutgoing, p.spec?.vxlanMode]), [['default-ipv4-ippool', '192.168.0.0/16', true, 'Never']]);
    assert.deepEqual(await ensureDefaultPools(store), []);
    assert.equal((await store.list(ipPoolKind)).items.length, 1);
  });

  it('leaves an existing pool alone; creates IPv6 only when asked; NO_DEFAULT_POOLS', async () => {
    const store = new ResourceStore(new MemoryDatastore());
    await store.create(res('IPPool', 'mine', { cidr: '10.244.0.0/16' }));
    assert.deepEqual(await ensureDefaultPools(store, { noDefaultPools: true, ipv6: true }), []);
    const created = await ensureDefaultPools(store, { ipv6: true, ipv6Cidr: 'fd00:10:244::/48', ipv6VxlanMode: 'Always' });
    assert.deepEqual(created.map((p) => [p.metadata.name, p.spec?.cidr, p.spec?.vxlanMode]), [['default-ipv6-ippool', 'fd00:10:244::/48', 'Always']]);
    await assert.rejects(ensureDefaultPools(new ResourceStore(new MemoryDatastore()), { ipv4Cidr: 'fd00::/48' }), /is not an IPv4 CIDR/);
  });

  it('many hosts at once create one pool', async () => {
    const store = new ResourceStore(new MemoryDatastore());
    const results = await Promise.all([1, 2, 3, 4].map(() => ensureDefaultPools(store)));
    assert.equal(results.flat().length, 1);
    assert.equal((await store.list(ipPoolKind)).items.length, 1);
  });

  it('random unique local /48s look like Calico\'s', () => {
    assert.equal(randomUlaPrefix(() => Buffer.from([0x12, 0x34, 0x56, 0x78, 0x9a])), 'fd12:3456:789a::/48');
    assert.equal(randomUlaPrefix(() => Buffer.from([0, 0, 1, 0, 0])), 'fd00:1::/48');
  });
});
