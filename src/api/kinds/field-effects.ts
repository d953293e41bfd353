/**
 * The declarative source of docs/compatibility.md and of the "has no effect" warnings: for each
 * kind, the spec fields Margay accepts and stores but does not act on, the fields it accepts that
 * Calico 3.32 does not have, and the Calico fields it refuses. Paths are in pattern form
 * (`ingress[].http`, `bpfLogFilters{}`); a path covers everything below it. Every other field a
 * kind's schema accepts is supported. test/api/crd-parity.test.ts checks this table against
 * Calico 3.32's CRD schemas.
 */
import { PARAMS, PARAM_NAMES } from '../felix-params.ts';
import { FELIX_CONFIG_FIELDS } from './felix-configuration.ts';

/** What one kind declares. */
export interface KindEffects {
  /** Accepted and stored; Margay does not act on it (the reason). */
  noEffect?: Readonly<Record<string, string>>;
  /** Accepted although Calico 3.32's schema does not have it (what it is). */
  notInCalico?: Readonly<Record<string, string>>;
  /** A Calico 3.32 field that Margay refuses (why). */
  refused?: Readonly<Record<string, string>>;
}

const HTTP = 'HTTP matches need an application-layer proxy; the rule matches as if http were absent';
const HINTS = 'a hint for Calico\'s dataplane; Margay computes policy for every node the same way';
const POLICY: KindEffects = {
  noEffect: { 'ingress[].http': HTTP, 'egress[].http': HTTP, performanceHints: HINTS },
};

const REMOVED = 'removed in Calico 3.32; accepted so that older manifests still apply';
const FELIX_NOT_IN_CALICO: Record<string, string> = {
  iptablesLockFilePath: REMOVED,
  iptablesLockTimeout: REMOVED,
  bpfKubeProxyEndpointSlicesEnabled: REMOVED,
};

/** Why groups of Felix fields have no effect, by name pattern (first match wins). */
const FELIX_REASONS: ReadonlyArray<[RegExp, string]> = [
  [/^nftables/, 'Margay always programs nftables, with its own actions'],
  [/^(vxlan|ipip|allowVXLAN|allowIPIP)/, "Margay takes encapsulation from the IP pools' vxlanMode"],
  [/^routeTable|^routeSource$|^routeSyncDisabled$|^ipv[46](Normal|Elevated)RoutePriority$|^deviceRoute|^removeExternalRoutes$/, 'Margay programs its routes with its own protocol number in the main table'],
  [/^istio/, 'Margay has no Istio integration'],
  [/^logAction/, 'Log rules are not rate-limited by Margay'],
  [/^flowLogs/, 'Margay has no flow log collector'],
  [/^(xdp|genericXDP)/, 'Margay has no XDP programs'],
  [/^(debug|usageReporting|go[A-Z])/, 'a Go runtime or debugging knob of Felix'],
  [/^log(FilePath|Severity(File|Sys)|DebugFilenameRegex)$/, 'the agent logs JSON lines to standard error only'],
];

/** FelixConfiguration fields the agent reads are exactly the datastore parameters of felix-params. */
function felixNoEffect(): Record<string, string> {
  const used = new Set<string>(PARAM_NAMES.filter((n) => !PARAMS[n].local));
  const out: Record<string, string> = {};
  for (const field of FELIX_CONFIG_FIELDS) {
    if (used.has(field)) continue;
    if (field === 'nodeSelector') out[field] = 'the agent reads only the FelixConfigurations default and node.<name>';
    else if (field.startsWith('bpf')) out[field] = 'Margay has no eBPF dataplane';
    else if (field.startsWith('iptables') || field === 'chainInsertMode') out[field] = 'Margay programs nftables only';
    else if (field.startsWith('prometheusMetrics')) out[field] = 'Margay serves metrics without TLS';
    else if (field.startsWith('wireguard')) out[field] = 'Margay has no WireGuard encryption';
    else out[field] = FELIX_REASONS.find(([re]) => re.test(field))?.[1] ?? 'not read by the agent';
  }
  return out;
}

const NODE_STATUS = 'Margay writes no CalicoNodeStatus reports; margay node status shows the same facts';

/** Every kind's declaration, by kind name. */
export const FIELD_EFFECTS: Readonly<Record<string, KindEffects>> = {
  NetworkPolicy: POLICY,
  GlobalNetworkPolicy: POLICY,
  StagedNetworkPolicy: POLICY,
  StagedGlobalNetworkPolicy: POLICY,
  Profile: { noEffect: { 'ingress[].http': HTTP, 'egress[].http': HTTP } },
  WorkloadEndpoint: {
    noEffect: {
      qosControls: 'Margay applies no bandwidth, packet-rate, connection or DSCP controls',
      ipNATs: 'programmed (DNAT, hairpin SNAT, route) only for OpenStack endpoints, as Felix with FloatingIPs Disabled; Margay does not act on FloatingIPs: Enabled',
      ipv4Gateway: 'the gateway is always the link-local 169.254.1.1 that the host answers',
      ipv6Gateway: 'the gateway is always the host side of the veth (link-local)',
      'ports[].hostPort': 'host ports are mapped by the portmap CNI plugin, not from the endpoint',
      'ports[].hostIP': 'host ports are mapped by the portmap CNI plugin, not from the endpoint',
    },
  },
  IPAMConfiguration: {
    noEffect: { kubeVirtVMAddressPersistence: 'Margay has no KubeVirt integration' },
    notInCalico: { ipCooldownSeconds: 'from Calico after 3.32: how long a released address stays unused' },
  },
  IPPool: {
    notInCalico: {
      ipip: 'APIv1 field: accepted only empty (null), as Calico\'s validator mustBeNil',
      'nat-outgoing': 'APIv1 field: accepted only false, as Calico\'s validator mustBeFalse',
    },
  },
  BGPConfiguration: {
    noEffect: {
      serviceLoadBalancerAggregation: 'Margay advertises each LoadBalancer address as configured',
      localWorkloadPeeringIPV4: 'Margay does not peer with local workloads',
      localWorkloadPeeringIPV6: 'Margay does not peer with local workloads',
    },
  },
  BGPPeer: {
    noEffect: { reachableBy: 'BIRD reaches the peer through the routing table; no static route to it is added' },
    notInCalico: {
      failureDetectionMode: 'Margay extension (BFD), from Calico Enterprise',
      restartMode: 'Margay extension, from Calico Enterprise',
      birdGatewayMode: 'Margay extension, from Calico Enterprise',
    },
  },
  FelixConfiguration: { noEffect: felixNoEffect(), notInCalico: FELIX_NOT_IN_CALICO },
  Node: { noEffect: { wireguard: 'Margay has no WireGuard encryption' } },
  CalicoNodeStatus: {
    noEffect: { classes: NODE_STATUS, updatePeriodSeconds: NODE_STATUS },
  },
  KubeControllersConfiguration: {
    noEffect: {
      healthChecks: 'margay kube-controllers always serves its health endpoint',
      etcdV3CompactionPeriod: 'Margay leaves compaction to etcd',
      'controllers.node.hostEndpoint': 'Margay does not create host endpoints automatically',
      'controllers.loadBalancer': 'Margay has no LoadBalancer IP controller',
      'controllers.policyMigration': 'nothing to migrate: Margay stores policies as Calico 3.32 does',
      debugProfilePort: 'no profiling endpoint',
    },
    notInCalico: { 'controllers.node.hostEndpoint.templates[].annotations': 'from Calico after 3.32' },
  },
};
