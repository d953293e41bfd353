/**
 * Invalid cases of Calico 3.32's validator (libcalico-go/lib/validator/v3/validator.go and the
 * entries of validator_test.go), re-expressed as Margay manifests: each names the rule it mirrors
 * and the field path the error must name. Used by validator-rules.test.ts (in memory) and
 * parity.int.test.ts (through the CLI on a real etcd, which must stay unchanged).
 */

/** One refused manifest: what it shows, the rule in validator.go, the object, the field path. */
export interface InvalidCase {
  title: string;
  rule: string;
  object: Record<string, unknown>;
  path: string;
}

const v3 = 'projectcalico.org/v3';
const gnp = (spec: Record<string, unknown>, name = 'p'): Record<string, unknown> => ({ apiVersion: v3, kind: 'GlobalNetworkPolicy', metadata: { name }, spec });
const rule = (r: Record<string, unknown>): Record<string, unknown> => gnp({ ingress: [{ action: 'Allow', ...r }] });
const felix = (spec: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: v3, kind: 'FelixConfiguration', metadata: { name: 'default' }, spec });
const pool = (spec: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: v3, kind: 'IPPool', metadata: { name: 'p' }, spec });
const peer = (spec: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: v3, kind: 'BGPPeer', metadata: { name: 'p' }, spec });
const bgp = (spec: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: v3, kind: 'BGPConfiguration', metadata: { name: 'default' }, spec });
const R = 'spec.ingress[0]';

/** Manifests Calico 3.32 accepts that a stricter reading of its rules might refuse. */
export const VALID_CASES: Omit<InvalidCase, 'path'>[] = [
  { title: 'named ports without a protocol', rule: 'validateRule: only numeric ports need a protocol (AllPortsAreNamed)', object: rule({ destination: { ports: ['http', 'metrics'] } }) },
  { title: 'a route table range over the reserved tables', rule: 'validateRouteTableIDRange: reserved tables 253-255 are only logged', object: felix({ routeTableRanges: [{ min: 250, max: 255 }] }) },
  { title: 'a global() namespace selector alone', rule: 'validateEntityRule: global() alone is allowed', object: rule({ source: { namespaceSelector: 'global()' } }) },
  { title: 'a peer given as [IPv6]:port', rule: 'validateIPPort: IPv6PortFormat', object: peer({ peerIP: '[fd00::1]:179', asNumber: 65000 }) },
  { title: 'a node selector on a FelixConfiguration of another name', rule: 'FelixConfiguration CRD rule: nodeSelector is for configurations other than default and node.*', object: { apiVersion: v3, kind: 'FelixConfiguration', metadata: { name: 'edge' }, spec: { nodeSelector: 'role == "edge"' } } },
  { title: 'an interface name with capitals and underscores', rule: 'validateInterface: ^[a-zA-Z0-9_.-]{1,15}$', object: { apiVersion: v3, kind: 'WorkloadEndpoint', metadata: { name: 'n1-k8s-p-eth0', namespace: 'default' }, spec: { node: 'n1', orchestrator: 'k8s', pod: 'p', endpoint: 'eth0', interfaceName: 'Valid_Iface.0-9' } } },
  { title: 'a protocol by number as a string', rule: 'validateProtocol: 1-255', object: rule({ protocol: '255' }) },
];

