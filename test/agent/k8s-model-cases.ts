/**
 * The cases of Kubernetes' NetworkPolicy test model, each a set of policies and the reachability
 * Kubernetes defines for it, shared by the single-host suite (test/e2e/policy-k8s-model), the lab
 * suite (test/e2e/lab-k8s-model) and the Kubernetes lab suite (test/e2e/lab-kubernetes-model).
 * Policies are built when a case runs, from the suite's own pod addresses (ipBlock cases); a case
 * marks what it needs beyond the NetworkPolicy v1 of Kubernetes 1.20 and plain pods.
 */
import { anyPod, inNs, named, NAMESPACES, networkPolicy, not, POD_NAMES, pods, ports, tcp, Truth } from './k8s-model.ts';

/** What a case needs: pods with named container ports; `endPort` (an API server of 1.21 or later). */
export type ModelRequirement = 'named-ports' | 'end-port';

/** One case: the whole set of NetworkPolicies and the expected reachability. */
export interface ModelCase {
  name: string;
  policies: () => object[];
  truth: () => Truth;
  requires?: ModelRequirement[];
}

/** Where a suite's pods are: each pod's IPv4 address and the pool they all come from. */
export interface ModelNet {
  podIp: (key: string) => string;
  poolCidr: string;
}

/** The cases a suite can run, given what it has. */
export function casesFor(cases: ModelCase[], has: ModelRequirement[]): ModelCase[] {
  return cases.filter((c) => (c.requires ?? []).every((r) => has.includes(r)));
}

/** A label change a case makes, and the reachability after it. */
export interface LabelStep {
  change: { kind: 'pod' | 'namespace'; key: string; labels: Record<string, string> };
  truth: () => Truth;
}

/** A policy that stays while pod or namespace labels change under it. */
export interface LabelCase {
  name: string;
  policy: object;
  /** The reachability before any change. */
  truth: () => Truth;
  steps: LabelStep[];
}

const xa = pods('x/a');
const nsLabel = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });
const onlyA = { matchLabels: { pod: 'a' } };

const all = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));
const host32 = (net: ModelNet, keys: string[]) => keys.map((k) => `${net.podIp(k)}/32`);

