// Endpoints, network sets and profiles: table cases ported from Calico's validator_test.go.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workloadEndpointName } from '../../src/api/kinds/workload-endpoint.ts';
import { type Case, accept, gns, hep, netset, profile, runCase, wep } from './policy-helpers.ts';

const ipv4_1 = '1.2.3.4';
const ipv4_2 = '100.200.0.0';
const ipv6_1 = 'aabb:aabb::ffff';
const ipv6_2 = 'aabb::abcd';
const netv4_1 = '1.2.3.4/32';
const netv4_2 = '1.2.0.0/32';
const netv4_3 = '1.2.3.0/26';
const netv6_1 = 'aabb:aabb::ffff/128';
const netv6_2 = 'aabb:aabb::/128';
const netv6_3 = 'aabb:aabb::0000/122';
const port = { name: 'a-valid-port', protocol: 'TCP', port: 1234 };

const hepCases: Case[] = [
  ['HEP: accepts a port', hep({ interfaceName: 'eth0', node: 'node01', ports: [port] }), true],
  ['HEP: rejects an unnamed port', hep({ interfaceName: 'eth0', node: 'node01', ports: [{ protocol: 'TCP', port: 1234 }] }), 'spec.ports[0].name'],
  ['HEP: rejects a missing node', hep({ interfaceName: 'eth0', ports: [port] }), 'spec.node'],
  ['HEP: accepts name-clashing ports', hep({ interfaceName: 'eth0', node: 'node01', ports: [port, { name: 'a-valid-port', protocol: 'UDP', port: 5456 }] }), true],
  ['HEP: accepts interfaceName *', hep({ interfaceName: '*', node: 'node01' }), true],
  ['HEP: accepts interface and node', hep({ interfaceName: 'eth0', node: 'node01' }), true],
  ['HEP: accepts expected IPs', hep({ expectedIPs: [ipv4_1, ipv6_1], node: 'node01' }), true],
  ['HEP: accepts interface and expected IPs', hep({ interfaceName: 'eth0', expectedIPs: [ipv4_1, ipv6_1], node: 'node01' }), true],
  ['HEP: rejects no config', hep({}), 'spec.node'],
  ['HEP: rejects no config (interface)', hep({}), 'spec.interfaceName'],
  ['HEP: rejects a blank interface and no IPs', hep({ interfaceName: '', expectedIPs: [], node: 'node01' }), 'spec.interfaceName'],
  ['HEP: accepts prefixed profile names', hep({ interfaceName: 'eth0', profiles: ['knp.default.fun', 'knp.default.funner.11234-a'], node: 'node01' }), true],
  ['HEP: accepts unprefixed profile names', hep({ interfaceName: 'eth0', profiles: ['fun-funner1234'], node: 'node01' }), true],
  ['HEP: rejects a profile name starting with a dot', hep({ interfaceName: 'eth0', profiles: ['.fun'], node: 'node01' }), 'spec.profiles[0]'],
  ['HEP: rejects a port without a protocol', hep({ interfaceName: 'eth0', node: 'n', ports: [{ name: 'p', port: 1 }] }), 'spec.ports[0].protocol'],
  ['HEP: rejects a port with a numeric non-port protocol', hep({ interfaceName: 'eth0', node: 'n', ports: [{ name: 'p', protocol: 123, port: 1 }] }), 'spec.ports[0].protocol'],
  ['HEP: accepts a port with protocol 6', hep({ interfaceName: 'eth0', node: 'n', ports: [{ name: 'p', protocol: 6, port: 1 }] }), true],
  ['HEP: rejects a port with protocol ICMP', hep({ interfaceName: 'eth0', node: 'n', ports: [{ name: 'p', protocol: 'ICMP', port: 1 }] }), 'spec.ports[0].protocol'],
  ['HEP: rejects a port without a number', hep({ interfaceName: 'eth0', node: 'n', ports: [{ name: 'p', protocol: 'TCP' }] }), 'spec.ports[0].port'],
  ['HEP: rejects port 0', hep({ interfaceName: 'eth0', node: 'n', ports: [{ name: 'p', protocol: 'TCP', port: 0 }] }), 'spec.ports[0].port'],
  ['HEP: rejects an upper-case port name', hep({ interfaceName: 'eth0', node: 'n', ports: [{ name: 'Web', protocol: 'TCP', port: 80 }] }), 'spec.ports[0].name'],
  ['HEP: rejects an interface name over 15 characters', hep({ interfaceName: 'interfaceTooLong', node: 'n' }), 'spec.interfaceName'],
  ['HEP: rejects a bad expected IP', hep({ expectedIPs: ['999.999.999.999'], node: 'n' }), 'spec.expectedIPs[0]'],
  ['HEP: rejects a CIDR as expected IP', hep({ expectedIPs: ['10.0.0.0/24'], node: 'n' }), 'spec.expectedIPs[0]'],
  ['HEP: rejects a node that is not a DNS name', hep({ interfaceName: 'eth0', node: 'Node_1' }), 'spec.node'],
  ['HEP: rejects a bad name', hep({ interfaceName: 'eth0', node: 'n' }, 'bad$name'), 'metadata.name'],
];

