/**
 * The dataplane model: what the calculation graph hands the dataplane, in kernel-agnostic terms.
 * The calculation graph (pure) emits {@link DataplaneUpdate} messages through the event
 * sequencer; the nftables/routes managers turn them into kernel state; `margay policy trace`
 * and `policy matrix` evaluate packets against the very same model (src/calc/evaluate.ts).
 *
 * Ordering contract (the sequencer guarantees it, the dataplane relies on it):
 *   config → ip-set creates/updates → policies/profiles → endpoints → routes → VXLAN,
 *   and removals in reverse (routes → endpoints → policies/profiles → ip sets).
 * Nothing is emitted before the first `in-sync`.
 */

import type { FailsafePort } from '../api/mod.ts';

/** IP family. */
export type IpFamily = 4 | 6;

/**
 * Members of an IP set:
 *  - kind `net`: CIDRs (`10.0.0.5/32`, `fd00::/64`), IPv4 and IPv6 mixed; the dataplane splits by family.
 *  - kind `ip-port`: `<ip>,<protocol>:<port>` with protocol `tcp`, `udp` or `sctp` (`10.0.0.5,tcp:80`).
 */
export type IpSetKind = 'net' | 'ip-port';

/** An inclusive port range; a single port has first === last. */
export interface PortRange {
  first: number;
  last: number;
}

/** ICMP type and optional code. */
export interface IcmpMatch {
  type: number;
  code?: number;
}

/**
 * Conditions on one side (source or destination) of a packet. Every present field must hold.
 * Port semantics: when `ports` and/or `namedPortIpSets` are present, the packet matches if its
 * port is in `ports` OR its (address, protocol, port) is in one of `namedPortIpSets`.
 * `notPorts`/`notNamedPortIpSets`: the packet's port is in none of them.
 */
export interface EndpointMatch {
  /** The address is in at least one of these CIDRs. */
  nets?: string[];
  /** The address is in none of these CIDRs. */
  notNets?: string[];
  /** The address is a member of every one of these `net` sets (selector, namespace, service account). */
  ipSets?: string[];
  /** The address is a member of none of these sets. */
  notIpSets?: string[];
  ports?: PortRange[];
  namedPortIpSets?: string[];
  notPorts?: PortRange[];
  notNamedPortIpSets?: string[];
}

/** Everything a rule can match on. */
export interface MatchCriteria {
  ipVersion?: IpFamily;
  /** IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, 132 SCTP, 136 UDPLite). */
  protocol?: number;
  notProtocol?: number;
  icmp?: IcmpMatch;
  notIcmp?: IcmpMatch;
  src: EndpointMatch;
  dst: EndpointMatch;
}

/** What a rule does when it matches. `log` logs and continues with the next rule. */
export type RuleAction = 'allow' | 'deny' | 'pass' | 'log';

/** Where a rule came from: the policy (or profile) key, its direction and its index there. */
export interface RuleOrigin {
  policy: string;
  direction: 'ingress' | 'egress';
  index: number;
}

/** A rule compiled from a Calico Rule. */
export interface CompiledRule {
  match: MatchCriteria;
  action: RuleAction;
  /** For `log` rules: the prefix, which names the policy and rule. */
  logPrefix?: string;
  origin: RuleOrigin;
  /** True when the source rule had an `http` match, which this dataplane does not enforce. */
  httpNotEnforced?: boolean;
}

/**
 * A policy or profile, compiled. Keys:
 *  - `gnp/<name>` GlobalNetworkPolicy, `np/<namespace>/<name>` NetworkPolicy,
 *  - `pro/<name>` Profile.
 */
export interface CompiledPolicy {
  key: string;
  /** The tier; profiles have none. */
  tier?: string;
  ingress: CompiledRule[];
  egress: CompiledRule[];
  /** GlobalNetworkPolicy host-endpoint flags. */
  doNotTrack?: boolean;
  preDNAT?: boolean;
  applyOnForward?: boolean;
}

/** The policies of one tier that apply to an endpoint, in evaluation order, per direction. */
export interface TierPlan {
  name: string;
  /** What happens when no policy of the tier decides: Deny drops, Pass goes to the next tier. */
  defaultAction: 'Deny' | 'Pass';
  ingress: string[];
  egress: string[];
}

/** A local workload endpoint as the dataplane needs it. */
export interface WorkloadEndpointPlan {
  /** `<namespace>/<name>` of the WorkloadEndpoint. */
  key: string;
  interfaceName: string;
  /** Its addresses as /32 and /128 CIDRs. */
  addresses: string[];
  /** Extra source prefixes it may send from (anti-spoofing exceptions). */
  allowSpoofedSourcePrefixes: string[];
  /** Tiers in order, only those with at least one policy for this endpoint. */
  tiers: TierPlan[];
  /** Profile keys in order (`pro/kns.shop`). */
  profiles: string[];
  /** The endpoint's MAC, when known. */
  mac?: string;
  /** Floating IPs (1:1 NAT, OpenStack): `external` is DNATed to `internal`; absent when none. */
  nats?: { internal: string; external: string }[];
}

