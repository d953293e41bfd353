/**
 * Table cases ported from Calico's libcalico-go/lib/validator/v3/validator_test.go (and the CRD
 * validation tests) for the infrastructure kinds. Each Go entry validated a spec or a resource;
 * here the spec is wrapped in a resource of the matching kind and sent through validateResource.
 * Calico 3.32 applies both its validator and its CRD schema, so where the CRD pattern ignores case
 * but the validator does not, the stricter validator wins (noted inline).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateResource } from '../../src/api/validate.ts';

type Case = [description: string, kind: string, spec: Record<string, unknown>, valid: boolean, meta?: Record<string, unknown>];

function run(kind: string, spec: Record<string, unknown>, meta: Record<string, unknown> = {}) {
  const name = kind === 'IPAMConfiguration' || kind === 'KubeControllersConfiguration' || kind === 'ClusterInformation' ? 'default' : 'test.name';
  return validateResource({ apiVersion: 'projectcalico.org/v3', kind, metadata: { name, ...meta }, spec });
}

function table(title: string, cases: Case[]) {
  describe(title, () => {
    for (const [description, kind, spec, valid, meta] of cases) {
      it(description, () => {
        if (valid) assert.doesNotThrow(() => run(kind, spec, meta));
        else assert.throws(() => run(kind, spec, meta), (err: Error & { code?: string }) => err.code === 'MARGAY_ERR_VALIDATION');
      });
    }
  });
}

const netv4_1 = '1.2.3.4/32';
const netv4_3 = '1.2.3.0/26';
const netv4_4 = '1.0.0.0/10';
const netv4_5 = '1.2.3.0/27';
const netv6_1 = 'aabb:aabb::ffff/128';
const netv6_3 = 'aabb:aabb::0000/122';
const netv6_4 = 'aa00:0000::0000/10';
const ipv4_1 = '1.2.3.4';
const ipv4_2 = '100.200.0.0';
const ipv6_1 = 'aabb:aabb::ffff';
const ipv6_2 = 'aabb::abcd';
const peerv4_1 = '9.9.9.9:4444';
const peerv6_1 = '[aabb::ffff]:4444';
const bad_ipv4_1 = '999.999.999.999';
const bad_ipv6_1 = 'xyz:::';
const value63 = 'x'.repeat(63);
const value64 = 'x'.repeat(64);

table('IPPool (validator_test.go)', [
  ['should accept IP pool with IPv4 CIDR /26', 'IPPool', { cidr: netv4_3 }, true],
  ['should accept IP pool with IPv4 CIDR /10', 'IPPool', { cidr: netv4_4 }, true],
  ['should accept IP pool with IPv6 CIDR /122', 'IPPool', { cidr: netv6_3, ipipMode: 'Never', vxlanMode: 'Never' }, true],
  ['should accept IP pool with IPv6 CIDR /10', 'IPPool', { cidr: netv6_4, ipipMode: 'Never', vxlanMode: 'Never' }, true],
  ['should accept a disabled IP pool with IPv4 CIDR /27', 'IPPool', { cidr: netv4_5, disabled: true }, true],
  ['should accept a disabled IP pool with IPv6 CIDR /128', 'IPPool', { cidr: netv6_1, ipipMode: 'Never', vxlanMode: 'Never', disabled: true }, true],
  ['should reject IP pool with IPv4 CIDR /27', 'IPPool', { cidr: netv4_5 }, false],
  ['should reject IP pool with IPv6 CIDR /128', 'IPPool', { cidr: netv6_1 }, false],
  ['should reject IP pool with IPv4 CIDR /33', 'IPPool', { cidr: '1.2.3.4/33' }, false],
  ['should reject IP pool with IPv6 CIDR /129', 'IPPool', { cidr: 'aa:bb::/129' }, false],
  ["should reject IPIPMode 'Always' for IPv6 pool", 'IPPool', { cidr: netv6_1, ipipMode: 'Always', vxlanMode: 'Never' }, false],
  ["should reject VXLANMode 'Always' for IPv6 /128 pool", 'IPPool', { cidr: netv6_1, vxlanMode: 'Always', ipipMode: 'Never' }, false],
  ['should reject IPv4 pool overlapping the Link Local range', 'IPPool', { cidr: '169.254.5.0/24' }, false],
  ['should reject IPv6 pool overlapping the Link Local range', 'IPPool', { cidr: 'fe80::/120' }, false],
  ['should accept IP pool with valid allowed uses', 'IPPool', { cidr: netv4_4, allowedUses: ['Workload', 'Tunnel'] }, true],
  ['should reject IP pool with invalid allowed uses', 'IPPool', { cidr: netv4_4, allowedUses: ['Garbage'] }, false],
  ['should reject IP pool with LoadBalancer and Tunnel uses', 'IPPool', { cidr: netv4_4, allowedUses: ['LoadBalancer', 'Tunnel'] }, false],
  ['should accept valid labels in metadata', 'IPPool', { cidr: netv4_3 }, true, { labels: { 'projectcalico.org/label': value63 } }],
  ['should reject an excessively long value in labels in metadata', 'IPPool', { cidr: netv4_3 }, false, { labels: { 'projectcalico.org/label': value64 } }],
  ['should reject invalid labels in metadata (uppercase domain)', 'IPPool', { cidr: netv4_3 }, false, { labels: { 'ProjectCalico.org/label': 'value' } }],
  ['should accept valid labels in metadata (uppercase name)', 'IPPool', { cidr: netv4_3 }, true, { labels: { 'projectcalico.org/Label': 'value' } }],
  ['should allow a name of 253 chars', 'IPPool', { cidr: netv4_3 }, true, { name: 'x'.repeat(253) }],
  ['should disallow a name of 254 chars', 'IPPool', { cidr: netv4_3 }, false, { name: 'x'.repeat(254) }],
  ['should allow a valid nodeSelector', 'IPPool', { cidr: netv4_3, nodeSelector: 'foo == "bar"' }, true],
  ['should disallow a invalid nodeSelector', 'IPPool', { cidr: netv4_3, nodeSelector: 'this is not valid selector syntax' }, false],
  ['should accept IPPool with no IPIP mode specified', 'IPPool', { cidr: '1.2.3.0/24' }, true],
  ['should accept IPIP mode Never (api)', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'Never', vxlanMode: 'Never' }, true],
  ['should accept IPIP mode Never', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'Never' }, true],
  ['should accept IPIP mode Always', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'Always' }, true],
  ['should accept IPIP mode CrossSubnet', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'CrossSubnet' }, true],
  ['should reject IPIP mode badVal', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'badVal' }, false],
  ['should reject IPIP mode never (lower case)', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'never' }, false],
  ['should reject IPIP mode and VXLAN mode', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'Always', vxlanMode: 'Always' }, false],
  ['should accept VXLAN mode Always', 'IPPool', { cidr: '1.2.3.0/24', vxlanMode: 'Always' }, true],
  ['should accept VXLAN mode CrossSubnet', 'IPPool', { cidr: '1.2.3.0/24', vxlanMode: 'CrossSubnet' }, true],
  ['should accept VXLAN mode Never', 'IPPool', { cidr: '1.2.3.0/24', vxlanMode: 'Never' }, true],
  ['should reject VXLAN mode never', 'IPPool', { cidr: '1.2.3.0/24', vxlanMode: 'never' }, false],
  ['should reject VXLAN mode badVal', 'IPPool', { cidr: '1.2.3.0/24', vxlanMode: 'badVal' }, false],
  ['should reject a non-nil IPIP field', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'Never', ipip: { enabled: true, mode: 'always' } }, false],
  ['should accept NATOutgoingV1 field set to false', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'Never', 'nat-outgoing': false }, true],
  ['should reject NATOutgoingV1 field set to true', 'IPPool', { cidr: '1.2.3.0/24', ipipMode: 'Never', 'nat-outgoing': true }, false],
  ['LoadBalancer use with IPIP enabled fails (CRD)', 'IPPool', { cidr: '10.0.0.0/24', ipipMode: 'Always', allowedUses: ['LoadBalancer'] }, false],
  ['LoadBalancer combined with Workload use fails (CRD)', 'IPPool', { cidr: '10.0.0.0/24', allowedUses: ['LoadBalancer', 'Workload'] }, false],
  ['LoadBalancer alone is accepted (CRD)', 'IPPool', { cidr: '10.0.0.0/24', allowedUses: ['LoadBalancer'] }, true],
  ['IPv6 CIDR with IPIP mode fails (CRD)', 'IPPool', { cidr: 'fd00::/120', ipipMode: 'Always' }, false],
  ['IPv6 pool with VXLAN is accepted', 'IPPool', { cidr: 'fd00::/120', vxlanMode: 'Always' }, true],
  ['should reject a pool CIDR that is not strictly masked', 'IPPool', { cidr: '10.0.0.1/16' }, false],
  ['should reject a bare address as a pool CIDR', 'IPPool', { cidr: '10.0.0.0' }, false],
  ['should reject a blockSize below 20', 'IPPool', { cidr: '10.0.0.0/16', blockSize: 19 }, false],
  ['should reject an IPv6 blockSize of 115', 'IPPool', { cidr: 'fd00::/64', blockSize: 115 }, false],
  ['should accept an IPv6 blockSize of 116', 'IPPool', { cidr: 'fd00::/64', blockSize: 116 }, true],
  ['should reject an unknown spec field', 'IPPool', { cidr: '10.0.0.0/16', natOutgoin: true }, false],
  ['should reject a pool with no CIDR', 'IPPool', {}, false],
  ['should reject an unknown assignmentMode', 'IPPool', { cidr: '10.0.0.0/16', assignmentMode: 'Sometimes' }, false],
]);

table('IPReservation (validator_test.go)', [
  ['should accept IPReservation with an IP', 'IPReservation', { reservedCIDRs: ['10.0.0.1'] }, true],
  ['should accept IPReservation with a CIDR', 'IPReservation', { reservedCIDRs: ['10.0.1.0/24'] }, true],
  ['should accept IPReservation IP and a CIDR', 'IPReservation', { reservedCIDRs: ['10.0.1.0/24', '192.168.0.34'] }, true],
  ['should reject IPReservation with bad CIDR', 'IPReservation', { reservedCIDRs: ['garbage'] }, false],
  ['should reject IPReservation with too-long CIDR', 'IPReservation', { reservedCIDRs: ['10.0.1.0/33'] }, false],
  ['should accept IPReservation with an IPv6', 'IPReservation', { reservedCIDRs: ['10.0.0.1', 'cafe::1', 'cafe:f00d::/96'] }, true],
]);

const secret = { secretKeyRef: { name: 'test-secret', key: 'bgp-password' } };
const pa = (communities: string[]) => [{ cidr: '192.168.10.0/28', communities }];
table('BGPConfiguration (validator_test.go)', [
  ['should accept a valid BGP logging level: Info', 'BGPConfiguration', { logSeverityScreen: 'Info' }, true],
  // Calico 3.32's validator (logLevel) is exact about case, whatever the CRD pattern allows.
  ['should reject an invalid BGP logging level: info', 'BGPConfiguration', { logSeverityScreen: 'info' }, false],
  ['should reject an invalid BGP logging level: INFO', 'BGPConfiguration', { logSeverityScreen: 'INFO' }, false],
  ['should reject an invalid BGP logging level: invalidLvl', 'BGPConfiguration', { logSeverityScreen: 'invalidLvl' }, false],
  ['should accept a valid BGP clusterIPs: 1.2.3.4', 'BGPConfiguration', { serviceClusterIPs: [{ cidr: '1.2.3.4' }] }, true],
  ['should accept a valid BGP externalIPs: 8.8.8.8', 'BGPConfiguration', { serviceExternalIPs: [{ cidr: '8.8.8.8' }] }, true],
  ['should reject invalid BGP clusterIPs: x.x.x.x', 'BGPConfiguration', { serviceClusterIPs: [{ cidr: 'x.x.x.x' }] }, false],
  ['should reject invalid BGP externalIPs: y.y.y.y', 'BGPConfiguration', { serviceExternalIPs: [{ cidr: 'y.y.y.y' }] }, false],
  ['should accept valid IPv6 BGP clusterIP', 'BGPConfiguration', { serviceClusterIPs: [{ cidr: 'fdf5:1234::102:304' }] }, true],
  ['should accept valid IPv6 BGP externalIP', 'BGPConfiguration', { serviceExternalIPs: [{ cidr: 'fdf5:1234::808:808' }] }, true],
  ['should accept a node mesh BGP password if node to node mesh is enabled', 'BGPConfiguration', { nodeToNodeMeshEnabled: true, nodeMeshPassword: secret }, true],
  ['should reject a node mesh BGP password if node to node mesh is disabled', 'BGPConfiguration', { nodeToNodeMeshEnabled: false, nodeMeshPassword: secret }, false],
  ['should accept a node mesh max restart time if node to node mesh is enabled', 'BGPConfiguration', { nodeToNodeMeshEnabled: true, nodeMeshMaxRestartTime: '200s' }, true],
  ['should reject a node mesh max restart time if node to node mesh is disabled', 'BGPConfiguration', { nodeToNodeMeshEnabled: false, nodeMeshMaxRestartTime: '200s' }, false],
  ['should accept valid interface names', 'BGPConfiguration', { ignoredInterfaces: ['valid_iface*', 'interface_name'] }, true],
  ['should reject invalid interface name', 'BGPConfiguration', { ignoredInterfaces: ['*'] }, false],
  ['should not accept community when PrefixAdvertisement is empty', 'BGPConfiguration', { communities: [{ name: 'community-test', value: '101:5695' }] }, false],
  ['should not accept communities with value and without name', 'BGPConfiguration', { communities: [{ value: '536:785' }], prefixAdvertisements: pa(['100:100']) }, false],
  ['should not accept communities with name and without value', 'BGPConfiguration', { communities: [{ name: 'community-test' }], prefixAdvertisements: pa(['100:100']) }, false],
  ['should accept communities with name and standard BGP community value', 'BGPConfiguration', { communities: [{ name: 'community-test', value: '100:520' }], prefixAdvertisements: pa(['100:100']) }, true],
  ['should accept communities with name and large BGP community value', 'BGPConfiguration', { communities: [{ name: 'community-test', value: '100:520:56' }], prefixAdvertisements: pa(['100:100']) }, true],
  ['should not accept communities with name and invalid community value/format (100)', 'BGPConfiguration', { communities: [{ name: 'community-test', value: '100' }], prefixAdvertisements: pa(['100:100']) }, false],
  ['should not accept communities with name and invalid community value/format (ab-n)', 'BGPConfiguration', { communities: [{ name: 'community-test', value: 'ab-n' }], prefixAdvertisements: pa(['100:100']) }, false],
  ['should not accept invalid standard community value (> 16 bit)', 'BGPConfiguration', { communities: [{ name: 'community-test', value: '65536:999999' }], prefixAdvertisements: pa(['100:100']) }, false],
  ['should not accept invalid large community value (> 32 bit)', 'BGPConfiguration', { communities: [{ name: 'community-test', value: '4147483647:999999' }], prefixAdvertisements: pa(['100:100']) }, false],
  ['should not accept communities without CIDR in PrefixAdvertisement', 'BGPConfiguration', { prefixAdvertisements: [{ communities: ['100:5964'] }] }, false],
  ['should not accept CIDR without communities in PrefixAdvertisement', 'BGPConfiguration', { prefixAdvertisements: [{ cidr: '192.168.10.0/28' }] }, false],
  ['should accept IPv4 CIDR in PrefixAdvertisement', 'BGPConfiguration', { prefixAdvertisements: pa(['100:5964:50']) }, true],
  ['should accept IPv6 CIDR in PrefixAdvertisement', 'BGPConfiguration', { prefixAdvertisements: [{ cidr: '2001:4860::/128', communities: ['100:5964:50'] }] }, true],
  ['should accept standard BGP community values in PrefixAdvertisement', 'BGPConfiguration', { prefixAdvertisements: [{ cidr: '2001:4860::/128', communities: ['100:5964', '200:594'] }] }, true],
  ['should accept large BGP community value in PrefixAdvertisement', 'BGPConfiguration', { prefixAdvertisements: [{ cidr: '2001:4860::/128', communities: ['100:5964:1147483647'] }] }, true],
  ['should not accept invalid standard community value (> 16 bit) in PrefixAdvertisement', 'BGPConfiguration', { prefixAdvertisements: [{ cidr: '2001:4860::/128', communities: ['100:1147483647'] }] }, false],
  ['should not accept invalid large community value (> 32 bit) in PrefixAdvertisement', 'BGPConfiguration', { prefixAdvertisements: [{ cidr: '2001:4860::/128', communities: ['100:100:5147483647'] }] }, false],
  ['should accept combination of large and standard BGP community value', 'BGPConfiguration', { prefixAdvertisements: [{ cidr: '2001:4860::/128', communities: ['100:5964:1147483647', '100:5223'] }] }, true],
  ['should not accept community name that is not defined', 'BGPConfiguration', { prefixAdvertisements: [{ cidr: '2001:4860::/128', communities: ['nonexistent-community'] }] }, false],
  ['should accept community name whose values are defined', 'BGPConfiguration', { communities: [{ name: 'community-test', value: '101:5695' }], prefixAdvertisements: [{ cidr: '2001:4860::/128', communities: ['community-test', '8988:202'] }] }, true],
  ['should reject a listenPort of 0', 'BGPConfiguration', { listenPort: 0 }, false],
  ['should accept bindMode NodeIP', 'BGPConfiguration', { bindMode: 'NodeIP' }, true],
  ['should reject an unknown bindMode', 'BGPConfiguration', { bindMode: 'All' }, false],
  ['should accept a dotted AS number', 'BGPConfiguration', { asNumber: '1.10' }, true],
  ['should reject an IPv6 localWorkloadPeeringIPV4', 'BGPConfiguration', { localWorkloadPeeringIPV4: 'fd00::1' }, false],
]);

const v4rule = (r: Record<string, unknown>) => ({ exportV4: [r] });
const v6rule = (r: Record<string, unknown>) => ({ exportV6: [r] });
table('BGPFilter (validator_test.go)', [
  ['should reject invalid BGPFilter rule-v4 interface - 1', 'BGPFilter', v4rule({ interface: 'eth&', action: 'Reject' }), false],
  ['should reject invalid BGPFilter rule-v4 interface - 2', 'BGPFilter', v4rule({ interface: '%face', action: 'Reject' }), false],
  ['should reject invalid BGPFilter rule-v4 interface - 3', 'BGPFilter', v4rule({ interface: '"ace', action: 'Reject' }), false],
  ['should reject invalid BGPFilter rule-v6 interface - 1', 'BGPFilter', v6rule({ interface: '$cali', action: 'Reject' }), false],
  ['should reject invalid BGPFilter rule-v6 interface - 2', 'BGPFilter', v6rule({ interface: 'eth#', action: 'Reject' }), false],
  ['should accept valid BGPFilter rule-v4 interface - 1', 'BGPFilter', v4rule({ interface: 'ethx', source: 'RemotePeers', cidr: '192.168.0.0/26', matchOperator: 'In', action: 'Accept' }), true],
  ['should accept valid BGPFilter rule-v4 interface - 2', 'BGPFilter', v4rule({ interface: '*.calico', cidr: '192.168.0.0/26', matchOperator: 'In', action: 'Accept' }), true],
  ['should accept valid BGPFilter rule-v4 interface - 3', 'BGPFilter', v4rule({ interface: 'eth*', source: 'RemotePeers', action: 'Accept' }), true],
  ['should accept valid BGPFilter rule-v6 interface - 1', 'BGPFilter', v6rule({ interface: 'ethx', source: 'RemotePeers', cidr: 'ffee::/64', matchOperator: 'In', action: 'Accept' }), true],
  ['should accept valid BGPFilter rule-v6 interface - 2', 'BGPFilter', v6rule({ interface: '*.calico', cidr: 'ee2::dddd/128', matchOperator: 'In', action: 'Accept' }), true],
  ['should accept BGPFilter with only rule-v6 interface', 'BGPFilter', v6rule({ interface: 'ethx.', action: 'Accept' }), true],
  ['should reject invalid BGPFilter rule-v4 source', 'BGPFilter', v4rule({ source: 'xyz', action: 'Reject' }), false],
  ['should reject invalid BGPFilter rule-v6 source', 'BGPFilter', v6rule({ source: 'xyz', action: 'Reject' }), false],
  ['should accept BGPFilter rule with only source set', 'BGPFilter', v4rule({ source: 'RemotePeers', action: 'Reject' }), true],
  ['should reject BGPFilter rule with invalid IPv4 CIDR - 1', 'BGPFilter', v4rule({ cidr: 'x.x.x.x/26', matchOperator: 'In', action: 'Accept' }), false],
  ['should reject BGPFilter rule with invalid IPv4 CIDR - 2 (IPv6 in v4 list)', 'BGPFilter', v4rule({ cidr: 'ffee::/64', matchOperator: 'In', action: 'Accept' }), false],
  ['should reject BGPFilter rule with invalid IPv6 CIDR - 1', 'BGPFilter', v6rule({ cidr: 'xxxx::/64', matchOperator: 'In', action: 'Accept' }), false],
  ['should reject BGPFilter rule with invalid IPv6 CIDR - 2 (IPv4 in v6 list)', 'BGPFilter', v6rule({ cidr: '10.0.10.0/32', matchOperator: 'In', action: 'Accept' }), false],
  ['should reject BGPFilter rule with invalid operator - 1', 'BGPFilter', v4rule({ cidr: '10.0.10.0/32', matchOperator: 'fancyOperator', action: 'Accept' }), false],
  ['should reject BGPFilter rule with invalid operator - 2', 'BGPFilter', v6rule({ cidr: 'ffff::/128', matchOperator: 'fancyOperator', action: 'Accept' }), false],
  ['should accept BGPFilter rule with In operator', 'BGPFilter', v4rule({ cidr: '10.0.10.0/32', matchOperator: 'In', action: 'Accept' }), true],
  ['should accept BGPFilter rule with NotIn operator', 'BGPFilter', v6rule({ cidr: 'ffff::/128', matchOperator: 'NotIn', action: 'Accept' }), true],
  ['should accept BGPFilter rule with Equal operator', 'BGPFilter', v4rule({ cidr: '10.0.10.0/32', matchOperator: 'Equal', action: 'Accept' }), true],
  ['should accept BGPFilter rule with NotEqual operator', 'BGPFilter', v6rule({ cidr: 'ffff::/128', matchOperator: 'NotEqual', action: 'Accept' }), true],
  ['should reject BGPFilter rule with no CIDR when MatchOperator is set - 1', 'BGPFilter', v4rule({ matchOperator: 'NotEqual', action: 'Reject' }), false],
  ['should reject BGPFilter rule with no CIDR when MatchOperator is set - 2', 'BGPFilter', v6rule({ matchOperator: 'NotEqual', action: 'Reject' }), false],
  ['should reject BGPFilter rule with no MatchOperator when CIDR is set - 1', 'BGPFilter', v4rule({ cidr: '10.0.10.0/32', action: 'Reject' }), false],
  ['should reject BGPFilter rule with no MatchOperator when CIDR is set - 2', 'BGPFilter', v6rule({ cidr: 'ffff::/128', action: 'Reject' }), false],
  ['should reject BGPFilter rule with invalid Action', 'BGPFilter', v4rule({ cidr: '10.0.10.0/32', matchOperator: 'NotEqual', action: 'ActionX' }), false],
  ['should accept BGPFilter rule with Reject action', 'BGPFilter', v6rule({ cidr: 'ffff::/128', matchOperator: 'NotEqual', action: 'Reject' }), true],
  ['should reject BGPFilter rule with no action', 'BGPFilter', v4rule({ matchOperator: 'NotEqual', cidr: '10.0.10.0/32' }), false],
  ['should accept BGPFilter rule with just an action', 'BGPFilter', v6rule({ action: 'Reject' }), true],
  ['should accept BGPFilterV4 rule with PrefixLength Min set', 'BGPFilter', v4rule({ cidr: '10.0.10.0/24', matchOperator: 'In', action: 'Reject', prefixLength: { min: 25 } }), true],
  ['should accept BGPFilterV4 rule with PrefixLength Max set', 'BGPFilter', v4rule({ cidr: '10.0.10.0/24', matchOperator: 'In', action: 'Reject', prefixLength: { max: 30 } }), true],
  ['should reject BGPFilterV4 rule with PrefixLength Max out-of-bounds', 'BGPFilter', v4rule({ cidr: '10.0.10.0/24', matchOperator: 'In', action: 'Reject', prefixLength: { max: 64 } }), false],
  ['should reject BGPFilterV4 rule with PrefixLength and CIDR missing', 'BGPFilter', v4rule({ interface: 'ethx.', action: 'Reject', prefixLength: { min: 16 } }), false],
  ['should accept BGPFilterV6 rule with PrefixLength Min set', 'BGPFilter', v6rule({ cidr: 'ffff::/128', matchOperator: 'In', action: 'Reject', prefixLength: { min: 65 } }), true],
  ['should reject BGPFilterV6 rule with PrefixLength Min negative', 'BGPFilter', v6rule({ cidr: 'ffff::/128', matchOperator: 'In', action: 'Reject', prefixLength: { min: -16 } }), false],
  ['operation with no fields set fails (CRD)', 'BGPFilter', v4rule({ action: 'Accept', operations: [{}] }), false],
  ['operation with two fields set fails (CRD)', 'BGPFilter', v4rule({ action: 'Accept', operations: [{ addCommunity: { value: '65000:1' }, setPriority: { value: 100 } }] }), false],
  ['operation with single field passes (CRD)', 'BGPFilter', v4rule({ action: 'Accept', operations: [{ setPriority: { value: 100 } }] }), true],
  ['operations on a Reject rule fail (CRD)', 'BGPFilter', v4rule({ action: 'Reject', operations: [{ setPriority: { value: 100 } }] }), false],
  ['source on an import rule fails (CRD)', 'BGPFilter', { importV4: [{ action: 'Accept', source: 'RemotePeers' }] }, false],
  ['community match with a standard value passes', 'BGPFilter', { importV6: [{ action: 'Accept', communities: { values: ['65000:100'] } }] }, true],
  ['community match with a 17-bit value fails', 'BGPFilter', { importV6: [{ action: 'Accept', communities: { values: ['65536:100'] } }] }, false],
  ['unknown peerType fails', 'BGPFilter', v4rule({ action: 'Accept', peerType: 'xBGP' }), false],
]);

table('BGPPeer (validator_test.go)', [
  ['should accept valid BGPPeerSpec', 'BGPPeer', { peerIP: ipv4_1 }, true],
  ['should reject invalid BGPPeerSpec (IPv4)', 'BGPPeer', { peerIP: bad_ipv4_1 }, false],
  ['should reject invalid BGPPeerSpec (IPv6)', 'BGPPeer', { peerIP: bad_ipv6_1 }, false],
  ['should reject BGPPeerSpec with both Node and NodeSelector', 'BGPPeer', { node: 'my-node', nodeSelector: 'has(mylabel)' }, false],
  ['should reject BGPPeerSpec with both PeerIP and PeerSelector', 'BGPPeer', { peerIP: ipv4_1, peerSelector: 'has(mylabel)' }, false],
  ['should reject BGPPeerSpec with both ASNumber and PeerSelector', 'BGPPeer', { asNumber: 61234, peerSelector: 'has(mylabel)' }, false],
  ['should accept BGPPeerSpec with NodeSelector and PeerSelector', 'BGPPeer', { nodeSelector: 'has(mylabel)', peerSelector: 'has(mylabel)' }, true],
  ['should reject BGPPeer with ReachableBy but without PeerIP', 'BGPPeer', { reachableBy: ipv4_2 }, false],
  ['should reject BGPPeer with ReachableBy (IPv6) but without PeerIP', 'BGPPeer', { reachableBy: ipv6_2 }, false],
  ['should accept BGPPeer with ReachableBy and PeerIP', 'BGPPeer', { peerIP: peerv4_1, reachableBy: ipv4_1 }, true],
  ['should accept BGPPeer with ReachableBy (IPv6) and PeerIP (IPv6)', 'BGPPeer', { peerIP: peerv6_1, reachableBy: ipv6_1 }, true],
  ['should reject BGPPeer with invalid ReachableBy', 'BGPPeer', { peerIP: peerv4_1, reachableBy: bad_ipv4_1 }, false],
  ['should reject BGPPeer with invalid ReachableBy (IPv6)', 'BGPPeer', { peerIP: peerv6_1, reachableBy: bad_ipv6_1 }, false],
  ['should reject mismatched family of ReachableBy and PeerIP', 'BGPPeer', { peerIP: ipv4_1, reachableBy: ipv6_1 }, false],
  ['should reject mismatched family of ReachableBy and PeerIP:Port', 'BGPPeer', { peerIP: peerv4_1, reachableBy: ipv6_1 }, false],
  ['should reject mismatched family of ReachableBy and PeerIP (IPv6)', 'BGPPeer', { peerIP: ipv6_1, reachableBy: ipv4_1 }, false],
  ['should reject mismatched family of ReachableBy and PeerIP:Port (IPv6)', 'BGPPeer', { peerIP: peerv6_1, reachableBy: ipv4_1 }, false],
  ['should accept BGPPeerSpec with Password', 'BGPPeer', { peerIP: ipv4_1, password: { secretKeyRef: { name: 'tigera-bgp-passwords', key: 'my-peering' } } }, true],
  ['should reject invalid BGPPeerSpec (selector)', 'BGPPeer', { nodeSelector: "kubernetes.io/hostname: == 'casey-crc-kadm-node-4'" }, false],
  ['should accept BGPPeerSpec with port in PeerIP (IPv4)', 'BGPPeer', { peerIP: '192.168.1.1:500' }, true],
  ['should accept BGPPeerSpec with port in PeerIP (IPv6)', 'BGPPeer', { peerIP: '[9000::]:500' }, true],
  ['should reject BGPPeerSpec with invalid port in PeerIP ([IPv4]:98956)', 'BGPPeer', { peerIP: '[192.168.0.0]:98956' }, false],
  ['should reject BGPPeerSpec with invalid port in PeerIP (65536)', 'BGPPeer', { peerIP: '192.168.0.0:65536' }, false],
  ['should reject BGPPeerSpec with invalid port in PeerIP (0)', 'BGPPeer', { peerIP: '192.168.0.0:0' }, false],
  ['should reject BGPPeerSpec with invalid IP in PeerIP (IPv4)', 'BGPPeer', { peerIP: '192.168.0.330:170' }, false],
  ['should reject BGPPeerSpec with invalid port in PeerIP (IPv6 98956)', 'BGPPeer', { peerIP: '[9000::]:98956' }, false],
  ['should reject BGPPeerSpec without port set in PeerIP (IPv4)', 'BGPPeer', { peerIP: '192.168.0.0:' }, false],
  ['should reject BGPPeerSpec without port set in PeerIP (IPv6)', 'BGPPeer', { peerIP: '[9000::]:' }, false],
  ['should reject BGPPeerSpec with invalid port in PeerIP (IPv6 65536)', 'BGPPeer', { peerIP: '[9000::]:65536' }, false],
  ['should reject BGPPeerSpec with invalid port in PeerIP (IPv6 0)', 'BGPPeer', { peerIP: '[9000::]:0' }, false],
  ['should reject BGPPeerSpec with invalid IP in PeerIP (IPv6)', 'BGPPeer', { peerIP: '[9000::FFFFF]:170' }, false],
  ['should reject BGPPeerSpec when port is set with empty IP (IPv4)', 'BGPPeer', { peerIP: ':8552' }, false],
  ['should reject BGPPeerSpec when port is set with empty IP (IPv6)', 'BGPPeer', { peerIP: '[]:8552' }, false],
  ['BGPPeer with valid SourceAddress UseNodeIP', 'BGPPeer', { sourceAddress: 'UseNodeIP' }, true],
  ['BGPPeer with valid SourceAddress None', 'BGPPeer', { sourceAddress: 'None' }, true],
  ['BGPPeer with invalid SourceAddress', 'BGPPeer', { sourceAddress: 'rubbish' }, false],
  ['BGPPeer with valid MaxRestartTime', 'BGPPeer', { maxRestartTime: '10s' }, true],
  ['valid nextHopMode passes (CRD)', 'BGPPeer', { nextHopMode: 'Auto' }, true],
  ['invalid nextHopMode fails enum (CRD)', 'BGPPeer', { nextHopMode: 'Invalid' }, false],
  ['localWorkloadSelector with asNumber passes (CRD)', 'BGPPeer', { localWorkloadSelector: "color == 'red'", asNumber: 65401 }, true],
  ['localWorkloadSelector without asNumber fails (CRD)', 'BGPPeer', { localWorkloadSelector: "color == 'red'" }, false],
  ['localWorkloadSelector with peerIP fails (CRD)', 'BGPPeer', { localWorkloadSelector: "color == 'red'", asNumber: 65401, peerIP: '10.0.0.1' }, false],
  ['localWorkloadSelector with peerSelector fails (CRD)', 'BGPPeer', { localWorkloadSelector: "color == 'red'", asNumber: 65401, peerSelector: 'has(label)' }, false],
  ['valid node and peerIP passes (CRD)', 'BGPPeer', { node: 'node1', peerIP: '10.0.0.1' }, true],
  ['keepOriginalNextHop false with nextHopMode passes', 'BGPPeer', { peerIP: '10.0.0.1', keepOriginalNextHop: false, nextHopMode: 'Self' }, true],
  ['keepOriginalNextHop true with nextHopMode fails', 'BGPPeer', { peerIP: '10.0.0.1', keepOriginalNextHop: true, nextHopMode: 'Keep' }, false],
  ['ttlSecurity of 256 fails', 'BGPPeer', { peerIP: '10.0.0.1', ttlSecurity: 256 }, false],
  ['asNumber of 4294967296 fails (numorstring_test.go)', 'BGPPeer', { peerIP: '10.0.0.1', asNumber: 4294967296 }, false],
  ['dotted asNumber passes', 'BGPPeer', { peerIP: '10.0.0.1', asNumber: '65000.100' }, true],
]);

table('Node (validator_test.go)', [
  ['should accept node with IPv4 BGP', 'Node', { bgp: { ipv4Address: netv4_1 } }, true],
  ['should accept node with IPv6 BGP', 'Node', { bgp: { ipv6Address: netv6_1 } }, true],
  ['should accept node with tunnel IP in BGP', 'Node', { bgp: { ipv4IPIPTunnelAddr: '10.0.0.1' } }, true],
  ['should accept node with no BGP', 'Node', {}, true],
  ['should reject node with an empty BGP', 'Node', { bgp: {} }, false],
  ['should reject node with IPv6 address in IPv4 field', 'Node', { bgp: { ipv4Address: netv6_1 } }, false],
  ['should reject node with IPv4 address in IPv6 field', 'Node', { bgp: { ipv6Address: netv4_1 } }, false],
  ['should reject node with bad RR cluster ID #1', 'Node', { bgp: { ipv4Address: netv4_1, routeReflectorClusterID: 'abcdef' } }, false],
  ['should reject node with bad RR cluster ID #2', 'Node', { bgp: { ipv4Address: netv4_1, routeReflectorClusterID: '300.34.3.1' } }, false],
  ['should accept node with good RR cluster ID', 'Node', { bgp: { ipv4Address: netv4_1, routeReflectorClusterID: '245.0.0.1' } }, true],
  ['should allow valid IP address on Wireguard config', 'Node', { wireguard: { interfaceIPv4Address: ipv4_1 } }, true],
  ['should reject invalid IP address on Wireguard config', 'Node', { wireguard: { interfaceIPv4Address: 'foo.bar' } }, false],
  ['should accept a node IPv4 address with host bits (not a network)', 'Node', { bgp: { ipv4Address: '192.0.2.11/24' } }, true],
  ['should accept a VXLAN tunnel MAC', 'Node', { ipv4VXLANTunnelAddr: '10.0.0.1', vxlanTunnelMACAddr: '66:aa:bb:cc:dd:ee' }, true],
  ['should reject a bad VXLAN tunnel MAC', 'Node', { vxlanTunnelMACAddr: '66:aa:bb:cc:dd' }, false],
  ['should reject an unknown address type', 'Node', { addresses: [{ address: '10.0.0.1', type: 'Public' }] }, false],
]);

describe('Node status (validator_test.go)', () => {
  const node = (status: Record<string, unknown>) => ({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'n1' }, spec: {}, status });
  it('should allow valid Wireguard public-key', () => {
    assert.doesNotThrow(() => validateResource(node({ wireguardPublicKey: 'jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY=' })));
  });
  it('should reject invalid Wireguard public-key', () => {
    assert.throws(() => validateResource(node({ wireguardPublicKey: 'foobar' })), /status\.wireguardPublicKey/);
  });
});

table('FelixConfiguration (validator_test.go)', [
  ["should accept a valid IptablesBackend value 'Legacy'", 'FelixConfiguration', { iptablesBackend: 'Legacy' }, true],
  ["should accept a valid IptablesBackend value 'NFT'", 'FelixConfiguration', { iptablesBackend: 'NFT' }, true],
  ["should accept a valid IptablesBackend value 'Auto'", 'FelixConfiguration', { iptablesBackend: 'Auto' }, true],
  ["should reject an invalid IptablesBackend value 'badVal'", 'FelixConfiguration', { iptablesBackend: 'badVal' }, false],
  ['should accept a valid DefaultEndpointToHostAction value', 'FelixConfiguration', { defaultEndpointToHostAction: 'Drop' }, true],
  // Calico 3.32's validator (dropAcceptReturn) is exact about case, whatever the CRD pattern allows.
  ["should reject an invalid DefaultEndpointToHostAction value 'drop' (lower case)", 'FelixConfiguration', { defaultEndpointToHostAction: 'drop' }, false],
  ["should reject DefaultEndpointToHostAction 'Dropp'", 'FelixConfiguration', { defaultEndpointToHostAction: 'Dropp' }, false],
  ["should accept a valid IptablesFilterAllowAction value 'Accept'", 'FelixConfiguration', { iptablesFilterAllowAction: 'Accept' }, true],
  ["should accept a valid IptablesMangleAllowAction value 'Return'", 'FelixConfiguration', { iptablesMangleAllowAction: 'Return' }, true],
  ["should reject an invalid IptablesMangleAllowAction value 'Drop'", 'FelixConfiguration', { iptablesMangleAllowAction: 'Drop' }, false],
  ["should accept a valid IptablesFilterDenyAction value 'Reject'", 'FelixConfiguration', { iptablesFilterDenyAction: 'Reject' }, true],
  ['should accept a valid KubeNodePortRanges value', 'FelixConfiguration', { kubeNodePortRanges: ['3000:4000', '5000:6000', '7000:8000', '8000:9000', '10000:11000', '12000:13000', 15000] }, true],
  ['should reject a too-long KubeNodePortRanges value', 'FelixConfiguration', { kubeNodePortRanges: ['3000:4000', '5000:6000', '7000:8000', '8000:9000', '10000:11000', '12000:13000', '14000:15000', '16000:17000'] }, false],
  ['should reject a named port KubeNodePortRanges value', 'FelixConfiguration', { kubeNodePortRanges: ['testport'] }, false],
  ['should accept a valid list of ExternalNodesCIDRList', 'FelixConfiguration', { externalNodesList: ['1.1.1.1', '1.1.1.2/32', '1.1.3.0/23'] }, true],
  ['should reject an invalid list of ExternalNodesCIDRList', 'FelixConfiguration', { externalNodesList: ['foobar', '1.1.1.1'] }, false],
  ['should reject IPv6 list of ExternalNodesCIDRList', 'FelixConfiguration', { externalNodesList: ['abcd::1', 'abef::2/128'] }, false],
  ['should accept an empty OpenStackRegion', 'FelixConfiguration', { openstackRegion: '' }, true],
  ['should accept a valid OpenStackRegion', 'FelixConfiguration', { openstackRegion: 'foo' }, true],
  ['should reject an invalid OpenStackRegion', 'FelixConfiguration', { openstackRegion: 'FOO' }, false],
  ['should reject an overlong OpenStackRegion', 'FelixConfiguration', { openstackRegion: 'my-region-has-a-very-long-and-extremely-interesting-name' }, false],
  ["should reject an invalid LogSeverityScreen value 'badVal'", 'FelixConfiguration', { logSeverityScreen: 'badVal' }, false],
  ["should reject an invalid LogSeverityFile value 'badVal'", 'FelixConfiguration', { logSeverityFile: 'badVal' }, false],
  ["should reject an invalid LogSeveritySys value 'Critical'", 'FelixConfiguration', { logSeveritySys: 'Critical' }, false],
  ["should accept a valid LogSeverityScreen value 'Fatal'", 'FelixConfiguration', { logSeverityScreen: 'Fatal' }, true],
  ["should accept a valid LogSeverityScreen value 'Warning'", 'FelixConfiguration', { logSeverityScreen: 'Warning' }, true],
  ["should accept a valid LogSeverityFile value 'Debug'", 'FelixConfiguration', { logSeverityFile: 'Debug' }, true],
  ["should accept a valid IptablesNATOutgoingInterfaceFilter value 'cali-123'", 'FelixConfiguration', { iptablesNATOutgoingInterfaceFilter: 'cali-123' }, true],
  ["should reject an invalid IptablesNATOutgoingInterfaceFilter value 'cali@123'", 'FelixConfiguration', { iptablesNATOutgoingInterfaceFilter: 'cali@123' }, false],
  ["should reject an invalid BPFLogLevel value 'badVal'", 'FelixConfiguration', { bpfLogLevel: 'badVal' }, false],
  ["should accept a valid BPFLogLevel value 'Off'", 'FelixConfiguration', { bpfLogLevel: 'Off' }, true],
  ["should reject a BPFExternalServiceMode value 'Foo'", 'FelixConfiguration', { bpfExternalServiceMode: 'Foo' }, false],
  ["should accept a valid BPFExternalServiceMode value 'DSR'", 'FelixConfiguration', { bpfExternalServiceMode: 'DSR' }, true],
  ['should reject a negative BPFExtToServiceConnmark value', 'FelixConfiguration', { bpfExtToServiceConnmark: -1 }, false],
  ['should reject a gte 32bit BPFExtToServiceConnmark value', 'FelixConfiguration', { bpfExtToServiceConnmark: 0x100000000 }, false],
  ['should accept a 0xffffffff BPFExtToServiceConnmark value', 'FelixConfiguration', { bpfExtToServiceConnmark: 0xffffffff }, true],
  ["should reject an invalid BPFDataIfacePattern value '*'", 'FelixConfiguration', { bpfDataIfacePattern: '*' }, false],
  ["should accept a valid BPFDataIfacePattern value 'eth.*'", 'FelixConfiguration', { bpfDataIfacePattern: 'eth.*' }, true],
  ['should accept valid route table range', 'FelixConfiguration', { routeTableRange: { min: 1, max: 250 } }, true],
  ['should reject route table range min too small', 'FelixConfiguration', { routeTableRange: { min: 0, max: 250 } }, false],
  ['should reject route table range min negative', 'FelixConfiguration', { routeTableRange: { min: -5, max: 250 } }, false],
  ['should reject route table range max < min', 'FelixConfiguration', { routeTableRange: { min: 50, max: 45 } }, false],
  ['should reject route table range max too large', 'FelixConfiguration', { routeTableRange: { min: 1, max: 253 } }, false],
  ['should accept route table range with min == max', 'FelixConfiguration', { routeTableRange: { min: 8, max: 8 } }, true],
  ['should accept valid route table ranges', 'FelixConfiguration', { routeTableRanges: [{ min: 1, max: 10000 }] }, true],
  ['should accept multiple route table ranges with min == max', 'FelixConfiguration', { routeTableRanges: [{ min: 8, max: 8 }, { min: 7, max: 7 }] }, true],
  ['should reject route table ranges min too small', 'FelixConfiguration', { routeTableRanges: [{ min: 0, max: 250 }] }, false],
  ['should reject route table ranges max < min', 'FelixConfiguration', { routeTableRanges: [{ min: 50, max: 45 }] }, false],
  ['should reject route table ranges max too large', 'FelixConfiguration', { routeTableRanges: [{ min: 1, max: 0xf00000000 }] }, false],
  ['should reject single route table ranges targeting too many tables', 'FelixConfiguration', { routeTableRanges: [{ min: 1, max: 0x10000 }] }, false],
  ['should reject multiple route table ranges targeting too many tables', 'FelixConfiguration', { routeTableRanges: [{ min: 1, max: 2 }, { min: 3, max: 4 }, { min: 5, max: 0x10000 }] }, false],
  ['should reject spec with both RouteTableRanges and RouteTableRange set', 'FelixConfiguration', { routeTableRanges: [{ min: 1, max: 250 }], routeTableRange: { min: 1, max: 250 } }, false],
  ["should reject an invalid MTUIfacePattern value '*'", 'FelixConfiguration', { mtuIfacePattern: '*' }, false],
  ['should allow HealthTimeoutOverride 0', 'FelixConfiguration', { healthTimeoutOverrides: [{ name: 'Valid', timeout: '0s' }] }, true],
  ['should reject HealthTimeoutOverride -1', 'FelixConfiguration', { healthTimeoutOverrides: [{ name: 'Valid', timeout: '-1ns' }] }, false],
  ['should reject HealthTimeoutOverride with bad name', 'FelixConfiguration', { healthTimeoutOverrides: [{ name: '%', timeout: '10s' }] }, false],
  ['should reject HealthTimeoutOverride with no name', 'FelixConfiguration', { healthTimeoutOverrides: [{ name: '', timeout: '10s' }] }, false],
  ['should not accept an invalid NATOutgoingAddress', 'FelixConfiguration', { natOutgoingAddress: bad_ipv4_1 }, false],
  ['should not accept a masked NATOutgoingAddress', 'FelixConfiguration', { natOutgoingAddress: netv4_1 }, false],
  ['should not accept an IPv6 NATOutgoingAddress', 'FelixConfiguration', { natOutgoingAddress: ipv6_1 }, false],
  ['should accept a valid NATOutgoingAddress', 'FelixConfiguration', { natOutgoingAddress: ipv4_1 }, true],
  ["should accept a valid prometheusMetricsHost value 'localhost'", 'FelixConfiguration', { prometheusMetricsHost: 'localhost' }, true],
  ["should accept a valid prometheusMetricsHost value 'fe80::ea7a:70fa:cf74:25d5'", 'FelixConfiguration', { prometheusMetricsHost: 'fe80::ea7a:70fa:cf74:25d5' }, true],
  ["should reject an invalid prometheusMetricsHost value 'localhost#'", 'FelixConfiguration', { prometheusMetricsHost: 'localhost#' }, false],
  ["should reject an invalid prometheusMetricsHost value '0: 1::1'", 'FelixConfiguration', { prometheusMetricsHost: '0: 1::1' }, false],
  ['should accept a valid IPv4 DeviceRouteSourceAddress', 'FelixConfiguration', { deviceRouteSourceAddress: ipv4_1 }, true],
  ['should not accept an IPv6 DeviceRouteSourceAddress', 'FelixConfiguration', { deviceRouteSourceAddress: ipv6_1 }, false],
  ['should accept a valid IPv6 DeviceRouteSourceAddressIPv6', 'FelixConfiguration', { deviceRouteSourceAddressIPv6: ipv6_1 }, true],
  ['should not accept an IPv4 DeviceRouteSourceAddressIPv6', 'FelixConfiguration', { deviceRouteSourceAddressIPv6: ipv4_1 }, false],
  ['should not accept a masked DeviceRouteSourceAddressIPv6', 'FelixConfiguration', { deviceRouteSourceAddressIPv6: netv6_1 }, false],
  ['should accept a valid wireguard listening port', 'FelixConfiguration', { wireguardListeningPort: 12345 }, true],
  ['should reject an invalid wireguard listening port', 'FelixConfiguration', { wireguardListeningPort: 99999 }, false],
  ['should accept a valid routing rule priority', 'FelixConfiguration', { wireguardRoutingRulePriority: 12345 }, true],
  ['should reject an invalid routing rule priority', 'FelixConfiguration', { wireguardRoutingRulePriority: 99999 }, false],
  ['should accept valid Wireguard interface', 'FelixConfiguration', { wireguardInterfaceName: 'wg0' }, true],
  ['should reject invalid Wireguard interface', 'FelixConfiguration', { wireguardInterfaceName: 'wg&0' }, false],
  ['should accept ServiceLoopPrevention Drop', 'FelixConfiguration', { serviceLoopPrevention: 'Drop' }, true],
  ['should accept ServiceLoopPrevention Disabled', 'FelixConfiguration', { serviceLoopPrevention: 'Disabled' }, true],
  ['should reject ServiceLoopPrevention Wibbly', 'FelixConfiguration', { serviceLoopPrevention: 'Wibbly' }, false],
  ['should accept WindowsManageFirewallRules value Enabled', 'FelixConfiguration', { windowsManageFirewallRules: 'Enabled' }, true],
  ['should reject WindowsManageFirewallRules value blah', 'FelixConfiguration', { windowsManageFirewallRules: 'blah' }, false],
  ["should accept a valid AWSSrcDstCheck value 'DoNothing'", 'FelixConfiguration', { awsSrcDstCheck: 'DoNothing' }, true],
  ["should reject an invalid AWSSrcDstCheck value 'enable'", 'FelixConfiguration', { awsSrcDstCheck: 'enable' }, false],
  ["should accept a valid BPFHostNetworkedNATWithoutCTLB value 'Disabled'", 'FelixConfiguration', { bpfHostNetworkedNATWithoutCTLB: 'Disabled' }, true],
  ["should reject an invalid BPFHostNetworkedNATWithoutCTLB value 'enabled'", 'FelixConfiguration', { bpfHostNetworkedNATWithoutCTLB: 'enabled' }, false],
  ["should accept a valid BPFConnectTimeLoadBalancing value 'TCP'", 'FelixConfiguration', { bpfConnectTimeLoadBalancing: 'TCP' }, true],
  ["should reject an invalid BPFConnectTimeLoadBalancing value 'BadVal'", 'FelixConfiguration', { bpfConnectTimeLoadBalancing: 'BadVal' }, false],
  ["should accept a valid BPFForceTrackPacketsFromIfaces value 'docker+'", 'FelixConfiguration', { bpfForceTrackPacketsFromIfaces: ['docker+'] }, true],
  ["should reject invalid BPFForceTrackPacketsFromIfaces value 'cali@456'", 'FelixConfiguration', { bpfForceTrackPacketsFromIfaces: ['cali-123', 'cali@456'] }, false],
  ['should accept failsafe ports with protocol, port and net', 'FelixConfiguration', { failsafeInboundHostPorts: [{ protocol: 'TCP', port: 22, net: '192.168.1.1/32' }, { protocol: 'UDP', port: 68 }] }, true],
  ["should reject random ProtoPort.Protocol 'jolly-UDP'", 'FelixConfiguration', { failsafeOutboundHostPorts: [{ protocol: 'jolly-UDP', port: 0 }] }, false],
  ['should reject an unknown FelixConfiguration field', 'FelixConfiguration', { ipv6Supported: true }, false],
  // Calico decodes with Go's encoding/json: a key differing only in case names the field.
  ['should accept a FelixConfiguration field spelled in another case', 'FelixConfiguration', { ipv6support: true }, true],
  ['should reject a duration without a unit', 'FelixConfiguration', { reportingInterval: '30' }, false],
  ['should accept a compound duration', 'FelixConfiguration', { routeRefreshInterval: '1m30s' }, true],
]);

table('KubeControllersConfiguration (validator_test.go)', [
  ['should not accept invalid HealthChecks', 'KubeControllersConfiguration', { healthChecks: 'invalid' }, false],
  ['should accept valid HealthChecks', 'KubeControllersConfiguration', { healthChecks: 'Enabled' }, true],
  ['should not accept invalid log severity', 'KubeControllersConfiguration', { logSeverityScreen: 'invalid' }, false],
  ['should accept valid log severity', 'KubeControllersConfiguration', { logSeverityScreen: 'Error' }, true],
  ['should accept valid compaction period', 'KubeControllersConfiguration', { etcdV3CompactionPeriod: '12m' }, true],
  ['should accept ControllersConfig with no values', 'KubeControllersConfiguration', { controllers: {} }, true],
  ['should accept ControllersConfig with empty values', 'KubeControllersConfiguration', { controllers: { node: {}, policy: {}, workloadEndpoint: {}, serviceAccount: {}, namespace: {} } }, true],
  ['should accept valid reconciliation period on node', 'KubeControllersConfiguration', { controllers: { node: { reconcilerPeriod: '5m' } } }, true],
  ['should not accept invalid sync labels', 'KubeControllersConfiguration', { controllers: { node: { syncLabels: 'yes' } } }, false],
  ['should accept valid sync labels', 'KubeControllersConfiguration', { controllers: { node: { syncLabels: 'Disabled' } } }, true],
  ['should not accept invalid host endpoint auto create', 'KubeControllersConfiguration', { controllers: { node: { hostEndpoint: { autoCreate: 'Totally' } } } }, false],
  ['should accept valid host endpoint auto create', 'KubeControllersConfiguration', { controllers: { node: { hostEndpoint: { autoCreate: 'Enabled' } } } }, true],
  ['should accept empty host endpoint auto create', 'KubeControllersConfiguration', { controllers: { node: { hostEndpoint: {} } } }, true],
  ['should accept valid reconciliation period on policy', 'KubeControllersConfiguration', { controllers: { policy: { reconcilerPeriod: '330s' } } }, true],
  ['should accept valid reconciliation period on namespace', 'KubeControllersConfiguration', { controllers: { namespace: { reconcilerPeriod: '330s' } } }, true],
  ['should reject a template with a bad interface CIDR', 'KubeControllersConfiguration', { controllers: { node: { hostEndpoint: { templates: [{ interfaceCIDRs: ['nope'] }] } } } }, false],
  ['should reject a template with a bad node selector', 'KubeControllersConfiguration', { controllers: { node: { hostEndpoint: { templates: [{ nodeSelector: 'a ==' }] } } } }, false],
]);

table('IPAMConfiguration and CalicoNodeStatus', [
  ['should accept an IPAM configuration', 'IPAMConfiguration', { strictAffinity: true, maxBlocksPerHost: 0 }, true],
  ['should reject a negative maxBlocksPerHost', 'IPAMConfiguration', { maxBlocksPerHost: -1 }, false],
  ['should reject an unknown kubeVirtVMAddressPersistence', 'IPAMConfiguration', { kubeVirtVMAddressPersistence: 'Maybe' }, false],
  ['should accept a node status request', 'CalicoNodeStatus', { node: 'node-1', classes: ['Agent', 'BGP', 'Routes'], updatePeriodSeconds: 10 }, true],
  ['should reject a node status request without classes', 'CalicoNodeStatus', { node: 'node-1', updatePeriodSeconds: 10 }, false],
  ['should reject repeated classes', 'CalicoNodeStatus', { node: 'node-1', classes: ['BGP', 'BGP'], updatePeriodSeconds: 10 }, false],
  ['should reject an update period over a day', 'CalicoNodeStatus', { node: 'node-1', classes: ['BGP'], updatePeriodSeconds: 86401 }, false],
  ['should reject an unknown class', 'CalicoNodeStatus', { node: 'node-1', classes: ['Routing'], updatePeriodSeconds: 10 }, false],
]);