const setCases: Case[] = [
  ['GNS: accepts CIDRs and IPs', gns({ nets: ['10.0.0.1', '11.0.0.0/8', 'dead:beef::', 'dead:beef::/96'] }), true],
  ['GNS: accepts an unmasked CIDR', gns({ nets: ['10.0.0.1/8'] }), true],
  ['GNS: rejects a bad CIDR', gns({ nets: ['garbage'] }), 'spec.nets[0]'],
  ['GNS: accepts labels', gns({ nets: ['10.0.0.1'] }, { a: 'b' }), true],
  ['GNS: rejects reserved labels', gns({ nets: ['10.0.0.1'] }, { 'projectcalico.org/namespace': 'foo' }), 'metadata.labels["projectcalico.org/namespace"]'],
  ['GNS: rejects a bad name', gns({ nets: ['10.0.0.1'] }, undefined, 'test$set'), 'metadata.name'],
  ['NS: accepts CIDRs and IPs', netset({ nets: ['10.0.0.1', '11.0.0.0/8', 'dead:beef::', 'dead:beef::/96'] }), true],
  ['NS: rejects a bad CIDR', netset({ nets: ['garbage'] }), 'spec.nets[0]'],
  ['NS: accepts labels', netset({ nets: ['10.0.0.1'] }, { a: 'b' }), true],
  ['NS: rejects reserved labels', netset({ nets: ['10.0.0.1'] }, { 'projectcalico.org/namespace': 'foo' }), 'metadata.labels["projectcalico.org/namespace"]'],
  ['NS: rejects a bad name', netset({ nets: ['10.0.0.1'] }, undefined, 'test$set'), 'metadata.name'],
  ['NS: rejects an unknown field', netset({ cidrs: [] }), 'spec'],
];

const value63 = 'x'.repeat(63);
const value64 = 'x'.repeat(64);

const profileCases: Case[] = [
  ['Profile: accepts valid labelsToApply', profile({ labelsToApply: { 'project.calico.org/my-valid-label': value63 } }), true],
  ['Profile: rejects a too-long value in labelsToApply', profile({ labelsToApply: { 'project.calico.org/my-valid-label': value64 } }), false],
  ['Profile: rejects . at the start of a key', profile({ labelsToApply: { '.mylabel': 'value' } }), false],
  ['Profile: rejects ! in a key', profile({ labelsToApply: { 'my!nvalid-label': 'value' } }), false],
  ['Profile: rejects $ in a key', profile({ labelsToApply: { 'my-invalid-label$': 'value' } }), false],
  ['Profile: accepts rules', profile({ ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [443] } }] }), true],
  ['Profile: checks its rules', profile({ egress: [{ action: 'Allow', destination: { ports: [443] } }] }), 'spec.egress[0].destination.ports'],
  ['Profile: accepts a kns. name', profile({ ingress: [{ action: 'Allow' }] }, 'kns.default'), true],
];