export const INVALID_CASES: InvalidCase[] = [
  // Rules (validateRule, validateEntityRule, validateICMPFields, field validators of policy_common.go).
  { title: 'a negated catch-all IPv4 net matches nothing', rule: 'validateRule: catch-all CIDR in negation', object: rule({ source: { notNets: ['0.0.0.0/0'] } }), path: `${R}.source.notNets[0]` },
  { title: 'a negated catch-all IPv6 net matches nothing', rule: 'validateRule: catch-all CIDR in negation', object: rule({ destination: { notNets: ['::/0'] } }), path: `${R}.destination.notNets[0]` },
  { title: 'ports without a protocol', rule: 'validateRule: protocolSingleOrRangePortsMsg', object: rule({ destination: { ports: [80] } }), path: `${R}.destination.ports` },
  { title: 'ports with ICMP', rule: 'validateRule: protocolPortsMsg', object: rule({ protocol: 'ICMP', source: { ports: [80] } }), path: `${R}.source.ports` },
  { title: 'icmp fields with TCP', rule: 'validateRule: protocolIcmpMsg', object: rule({ protocol: 'TCP', icmp: { type: 8 } }), path: `${R}.icmp` },
  { title: 'ICMP with ipVersion 6', rule: "validateRule: must set ipversion to '4' with protocol icmp", object: rule({ protocol: 'ICMP', ipVersion: 6 }), path: `${R}.ipVersion` },
  { title: 'ICMPv6 with ipVersion 4', rule: "validateRule: must set ipversion to '6' with protocol icmpv6", object: rule({ protocol: 'ICMPv6', ipVersion: 4 }), path: `${R}.ipVersion` },
  { title: 'IPv6 nets in an IPv4 rule', rule: "validateRule: rule IP version doesn't match CIDR version", object: rule({ ipVersion: 4, source: { nets: ['aabb::/64'] } }), path: `${R}.source.nets` },
  { title: 'IPv4 and IPv6 nets in one rule', rule: 'validateRule: rule contains both IPv4 and IPv6 CIDRs', object: rule({ source: { nets: ['10.0.0.0/8'] }, destination: { nets: ['aabb::/64'] } }), path: `${R}.destination.nets` },
  { title: 'HTTP on a Deny rule', rule: 'validateRule: ruleUsesAppLayerPolicy only valid for Allow rules', object: gnp({ ingress: [{ action: 'Deny', http: { methods: ['GET'] } }] }), path: `${R}.http` },
  { title: 'HTTP with UDP', rule: 'validateRule: protocolAndHTTPMsg', object: rule({ protocol: 'UDP', http: { methods: ['GET'] } }), path: `${R}.protocol` },
  { title: 'ports with a service match', rule: 'validateRule: cannot specify ports with a service selector', object: rule({ protocol: 'TCP', destination: { services: { name: 'api', namespace: 'shop' }, ports: [80] } }), path: `${R}.destination.ports` },
  { title: 'an ICMP code without a type', rule: 'validateICMPFields: ICMP code specified without an ICMP type', object: rule({ protocol: 'ICMP', icmp: { code: 0 } }), path: `${R}.icmp.code` },
  { title: 'an ICMP type of 255', rule: 'policy_common.go ICMPFields.Type: lte=254', object: rule({ protocol: 'ICMP', icmp: { type: 255 } }), path: `${R}.icmp.type` },
  { title: 'a lower-case action', rule: 'validateAction: ^(Allow|Deny|Log|Pass)$', object: gnp({ ingress: [{ action: 'allow' }] }), path: `${R}.action` },
  { title: 'an IP version of 5', rule: 'validateIPVersion: 4 or 6', object: rule({ ipVersion: 5 }), path: `${R}.ipVersion` },
  { title: 'global() in a selector', rule: 'validateEntityRule: globalSelectorEntRule', object: rule({ source: { selector: 'global()' } }), path: `${R}.source.selector` },
  { title: 'global() combined with another namespace selector', rule: 'validateEntityRule: globalSelectorOnly', object: rule({ source: { namespaceSelector: 'global() && a == "b"' } }), path: `${R}.source.namespaceSelector` },
  { title: 'a service match with a selector', rule: 'validateEntityRule: cannot specify Selector/NotSelector and Services', object: gnp({ egress: [{ action: 'Allow', destination: { services: { name: 'api', namespace: 'shop' }, selector: 'a == "b"' } }] }), path: 'spec.egress[0].destination.services' },
  { title: 'a service match without a name', rule: 'validateEntityRule: must specify a service name', object: gnp({ egress: [{ action: 'Allow', destination: { services: { namespace: 'shop' } } }] }), path: 'spec.egress[0].destination.services.name' },
  { title: 'a bad selector', rule: 'validateSelector', object: rule({ source: { selector: 'app == ' } }), path: `${R}.source.selector` },
  { title: 'an invalid net', rule: 'validateRule: invalid CIDR (nets dive,net)', object: rule({ source: { nets: ['10.0.0.300/32'] } }), path: `${R}.source.nets[0]` },
  { title: 'protocol number 0', rule: 'validateProtocol: protocol number invalid', object: rule({ protocol: 0 }), path: `${R}.protocol` },
  { title: 'protocol name in lower case', rule: 'validateProtocol: protocol name invalid (protocolRegex)', object: rule({ protocol: 'tcp' }), path: `${R}.protocol` },
  { title: 'a reversed port range', rule: 'validatePort: port range invalid', object: rule({ protocol: 'TCP', destination: { ports: ['100:50'] } }), path: `${R}.destination.ports[0]` },
  { title: 'port 0', rule: 'validatePort: port number must be between 1 and 65535', object: rule({ protocol: 'TCP', destination: { ports: [0] } }), path: `${R}.destination.ports[0]` },
  { title: 'a repeated HTTP method', rule: 'validateHTTPRule: Invalid methods (duplicates)', object: rule({ http: { methods: ['GET', 'GET'] } }), path: `${R}.http.methods` },
  { title: 'an HTTP path with both exact and prefix', rule: "validateHTTPRule: Both 'exact' and 'prefix' are set", object: rule({ http: { paths: [{ exact: '/a', prefix: '/b' }] } }), path: `${R}.http.paths[0]` },
  { title: 'an HTTP path with a query', rule: 'validateHTTPRule: must start with / and not contain ? or #', object: rule({ http: { paths: [{ exact: '/a?b' }] } }), path: `${R}.http.paths[0]` },
  // Policies and tiers (validateNetworkPolicy, validateGlobalNetworkPolicySpec, validateTier, policy types).
  { title: 'a policy type in lower case', rule: 'validatePolicyType: Ingress or Egress', object: gnp({ types: ['ingress'] }), path: 'spec.types[0]' },
  { title: 'a service as the source of an egress rule', rule: 'validateGlobalNetworkPolicySpec: Services not allowed in egress rule source', object: gnp({ egress: [{ action: 'Allow', source: { services: { name: 'api', namespace: 'shop' } } }] }), path: 'spec.egress[0].source.services' },
  { title: 'HTTP in an egress rule', rule: 'validateGlobalNetworkPolicySpec: application layer policy not allowed in egress rules', object: gnp({ egress: [{ action: 'Allow', http: { methods: ['GET'] } }] }), path: 'spec.egress[0].http' },
  { title: 'a global service match without a namespace', rule: 'validateGlobalNetworkPolicySpec: Services must specify a namespace', object: gnp({ egress: [{ action: 'Allow', destination: { services: { name: 'api' } } }] }), path: 'spec.egress[0].destination.services.namespace' },
  { title: 'doNotTrack with applyOnForward false', rule: 'validateGlobalNetworkPolicySpec: DoNotTrack requires ApplyOnForward', object: gnp({ doNotTrack: true, applyOnForward: false }), path: 'spec.applyOnForward' },
  { title: 'doNotTrack and preDNAT together', rule: 'validateGlobalNetworkPolicySpec: PreDNAT and DoNotTrack cannot both be true', object: gnp({ doNotTrack: true, preDNAT: true, applyOnForward: true }), path: 'spec.preDNAT' },
  { title: 'preDNAT with egress rules', rule: 'validateGlobalNetworkPolicySpec: PreDNAT PolicyTypes cannot include Egress', object: gnp({ preDNAT: true, applyOnForward: true, egress: [{ action: 'Allow' }] }), path: 'spec.egress' },
  { title: 'a policy name with two dots', rule: 'globalNetworkPolicyNameRegex', object: gnp({}, 'a.b.c'), path: 'metadata.name' },
  { title: 'a tier default action Allow', rule: 'tier.go TierSpec.DefaultAction oneof=Deny Pass', object: { apiVersion: v3, kind: 'Tier', metadata: { name: 't' }, spec: { defaultAction: 'Allow' } }, path: 'spec.defaultAction' },
  { title: 'a performance hint nobody knows', rule: 'networkpolicy.go performanceHints oneof=AssumeNeededOnEveryNode', object: gnp({ performanceHints: ['Sometimes'] }), path: 'spec.performanceHints[0]' },
  // IP pools (validateIPPoolSpec).
  { title: 'a pool smaller than its block', rule: 'validateIPPoolSpec: IP pool size is too small for use with Calico IPAM', object: pool({ cidr: '10.0.0.0/27' }), path: 'spec.cidr' },
  { title: 'an IPv6 pool with IPIP', rule: 'validateIPPoolSpec: IPIPMode other than Never is not supported on an IPv6 IP pool', object: pool({ cidr: 'fd00::/64', ipipMode: 'Always' }), path: 'spec.ipipMode' },
  { title: 'IPIP and VXLAN both on', rule: 'validateIPPoolSpec: IPIPMode and VXLANMode cannot both be enabled', object: pool({ cidr: '10.0.0.0/16', ipipMode: 'Always', vxlanMode: 'Always' }), path: 'spec.vxlanMode' },
  { title: 'a pool overlapping link-local', rule: 'validateIPPoolSpec: overlapsV4LinkLocal', object: pool({ cidr: '169.254.0.0/16' }), path: 'spec.cidr' },
  { title: 'a block size of 33', rule: 'validateIPPoolSpec: block size must be between 20 and 32', object: pool({ cidr: '10.0.0.0/16', blockSize: 33 }), path: 'spec.blockSize' },
  { title: 'an assignment mode in lower case', rule: 'validateAssignmentMode: ^(Automatic|Manual)$', object: pool({ cidr: '10.0.0.0/16', assignmentMode: 'manual' }), path: 'spec.assignmentMode' },
  { title: 'a vxlan mode in lower case', rule: 'validateVXLANMode: ^(Always|CrossSubnet|Never)$', object: pool({ cidr: '10.0.0.0/16', vxlanMode: 'always' }), path: 'spec.vxlanMode' },
  { title: 'a LoadBalancer pool not exported over BGP', rule: 'validateIPPoolSpec: AllowedUse LoadBalancer and DisableBGPExport', object: pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'], disableBGPExport: true }), path: 'spec.disableBGPExport' },
  { title: 'a LoadBalancer pool for some nodes only', rule: 'validateIPPoolSpec: AllowedUse LoadBalancer must have node selector set to all()', object: pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer'], nodeSelector: '!all()' }), path: 'spec.nodeSelector' },
  { title: 'a tunnel pool with a namespace selector', rule: 'validateIPPoolSpec: AllowedUse Tunnel cannot have namespaceSelector', object: pool({ cidr: '10.0.0.0/16', allowedUses: ['Tunnel'], namespaceSelector: 'a == "b"' }), path: 'spec.namespaceSelector' },
  { title: 'global() in a pool node selector', rule: 'validateIPPoolSpec: global() selector is not valid for IPPool nodeSelector', object: pool({ cidr: '10.0.0.0/16', nodeSelector: 'global()' }), path: 'spec.nodeSelector' },
  { title: 'global() in a pool namespace selector', rule: 'validateIPPoolSpec: global() selector is not valid for IPPool namespaceSelector', object: pool({ cidr: '10.0.0.0/16', allowedUses: ['Workload'], namespaceSelector: 'global()' }), path: 'spec.namespaceSelector' },
  { title: 'a LoadBalancer pool that also serves workloads', rule: 'validateIPPoolSpec: LoadBalancer cannot be used at the same time as Workload', object: pool({ cidr: '10.0.0.0/16', allowedUses: ['LoadBalancer', 'Workload'] }), path: 'spec.allowedUses' },
  { title: 'an unknown allowed use', rule: 'validateIPPoolSpec: unknown use', object: pool({ cidr: '10.0.0.0/16', allowedUses: ['Garbage'] }), path: 'spec.allowedUses[0]' },
  { title: 'a pool CIDR with host bits', rule: 'validateIPPoolSpec: poolUnstictCIDR', object: pool({ cidr: '10.0.0.1/16' }), path: 'spec.cidr' },
  // BGP (validateBGPPeerSpec, validateBGPConfigurationSpec, validateBGPFilterRule).
  { title: 'a peer with node and nodeSelector', rule: 'validateBGPPeerSpec: Node field must be empty when NodeSelector is specified', object: peer({ node: 'n1', nodeSelector: 'all()' }), path: 'spec.nodeSelector' },
  { title: 'a peer with peerIP and peerSelector', rule: 'validateBGPPeerSpec: PeerIP field must be empty when PeerSelector is specified', object: peer({ peerIP: '10.0.0.1', peerSelector: 'all()' }), path: 'spec.peerSelector' },
  { title: 'keepOriginalNextHop with nextHopMode', rule: 'validateBGPPeerSpec: KeepOriginalNextHop and NextHopMode cannot both be set', object: peer({ peerIP: '10.0.0.1', asNumber: 65000, keepOriginalNextHop: true, nextHopMode: 'Self' }), path: 'spec.nextHopMode' },
  { title: 'a peer node that is not a name', rule: 'bgppeer.go BGPPeerSpec.Node validate:name', object: peer({ node: 'Node_1', peerIP: '10.0.0.1', asNumber: 65000 }), path: 'spec.node' },
  { title: 'a reachableBy of the wrong family', rule: 'validateReachableBy: address family mismatched', object: peer({ peerIP: '10.0.0.1', asNumber: 65000, reachableBy: 'fd00::1' }), path: 'spec.reachableBy' },
  { title: 'a BGP log level in lower case', rule: 'validateLogLevel (BGPConfigurationSpec.LogSeverityScreen)', object: bgp({ logSeverityScreen: 'info' }), path: 'spec.logSeverityScreen' },
  { title: 'a mesh password with the mesh off', rule: 'validateBGPConfigurationSpec: NodeMeshPassword requires NodeToNodeMeshEnabled', object: bgp({ nodeToNodeMeshEnabled: false, nodeMeshPassword: { secretKeyRef: { name: 's', key: 'k' } } }), path: 'spec.nodeMeshPassword' },
  { title: 'a community value out of range', rule: 'validateCommunityValue: expected 16 bit value', object: bgp({ communities: [{ name: 'c', value: '65536:1' }] }), path: 'spec.communities[0].value' },
  { title: 'a BGP filter CIDR without a match operator', rule: 'validateBGPFilterRule: cidr and matchOperator go together', object: { apiVersion: v3, kind: 'BGPFilter', metadata: { name: 'f' }, spec: { exportV4: [{ action: 'Accept', cidr: '10.0.0.0/8' }] } }, path: 'spec.exportV4[0].matchOperator' },
  { title: 'communities nobody advertises', rule: 'validateBGPConfigurationSpec: communities are defined but not used in PrefixAdvertisement', object: bgp({ communities: [{ name: 'a', value: '1:2' }] }), path: 'spec.communities' },
  { title: 'an undefined community in an advertisement', rule: 'validateBGPConfigurationSpec: community used is invalid or not defined', object: bgp({ prefixAdvertisements: [{ cidr: '10.0.0.0/8', communities: ['nope'] }] }), path: 'spec.prefixAdvertisements[0].communities[0]' },
  { title: 'a mesh restart time with the mesh off', rule: 'validateBGPConfigurationSpec: NodeMeshMaxRestartTime cannot be set if NodeToNodeMesh is disabled', object: bgp({ nodeToNodeMeshEnabled: false, nodeMeshMaxRestartTime: '1m' }), path: 'spec.nodeMeshMaxRestartTime' },
  { title: 'an AS number with a peer selector', rule: 'validateBGPPeerSpec: ASNumber field must be empty when PeerSelector is specified', object: peer({ peerSelector: 'all()', asNumber: 64512 }), path: 'spec.asNumber' },
  { title: 'a local workload selector without an AS number', rule: 'validateBGPPeerSpec: ASNumber must NOT be empty when LocalWorkloadSelector is specified', object: peer({ localWorkloadSelector: 'all()' }), path: 'spec.asNumber' },
  { title: 'two operations in one BGP filter operation', rule: 'validateBGPFilterOperation: exactly one operation must be set', object: { apiVersion: v3, kind: 'BGPFilter', metadata: { name: 'f' }, spec: { exportV4: [{ action: 'Accept', operations: [{ addCommunity: { value: '1:2' }, setPriority: { value: 5 } }] }] } }, path: 'spec.exportV4[0].operations[0]' },
  { title: 'a default tier with another order', rule: 'validateTier: default tier order must be 1000000', object: { apiVersion: v3, kind: 'Tier', metadata: { name: 'default' }, spec: { order: 5 } }, path: 'spec.order' },
  { title: 'a policy type given twice', rule: "validateNetworkPolicySpec: type specified more than once", object: { apiVersion: v3, kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'ns' }, spec: { types: ['Ingress', 'Ingress'] } }, path: 'spec.types[1]' },
  { title: 'the reserved namespace label on a network set', rule: 'validateNetworkSet: projectcalico.org/namespace is not a valid label name', object: { apiVersion: v3, kind: 'NetworkSet', metadata: { name: 's', namespace: 'ns', labels: { 'projectcalico.org/namespace': 'x' } }, spec: {} }, path: 'metadata.labels["projectcalico.org/namespace"]' },
  { title: 'a staged delete that carries a selector', rule: 'validateStagedNetworkPolicy: Spec fields, except Tier, should all be zero-value if stagedAction is Delete', object: { apiVersion: v3, kind: 'StagedNetworkPolicy', metadata: { name: 's', namespace: 'ns' }, spec: { stagedAction: 'Delete', selector: 'all()' } }, path: 'spec.selector' },
  { title: 'a workload port with neither name nor host port', rule: 'validateWorkloadEndpointPort: name must not be empty if no HostPort is specified', object: { apiVersion: v3, kind: 'WorkloadEndpoint', metadata: { name: 'n1-k8s-p-eth0', namespace: 'default' }, spec: { node: 'n1', orchestrator: 'k8s', pod: 'p', endpoint: 'eth0', interfaceName: 'cali1', ports: [{ port: 80, protocol: 'TCP' }] } }, path: 'spec.ports[0].name' },
  { title: 'a host endpoint port with ICMP', rule: 'validateEndpointPort: EndpointPort protocol does not support ports', object: { apiVersion: v3, kind: 'HostEndpoint', metadata: { name: 'h' }, spec: { node: 'n1', interfaceName: 'eth0', ports: [{ name: 'a', port: 1, protocol: 'ICMP' }] } }, path: 'spec.ports[0].protocol' },
  { title: 'a failsafe port with ICMP', rule: "validateProtoPort: protocol must be 'TCP' or 'UDP' or 'SCTP'", object: felix({ failsafeInboundHostPorts: [{ protocol: 'ICMP', port: 1 }] }), path: 'spec.failsafeInboundHostPorts[0].protocol' },
  // FelixConfiguration (validateFelixConfigSpec and the field tags of felixconfig.go).
  { title: 'a default endpoint-to-host action in lower case', rule: 'validateFelixEtoHAction: ^(Drop|Accept|Return)$', object: felix({ defaultEndpointToHostAction: 'drop' }), path: 'spec.defaultEndpointToHostAction' },
  { title: 'an iptables backend in lower case', rule: 'validateIptablesBackend', object: felix({ iptablesBackend: 'legacy' }), path: 'spec.iptablesBackend' },
  { title: 'eight node port ranges', rule: 'validateFelixConfigSpec: node port ranges list is too long (max 7)', object: felix({ kubeNodePortRanges: ['1:2', '3:4', '5:6', '7:8', '9:10', '11:12', '13:14', '15:16'] }), path: 'spec.kubeNodePortRanges' },
  { title: 'an IPv6 external node CIDR', rule: 'validateFelixConfigSpec: ExternalNodesCIDRList has invalid IPv6 CIDR', object: felix({ externalNodesList: ['fd00::/64'] }), path: 'spec.externalNodesList[0]' },
  { title: 'an OpenStack region that is not a DNS label', rule: 'validateFelixConfigSpec: OpenstackRegion must be a valid DNS label', object: felix({ openstackRegion: 'Region_One' }), path: 'spec.openstackRegion' },
  { title: 'routeTableRange and routeTableRanges together', rule: 'validateFelixConfigSpec: RouteTableRange cannot be set when RouteTableRanges is also set', object: felix({ routeTableRange: { min: 1, max: 2 }, routeTableRanges: [{ min: 3, max: 4 }] }), path: 'spec.routeTableRanges' },
  { title: 'a NAT outgoing address that is IPv6', rule: 'validateFelixConfigSpec: NATOutgoingAddress is not a valid IPv4 address', object: felix({ natOutgoingAddress: 'fd00::1' }), path: 'spec.natOutgoingAddress' },
  { title: 'a health timeout override with a bad name', rule: 'validateHealthTimeoutOverride: name', object: felix({ healthTimeoutOverrides: [{ name: 'a/b', timeout: '10s' }] }), path: 'spec.healthTimeoutOverrides[0].name' },
  { title: 'a Maglev service limit of 0', rule: 'felixconfig.go BPFMaglevMaxServices gt=0,lte=3000', object: felix({ bpfMaglevMaxServices: 0 }), path: 'spec.bpfMaglevMaxServices' },
  { title: 'a log action rate without a unit', rule: 'felixconfig.go LogActionRateLimit pattern N/unit', object: felix({ logActionRateLimit: '10' }), path: 'spec.logActionRateLimit' },
  { title: 'an unknown metrics client auth', rule: 'felixconfig.go PrometheusMetricsClientAuth oneof', object: felix({ prometheusMetricsClientAuth: 'Maybe' }), path: 'spec.prometheusMetricsClientAuth' },
  { title: 'a DSCP mark of 64', rule: 'numorstring.DSCP Validate: between 0 and 63', object: felix({ istioDSCPMark: 64 }), path: 'spec.istioDSCPMark' },
  { title: 'a node selector on the default FelixConfiguration', rule: "FelixConfiguration CRD rule (crd_validation.go): nodeSelector must not be set on 'default' or 'node.*'", object: felix({ nodeSelector: 'all()' }), path: 'spec.nodeSelector' },
  { title: 'BGP filter operations on a Reject rule', rule: 'BGPFilter CRD rule (crd_validation.go): operations may only be used with action Accept', object: { apiVersion: v3, kind: 'BGPFilter', metadata: { name: 'f' }, spec: { exportV4: [{ action: 'Reject', operations: [{ setPriority: { value: 5 } }] }] } }, path: 'spec.exportV4[0].operations' },
  { title: 'the kube-admin tier denying by default', rule: "Tier CRD rule (crd_validation.go): the 'kube-admin' tier must have default action 'Pass'", object: { apiVersion: v3, kind: 'Tier', metadata: { name: 'kube-admin' }, spec: { order: 1000, defaultAction: 'Deny' } }, path: 'spec.defaultAction' },
  { title: 'the default tier passing by default', rule: "Tier CRD rule (crd_validation.go): the 'default' tier must have default action 'Deny'", object: { apiVersion: v3, kind: 'Tier', metadata: { name: 'default' }, spec: { order: 1000000, defaultAction: 'Pass' } }, path: 'spec.defaultAction' },
  { title: 'a negated catch-all IPv6 net written long', rule: 'validateRule: catch-all CIDR in negation (non-standard representation)', object: rule({ source: { notNets: ['0:0::0/0'] } }), path: `${R}.source.notNets[0]` },
  // Endpoints, sets, IPAM and node (validateHostEndpointSpec, validateWorkloadEndpointSpec, validateNodeSpec …).
  { title: 'a host endpoint with neither interface nor IPs', rule: 'validateHostEndpointSpec: no interface or expected IPs have been specified', object: { apiVersion: v3, kind: 'HostEndpoint', metadata: { name: 'h' }, spec: { node: 'n1' } }, path: 'spec.interfaceName' },
  { title: 'a host endpoint interface name of 16 characters', rule: 'validateInterface: ^[a-zA-Z0-9_.-]{1,15}$', object: { apiVersion: v3, kind: 'HostEndpoint', metadata: { name: 'h' }, spec: { node: 'n1', interfaceName: 'a'.repeat(16) } }, path: 'spec.interfaceName' },
  { title: 'a workload with a /24 network', rule: 'validateWorkloadEndpointSpec: IP network contains multiple addresses', object: { apiVersion: v3, kind: 'WorkloadEndpoint', metadata: { name: 'n1-k8s-p-eth0', namespace: 'default' }, spec: { node: 'n1', orchestrator: 'k8s', pod: 'p', endpoint: 'eth0', interfaceName: 'cali1', ipNetworks: ['10.0.0.0/24'] } }, path: 'spec.ipNetworks[0]' },
  { title: 'a 1:1 NAT between families', rule: 'validateIPNAT: mismatched IP versions', object: { apiVersion: v3, kind: 'WorkloadEndpoint', metadata: { name: 'n1-k8s-p-eth0', namespace: 'default' }, spec: { node: 'n1', orchestrator: 'k8s', pod: 'p', endpoint: 'eth0', interfaceName: 'cali1', ipNetworks: ['10.0.0.1/32'], ipNATs: [{ internalIP: '10.0.0.1', externalIP: 'fd00::1' }] } }, path: 'spec.ipNATs[0].externalIP' },
  { title: 'a peer IP with port 0', rule: 'validateIPPort (processIPPort): port < 1', object: peer({ peerIP: '1.2.3.4:0' }), path: 'spec.peerIP' },
  { title: 'a network set with a bad CIDR', rule: 'networkset.go nets dive,cidr', object: { apiVersion: v3, kind: 'GlobalNetworkSet', metadata: { name: 's' }, spec: { nets: ['10.0.0.0/33'] } }, path: 'spec.nets[0]' },
  { title: 'an IP reservation with a bad CIDR', rule: 'ipreservation.go reservedCIDRs cidrs', object: { apiVersion: v3, kind: 'IPReservation', metadata: { name: 'r' }, spec: { reservedCIDRs: ['10.0.1.0/33'] } }, path: 'spec.reservedCIDRs[0]' },
  { title: 'a negative maxBlocksPerHost', rule: 'validateIPAMConfigSpec: MaxBlocksPerHost must be greater than or equal to 0', object: { apiVersion: v3, kind: 'IPAMConfiguration', metadata: { name: 'default' }, spec: { maxBlocksPerHost: -1 } }, path: 'spec.maxBlocksPerHost' },
  { title: 'a node with an empty bgp section', rule: 'validateNodeSpec: Spec.BGP should not be empty', object: { apiVersion: v3, kind: 'Node', metadata: { name: 'n1' }, spec: { bgp: {} } }, path: 'spec.bgp' },
  { title: 'a node status update period over a day', rule: 'nodestatus.go UpdatePeriodSeconds lte=86400', object: { apiVersion: v3, kind: 'CalicoNodeStatus', metadata: { name: 's' }, spec: { node: 'n1', classes: ['BGP'], updatePeriodSeconds: 86401 } }, path: 'spec.updatePeriodSeconds' },
  { title: 'an unknown kube-controllers log level', rule: 'validateLogLevel (KubeControllersConfigurationSpec.LogSeverityScreen)', object: { apiVersion: v3, kind: 'KubeControllersConfiguration', metadata: { name: 'default' }, spec: { logSeverityScreen: 'Panic' } }, path: 'spec.logSeverityScreen' },
  { title: 'a label value that is not a label value', rule: 'validateObjectMetaLabels', object: { apiVersion: v3, kind: 'GlobalNetworkSet', metadata: { name: 's', labels: { a: 'b c' } }, spec: {} }, path: 'metadata.labels.a' },
  { title: 'a resource name with upper case', rule: 'validateName: nameRegex', object: { apiVersion: v3, kind: 'GlobalNetworkSet', metadata: { name: 'Bad' }, spec: {} }, path: 'metadata.name' },
];