/** The model's cases, in the order the suites run them (each replaces the previous policies). */
export function modelCases(net: ModelNet): ModelCase[] {
  return [
  { name: 'no policy: everything is allowed', policies: () => [], truth: () => new Truth() },
  {
    name: 'default deny ingress in x',
    policies: () => [networkPolicy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })],
    truth: () => new Truth().denyIngress(inNs('x')),
  },
  {
    name: 'default deny egress in x',
    policies: () => [networkPolicy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] })],
    truth: () => new Truth().denyEgress(inNs('x')),
  },
  {
    name: 'default deny both ways in x',
    policies: () => [networkPolicy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
    truth: () => new Truth().denyIngress(inNs('x')).denyEgress(inNs('x')),
  },
  {
    name: 'allow into x/a from namespace y only',
    policies: () => [networkPolicy('x', 'allow-from-y', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }] }] })],
    truth: () => new Truth().denyIngress(xa).set(inNs('y'), xa, true),
  },
  {
    name: 'update: the same policy now allows namespace z',
    policies: () => [networkPolicy('x', 'allow-from-y', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('z') }] }] })],
    truth: () => new Truth().denyIngress(xa).set(inNs('z'), xa, true),
  },
  {
    name: 'pod and namespace selectors in one peer (AND)',
    policies: () => [
      networkPolicy('x', 'and-peer', {
        podSelector: onlyA,
        ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['y', 'z'] }] }, podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    ],
    truth: () => new Truth().denyIngress(xa).set(pods('y/b', 'z/b'), xa, true),
  },
  {
    name: 'pod and namespace selectors in two peers (OR); a bare podSelector means the policy namespace',
    policies: () => [networkPolicy('x', 'or-peers', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }, { podSelector: { matchLabels: { pod: 'b' } } }] }] })],
    truth: () => new Truth().denyIngress(xa).set(inNs('y'), xa, true).set(pods('x/b'), xa, true),
  },
  {
    name: 'an empty namespaceSelector with a podSelector: those pods in every namespace',
    policies: () => [networkPolicy('x', 'all-ns-c', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'c' } } }] }] })],
    truth: () => new Truth().denyIngress(xa).set(named('c'), xa, true),
  },
  {
    name: 'ipBlock with except',
    policies: () => [networkPolicy('x', 'ipblock', { podSelector: onlyA, ingress: [{ from: [{ ipBlock: { cidr: net.poolCidr, except: host32(net, ['y/b', ...all.filter(inNs('z'))]) } }] }] })],
    truth: () => new Truth().denyIngress(xa).set(not(pods('y/b')), xa, true).set(inNs('z'), xa, false),
  },
  {
    name: 'egress to ipBlocks only',
    policies: () => [networkPolicy('x', 'egress-ipblock', { podSelector: onlyA, policyTypes: ['Egress'], egress: [{ to: host32(net, all.filter(inNs('y'))).map((cidr) => ({ ipBlock: { cidr } })) }] })],
    truth: () => new Truth().denyEgress(xa).set(xa, inNs('y'), true),
  },
  {
    name: 'named port in ingress',
    requires: ['named-ports'],
    policies: () => [networkPolicy('x', 'named-81-tcp', { podSelector: onlyA, ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
    truth: () => new Truth().denyIngress(xa).set(anyPod, xa, true, ports('81/TCP')),
  },
  {
    name: 'named UDP port in egress, resolved at every destination',
    requires: ['named-ports'],
    policies: () => [networkPolicy('x', 'egress-named-udp', { podSelector: onlyA, policyTypes: ['Egress'], egress: [{ ports: [{ protocol: 'UDP', port: 'serve-81-udp' }] }] })],
    truth: () => new Truth().denyEgress(xa).set(xa, anyPod, true, ports('81/UDP')),
  },
  {
    name: 'port range with endPort',
    requires: ['end-port'],
    policies: () => [networkPolicy('x', 'range', { podSelector: onlyA, ingress: [{ ports: [{ protocol: 'TCP', port: 80, endPort: 81 }] }] })],
    truth: () => new Truth().denyIngress(xa).set(anyPod, xa, true, tcp),
  },
  {
    name: 'a port without protocol is TCP; a UDP port is UDP only',
    policies: () => [
      networkPolicy('x', 'tcp-81', { podSelector: onlyA, ingress: [{ ports: [{ port: 81 }] }] }),
      networkPolicy('x', 'udp-80-b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 80 }] }] }),
    ],
    truth: () => new Truth().denyIngress(xa).set(anyPod, xa, true, ports('81/TCP')).denyIngress(pods('x/b')).set(anyPod, pods('x/b'), true, ports('80/UDP')),
  },
  {
    name: 'policies are additive',
    policies: () => [
      networkPolicy('x', 'from-y', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }] }] }),
      networkPolicy('x', 'from-z-udp', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('z') }], ports: [{ protocol: 'UDP', port: 81 }] }] }),
    ],
    truth: () => new Truth().denyIngress(xa).set(inNs('y'), xa, true).set(inNs('z'), xa, true, ports('81/UDP')),
  },
  {
    name: 'an allow-all policy overrides a default deny',
    policies: () => [networkPolicy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }), networkPolicy('x', 'allow-all', { podSelector: {}, ingress: [{}] })],
    truth: () => new Truth(),
  },
  {
    name: 'egress to a namespace on one port, from every pod of x',
    policies: () => [networkPolicy('x', 'egress-to-y-80', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsLabel('y') }], ports: [{ protocol: 'TCP', port: 80 }] }] })],
    truth: () => new Truth().denyEgress(inNs('x')).set(inNs('x'), inNs('y'), true, ports('80/TCP')),
  },
  {
    name: 'egress and ingress policies both apply to one connection',
    policies: () => [
      networkPolicy('y', 'egress-only-to-xa', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsLabel('x'), podSelector: onlyA }] }] }),
      networkPolicy('x', 'ingress-only-from-yb', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: nsLabel('y'), podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    ],
    truth: () => new Truth().denyEgress(inNs('y')).set(inNs('y'), xa, true).denyIngress(xa).set(pods('y/b'), xa, true),
  },
  {
    name: 'matchExpressions: NotIn and Exists',
    policies: () => [
      networkPolicy('x', 'not-a', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] }, policyTypes: ['Ingress'] }),
      networkPolicy('z', 'exists', {
        podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] },
        ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, namespaceSelector: {} }] }],
      }),
    ],
    truth: () => new Truth().denyIngress(pods('x/b', 'x/c')).denyIngress(inNs('z')).set(named('a', 'b'), inNs('z'), true),
  },
];
}

/** Label changes under a standing policy: pods and namespaces move in and out of its selectors. */
export const LABEL_CASES: LabelCase[] = [
  {
    name: 'a pod label change moves the pod in and out of a selector',
    policy: networkPolicy('x', 'from-b-anywhere', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }] }),
    truth: () => new Truth().denyIngress(xa).set(named('b'), xa, true),
    steps: [
      { change: { kind: 'pod', key: 'z/c', labels: { pod: 'b' } }, truth: () => new Truth().denyIngress(xa).set(named('b'), xa, true).set(pods('z/c'), xa, true) },
      { change: { kind: 'pod', key: 'z/c', labels: { pod: 'c' } }, truth: () => new Truth().denyIngress(xa).set(named('b'), xa, true) },
    ],
  },
  {
    name: 'a namespace label change moves its pods in and out of a namespaceSelector',
    policy: networkPolicy('x', 'from-team-blue', { podSelector: onlyA, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }] }] }),
    truth: () => new Truth().denyIngress(xa),
    steps: [
      { change: { kind: 'namespace', key: 'y', labels: { team: 'blue' } }, truth: () => new Truth().denyIngress(xa).set(inNs('y'), xa, true) },
      { change: { kind: 'namespace', key: 'y', labels: {} }, truth: () => new Truth().denyIngress(xa) },
    ],
  },
];