/** A local host endpoint. `interfaceName` `*` means every host interface. */
export interface HostEndpointPlan {
  key: string;
  interfaceName: string;
  addresses: string[];
  /** Normal (tracked, after DNAT) policies. */
  tiers: TierPlan[];
  /** doNotTrack policies (raw, stateless). */
  untrackedTiers: TierPlan[];
  /** preDNAT policies (ingress only). */
  preDnatTiers: TierPlan[];
  /** applyOnForward policies for forwarded traffic. */
  forwardTiers: TierPlan[];
  profiles: string[];
}

/** A route the host should have. */
export type RouteSpec =
  | { type: 'workload'; dst: string; interfaceName: string }
  | { type: 'blackhole'; dst: string };

/** A host port that stays open whatever host-endpoint policy says (a FelixConfiguration parameter's type). */
export type { FailsafePort } from '../api/mod.ts';

/** Dataplane-wide settings, resolved from FelixConfiguration and the pools. */
export interface DataplaneSettings {
  /** Workload interface name prefixes (`cali`). */
  interfacePrefixes: string[];
  /** What happens to traffic from a workload to the host itself after its egress policy. */
  defaultEndpointToHostAction: 'Drop' | 'Accept' | 'Return';
  failsafeInbound: FailsafePort[];
  failsafeOutbound: FailsafePort[];
  ipv6Enabled: boolean;
  /** Pools whose traffic to outside all pools is masqueraded (natOutgoing). */
  natOutgoingPools: string[];
  /** Every pool CIDR (destinations inside these are never masqueraded). */
  allPools: string[];
  /** Log prefix base for Log rules and drops. */
  logPrefix: string;
  /**
   * OpenStack's special cases (Felix's, when OpenStack is detected): VMs may send DHCP and DNS
   * to their host whatever their policy, and reach the metadata server (`metadataAddr`, IPv4,
   * when set) directly or through 169.254.169.254:80. Absent when OpenStack is not in use.
   */
  openstack?: { metadataAddr?: string; metadataPort: number };
}

/** This host's VXLAN device of one family. */
export interface VxlanDevicePlan {
  family: IpFamily;
  name: string;
  vni: number;
  port: number;
  /** Underlay source: this host's BGP address. */
  localIp: string;
  mac: string;
  /** The tunnel address (`10.244.1.0`), given /32 or /128 on the device. */
  tunnelIp: string;
}

/** A remote VXLAN endpoint (VTEP). */
export interface VtepPlan {
  family: IpFamily;
  node: string;
  tunnelIp: string;
  mac: string;
  nodeIp: string;
}

/** A route through VXLAN, or plain to a host on this host's subnet (CrossSubnet). */
export interface VxlanRoutePlan {
  /** Normalised destination CIDR. */
  dst: string;
  family: IpFamily;
  /** The next hop: the remote tunnel address (encapsulated) or node address (CrossSubnet, same subnet). */
  via: string;
  /** Set for encapsulated routes (`onlink` through the device). */
  dev?: string;
  /** The remote host. */
  node: string;
}

/** This host's whole VXLAN state (the VXLAN resolver's output, the VXLAN manager's input). */
export interface VxlanPlan {
  devices: VxlanDevicePlan[];
  vteps: VtepPlan[];
  routes: VxlanRoutePlan[];
  /** Families whose device must not exist (no VXLAN pool, or this host is not ready). */
  absent: IpFamily[];
  /** Why something is not programmed (a host without a tunnel address yet…). */
  warnings: string[];
}

/** One message from the calculation graph to the dataplane. */
export type DataplaneUpdate =
  | { type: 'settings'; settings: DataplaneSettings }
  | { type: 'ipset-update'; id: string; kind: IpSetKind; members: string[] }
  | { type: 'ipset-delta'; id: string; added: string[]; removed: string[] }
  | { type: 'ipset-remove'; id: string }
  | { type: 'policy-update'; policy: CompiledPolicy }
  | { type: 'policy-remove'; key: string }
  | { type: 'workload-update'; endpoint: WorkloadEndpointPlan }
  | { type: 'workload-remove'; key: string }
  | { type: 'host-endpoint-update'; endpoint: HostEndpointPlan }
  | { type: 'host-endpoint-remove'; key: string }
  | { type: 'route-update'; route: RouteSpec }
  | { type: 'route-remove'; dst: string }
  | { type: 'vxlan-update'; plan: VxlanPlan }
  | { type: 'in-sync' };