const wepCases: Case[] = [
  ['WEP: accepts a valid interface', wep({ interfaceName: 'Valid_Iface.0-9' }), true],
  ['WEP: rejects an interface that is too long', wep({ interfaceName: 'interfaceTooLong' }), 'spec.interfaceName'],
  ['WEP: rejects & in an interface', wep({ interfaceName: 'Invalid&Intface' }), 'spec.interfaceName'],
  ['WEP: rejects # in an interface', wep({ interfaceName: 'Invalid#Intface' }), 'spec.interfaceName'],
  ['WEP: rejects : in an interface', wep({ interfaceName: 'Invalid:Intface' }), 'spec.interfaceName'],
  ['WEP: rejects no interface', wep({ interfaceName: undefined }), 'spec.interfaceName'],
  ['WEP: accepts networks and no NATs', wep({ ipNetworks: [netv4_1, netv4_2, netv6_1, netv6_2] }), true],
  ['WEP: accepts a bare address as a network', wep({ ipNetworks: ['10.0.0.1'] }), true],
  ['WEP: accepts an IPv4 NAT covered by a network', wep({ ipNetworks: [netv4_1], ipNATs: [{ internalIP: ipv4_1, externalIP: ipv4_2 }] }), true],
  ['WEP: accepts an IPv6 NAT covered by a network', wep({ ipNetworks: [netv6_1], ipNATs: [{ internalIP: ipv6_1, externalIP: ipv6_2 }] }), true],
  ['WEP: accepts IPv4 and IPv6 NATs covered by networks', wep({ ipNetworks: [netv4_1, netv6_1], ipNATs: [{ internalIP: ipv4_1, externalIP: ipv4_2 }, { internalIP: ipv6_1, externalIP: ipv6_2 }] }), true],
  ['WEP: accepts a mixed-case container ID', wep({ containerID: 'Cath01234-G' }), true],
  ['WEP: rejects an IPv4 network with more than one address', wep({ ipNetworks: [netv4_3] }), 'spec.ipNetworks[0]'],
  ['WEP: rejects an IPv6 network with more than one address', wep({ ipNetworks: [netv6_3] }), 'spec.ipNetworks[0]'],
  ['WEP: rejects a network with host bits', wep({ ipNetworks: ['1.2.3.4/24'] }), 'spec.ipNetworks[0]'],
  ['WEP: rejects NATs and no networks', wep({ ipNATs: [{ internalIP: ipv4_2, externalIP: ipv4_1 }] }), 'spec.ipNATs[0].internalIP'],
  ['WEP: rejects an IPv4 NAT not covered by a network', wep({ ipNetworks: [netv4_1], ipNATs: [{ internalIP: ipv4_2, externalIP: ipv4_1 }] }), 'spec.ipNATs[0].internalIP'],
  ['WEP: rejects an IPv6 NAT not covered by a network', wep({ ipNetworks: [netv6_1], ipNATs: [{ internalIP: ipv6_2, externalIP: ipv6_1 }] }), 'spec.ipNATs[0].internalIP'],
  ['WEP: rejects a NAT mixing IPv4 and IPv6', wep({ ipNetworks: [netv4_1], ipNATs: [{ internalIP: ipv4_1, externalIP: ipv6_1 }] }), 'spec.ipNATs[0].externalIP'],
  ['WEP: rejects a container ID starting with a dash', wep({ containerID: '-abcdefg' }), 'spec.containerID'],
  ['WEP: rejects a container ID ending with a dash', wep({ containerID: 'abcdeSg-' }), 'spec.containerID'],
  ['WEP: rejects a container ID with a period', wep({ containerID: 'abcde-j.g' }), 'spec.containerID'],
  ['WEP: accepts a named port', wep({ ports: [port] }), true],
  ['WEP: rejects an unnamed port without a host port', wep({ ports: [{ protocol: 'TCP', port: 1234 }] }), 'spec.ports[0].name'],
  ['WEP: accepts name-clashing ports', wep({ ports: [port, { name: 'a-valid-port', protocol: 'UDP', port: 5456 }] }), true],
  ['WEP: accepts an unnamed port with a host port', wep({ ports: [{ protocol: 'TCP', port: 1234, hostPort: 2345 }] }), true],
  ['WEP: rejects a port with a bad host IP', wep({ ports: [{ protocol: 'TCP', port: 1234, hostPort: 2345, hostIP: '999.999.999.999' }] }), 'spec.ports[0].hostIP'],
  ['WEP: accepts a port with a host IP', wep({ ports: [{ protocol: 'TCP', port: 1234, hostPort: 2345, hostIP: '10.0.0.1' }] }), true],
  ['WEP: rejects a port with no protocol', wep({ ports: [{ name: 'p', port: 1234 }] }), 'spec.ports[0].protocol'],
  ['WEP: rejects a port with protocol 123', wep({ ports: [{ name: 'p', protocol: 123, port: 1234 }] }), 'spec.ports[0].protocol'],
  ['WEP: rejects a port with no number', wep({ ports: [{ name: 'p', protocol: 'TCP' }] }), 'spec.ports[0].port'],
  ['WEP: rejects an invalid source-spoofing prefix', wep({ allowSpoofedSourcePrefixes: ['10.abcd'] }), 'spec.allowSpoofedSourcePrefixes[0]'],
  ['WEP: accepts an IP or prefix for source spoofing', wep({ allowSpoofedSourcePrefixes: ['10.0.0.1', '192.168.0.0/16'] }), true],
  ['WEP: accepts gateways and a MAC', wep({ ipv4Gateway: '169.254.1.1', ipv6Gateway: 'fe80::1', mac: 'ee:ee:ee:ee:ee:ee' }), true],
  ['WEP: rejects an IPv6 address as the IPv4 gateway', wep({ ipv4Gateway: 'fe80::1' }), 'spec.ipv4Gateway'],
  ['WEP: rejects an IPv4 address as the IPv6 gateway', wep({ ipv6Gateway: '1.2.3.4' }), 'spec.ipv6Gateway'],
  ['WEP: rejects a bad MAC', wep({ mac: 'ee:ee:ee:ee:ee' }), 'spec.mac'],
  ['WEP: accepts a dash MAC', wep({ mac: '00-00-5e-00-53-01' }), true],
  ['WEP: accepts a dotted MAC', wep({ mac: '0000.5e00.5301' }), true],
  ['WEP: rejects a name that does not match the spec', wep({}, 'node1-k8s-pod2-eth0'), 'metadata.name'],
  ['WEP: escapes dashes in the name', wep({ node: 'node-1', pod: 'my-pod' }, 'node--1-k8s-my--pod-eth0'), true],
  ['WEP: rejects an unescaped name', wep({ node: 'node-1', pod: 'my-pod' }, 'node-1-k8s-my-pod-eth0'), 'metadata.name'],
  ['WEP: requires the pod for a k8s endpoint', wep({ pod: undefined }), 'spec.pod'],
  ['WEP: requires the endpoint', wep({ endpoint: undefined }), 'spec.endpoint'],
  ['WEP: requires the node', wep({ node: undefined }), 'spec.node'],
  ['WEP: uses containerID for cni endpoints', wep({ orchestrator: 'cni', pod: undefined, containerID: 'abc123' }, 'node1-cni-abc123-eth0'), true],
  ['WEP: uses workload for other orchestrators', wep({ orchestrator: 'openstack', pod: undefined, workload: 'vm1' }, 'node1-openstack-vm1-eth0'), true],
  ['WEP: uses the orchestrator twice for libnetwork', wep({ orchestrator: 'libnetwork', pod: undefined }, 'node1-libnetwork-libnetwork-eth0'), true],
  ['WEP: accepts QoS controls', wep({ qosControls: { ingressBandwidth: 1000000, egressPacketRate: 100, dscp: 'AF11' } }), true],
  ['WEP: rejects a bad DSCP', wep({ qosControls: { dscp: 64 } }), 'spec.qosControls.dscp'],
  ['WEP: rejects an unknown field', wep({ ipAddress: '10.0.0.1' }), 'spec'],
];

for (const [title, cases] of [
  ['HostEndpoint', hepCases],
  ['NetworkSet and GlobalNetworkSet', setCases],
  ['Profile', profileCases],
  ['WorkloadEndpoint', wepCases],
] as const) {
  describe(title, () => {
    for (const c of cases) it(c[0], () => runCase(c));
  });
}

describe('WorkloadEndpoint names', () => {
  it('builds the name from the spec', () => {
    assert.deepEqual(workloadEndpointName({ node: 'n', orchestrator: 'k8s', pod: 'p-1', endpoint: 'eth0', interfaceName: 'x' }), { name: 'n-k8s-p--1-eth0' });
  });
  it('refuses parts that begin or end with a dash', () => {
    const r = workloadEndpointName({ node: '-n', orchestrator: 'k8s', pod: 'p', endpoint: 'eth0', interfaceName: 'x' });
    assert.ok('issues' in r && r.issues[0]?.path === 'spec.node');
  });
  it('stores a valid endpoint unchanged apart from its labels', () => {
    const res = accept(wep({ ipNetworks: ['10.0.0.1/32'] }));
    assert.deepEqual(res.spec?.ipNetworks, ['10.0.0.1/32']);
  });
});
