/**
 * A small synthetic cluster for the code cache's warm-up (warm-up.ts): what a host's agent reads
 * at a cold start, in a few dozen resources that between them use every kind of rule the
 * dataplane renders (selectors, namespace selectors, ports, port ranges and named ports, nets
 * and their negation, ICMP, tiers with a pass, profiles, network sets, a host endpoint and a
 * pre-DNAT policy, an IP pool), so that the warm-up runs the code of each. The values are those
 * `margay apply` would store (the unit test validates them).
 */
import { findKind } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { resourceKey } from '../datastore/mod.ts';

/** The host the warm-up's agent runs on. */
export const WARM_UP_HOST = 'warm-up-host';
const NAMESPACES = 4;
/** App groups: each local endpoint's set of policies differs from its neighbour's (one policy list each). */
const APPS = 12;

const v3 = 'projectcalico.org/v3';

function workloadEndpoint(i: number, node: string): Resource {
  const ns = `ns-${i % NAMESPACES}`;
  const pod = `pod${i}`;
  return {
    apiVersion: v3,
    kind: 'WorkloadEndpoint',
    metadata: {
      name: `${node.replaceAll('-', '--')}-k8s-${pod}-eth0`,
      namespace: ns,
      labels: { app: `app-${i % APPS}`, tier: i % 2 ? 'web' : 'api', 'projectcalico.org/namespace': ns, 'projectcalico.org/orchestrator': 'k8s' },
    },
    spec: {
      orchestrator: 'k8s',
      node,
      pod,
      endpoint: 'eth0',
      interfaceName: `cali${(node === WARM_UP_HOST ? i : i + 0x100).toString(16).padStart(11, '0')}`,
      ipNetworks: [`10.${node === WARM_UP_HOST ? 60 : 61}.0.${i + 1}/32`, `fd00:60::${(i + 1).toString(16)}/128`],
      profiles: [`kns.${ns}`],
      ports: [
        { name: 'http', port: 8080, protocol: 'TCP' },
        { name: 'dns', port: 5353, protocol: 'UDP' },
      ],
    },
  };
}

/** NetworkPolicy `i` of the `platform` or `default` tier: selectors, ports, nets, named ports. */
function networkPolicy(i: number): Resource {
  const ns = `ns-${i % NAMESPACES}`;
  const tier = i % 3 === 0 ? 'platform' : 'default';
  return {
    apiVersion: v3,
    kind: 'NetworkPolicy',
    metadata: { name: `${tier}.policy-${i}`, namespace: ns },
    spec: {
      tier,
      order: i,
      selector: `app == 'app-${i % APPS}' && tier in {'web', 'api'}`,
      types: ['Ingress', 'Egress'],
      ingress: [
        { action: 'Allow', protocol: 'TCP', source: { selector: `app == 'app-${(i + 1) % APPS}'`, nets: [`10.${i % 250}.0.0/16`] }, destination: { ports: [80, 443, '8000:8100', 'http'] } },
        { action: 'Deny', protocol: 'UDP', source: { notNets: ['192.168.0.0/16'], namespaceSelector: `projectcalico.org/name == 'ns-${(i + 1) % NAMESPACES}'` }, destination: { notPorts: ['dns'] } },
        { action: 'Allow', protocol: 'ICMP', icmp: { type: 8 } },
        ...(tier === 'platform' ? [{ action: 'Pass' }] : []),
      ],
      egress: [
        { action: 'Allow', protocol: 'UDP', destination: { ports: [53] } },
        { action: 'Allow', protocol: 'TCP', destination: { selector: `app == 'app-${(i + 2) % APPS}'`, ports: ['http'] } },
        { action: 'Allow', destination: { selector: "role == 'external'" } },
        { action: 'Allow', protocol: 'TCP', destination: { nets: ['fd00:61::/64'] }, ipVersion: 6 },
      ],
    },
  };
}

/** The resources, in no particular order. */
export function warmUpResources(): Resource[] {
  const profiles = Array.from({ length: NAMESPACES }, (_, n): Resource => ({
    apiVersion: v3,
    kind: 'Profile',
    metadata: { name: `kns.ns-${n}` },
    spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply: { 'pcns.projectcalico.org/name': `ns-${n}` } },
  }));
  return [
    { apiVersion: v3, kind: 'Tier', metadata: { name: 'platform' }, spec: { order: 100 } },
    { apiVersion: v3, kind: 'Tier', metadata: { name: 'default' }, spec: { order: 1_000_000 } },
    { apiVersion: v3, kind: 'IPPool', metadata: { name: 'pool-v4' }, spec: { cidr: '10.60.0.0/15', ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: true, blockSize: 26, nodeSelector: 'all()' } },
    ...profiles,
    ...Array.from({ length: 2 * APPS }, (_, i) => workloadEndpoint(i, WARM_UP_HOST)),
    ...Array.from({ length: APPS }, (_, i) => workloadEndpoint(i, 'other-host')),
    ...Array.from({ length: 4 * APPS }, (_, i) => networkPolicy(i)),
    {
      apiVersion: v3,
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'platform.host-ingress' },
      spec: {
        tier: 'platform',
        order: 10,
        selector: "role == 'host'",
        types: ['Ingress'],
        preDNAT: true,
        applyOnForward: true,
        ingress: [{ action: 'Deny', protocol: 'TCP', source: { selector: "role == 'external'" }, destination: { ports: [22, '30000:32767'] } }],
      },
    },
    { apiVersion: v3, kind: 'GlobalNetworkSet', metadata: { name: 'external', labels: { role: 'external' } }, spec: { nets: ['198.51.100.0/24', '2001:db8::/32'] } },
    { apiVersion: v3, kind: 'NetworkSet', metadata: { name: 'partners', namespace: 'ns-0', labels: { app: 'app-1' } }, spec: { nets: ['203.0.113.0/24'] } },
    {
      apiVersion: v3,
      kind: 'HostEndpoint',
      metadata: { name: `${WARM_UP_HOST}-eth0`, labels: { role: 'host' } },
      spec: { node: WARM_UP_HOST, interfaceName: 'eth0', expectedIPs: ['198.18.0.10'], profiles: ['kns.ns-0'], ports: [{ name: 'ssh', port: 22, protocol: 'TCP' }] },
    },
  ];
}

/** The datastore key of `r` (where `margay apply` stores it). */
export function warmUpKey(r: Resource): string {
  const kind = findKind(r.kind);
  if (!kind) throw new Error(`warm-up resource of unknown kind ${r.kind}`);
  return resourceKey(kind.plural, r.metadata.name, r.metadata.namespace);
}
