/**
 * What the fuzz suite feeds Margay: hostile values (control characters, escape sequences, huge
 * and deep values, YAML's special words), valid manifests and CNI configurations to start from,
 * and the mutations that turn them into almost-valid input — the inputs that reach furthest.
 * Every run is deterministic: fast-check with a fixed seed and a fixed number of cases.
 */
import fc from 'fast-check';
import { stringify } from 'yaml';

/** The seed and the number of cases of every property: bounded in count, never in time. */
export function runs(numRuns: number, seed = 0x6d617267): fc.Parameters<unknown> {
  return { seed, numRuns, endOnFailure: true };
}

/** Strings a user should never be able to break a message or a terminal with. */
const NASTY = [
  '', ' ', '\n', '\r\n', '\t', '\u0000', '\u001b[31m', '\u001b]0;pwned\u0007', '\u009b2J', '\u007f', '\u2028', '\u202e', '\ufeff',
  '\ud800', '😀', 'ﬀ', '"', "'", '\\', '`', '${x}', '%s', '{{x}}', '<<: *a', '*a', '&a', '!!binary', '---', '...', '#',
  'null', '~', 'yes', 'NO', '0x1f', '0o17', '.inf', '-.nan', '1e400', '-0', '9007199254740993', 'true', 'default', 'kube-system',
  '../../etc/passwd', '/dev/zero', 'a'.repeat(300), 'x'.repeat(70_000),
];

/** A hostile string: a nasty one, random Unicode, or a mix around a plausible value. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...NASTY),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme-ascii', maxLength: 40 }),
  fc.tuple(fc.constantFrom(...NASTY), fc.constantFrom('app', 'web', '10.0.0.0/8', 'default', '30s', 'eth0'), fc.constantFrom(...NASTY)).map((p) => p.join('')),
);

/** A JSON value nested `depth` levels. */
function nested(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { a: v };
  return v;
}

/** A hostile JSON value: odd numbers, wrong types, deep or wide structures, hostile strings. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  fc.constantFrom(0, -1, 1.5, 65536, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, Number.MIN_VALUE, true, false, null, [], {}),
  fc.integer(),
  fc.integer({ min: 1, max: 200 }).map((d) => nested(d, 'x')),
  fc.constantFrom('597h', '9999999h', '-5s', '1e9s', '0.0000001ns', '1h1h', '30', '').map((s) => s),
  fc.array(hostileString, { maxLength: 5 }),
  fc.dictionary(hostileString, hostileString, { maxKeys: 4 }),
);

const META = (name: string, namespace?: string) => ({ name, ...(namespace ? { namespace } : {}), labels: { app: 'web' }, annotations: { note: 'ok' } });
const V3 = 'projectcalico.org/v3';
const RULE = { action: 'Allow', protocol: 'TCP', source: { selector: "app == 'web'", nets: ['10.0.0.0/8'] }, destination: { ports: [80, '8000:8080'] } };

/** Valid manifests of many kinds: what mutations start from. */
export const MANIFESTS: readonly Record<string, unknown>[] = [
  { apiVersion: V3, kind: 'IPPool', metadata: META('pool-a'), spec: { cidr: '10.20.0.0/16', blockSize: 26, natOutgoing: true, ipipMode: 'Never', vxlanMode: 'CrossSubnet', nodeSelector: 'all()' } },
  { apiVersion: V3, kind: 'GlobalNetworkPolicy', metadata: META('gnp-a'), spec: { order: 10, selector: "app == 'web'", types: ['Ingress', 'Egress'], ingress: [RULE], egress: [{ action: 'Deny', destination: { notNets: ['10.0.0.0/8'] } }] } },
  { apiVersion: V3, kind: 'NetworkPolicy', metadata: META('np-a', 'shop'), spec: { selector: 'has(app)', ingress: [RULE], types: ['Ingress'] } },
  { apiVersion: V3, kind: 'Tier', metadata: META('security'), spec: { order: 100, defaultAction: 'Pass' } },
  { apiVersion: V3, kind: 'GlobalNetworkSet', metadata: META('set-a'), spec: { nets: ['192.0.2.0/24', '2001:db8::/32'] } },
  { apiVersion: V3, kind: 'NetworkSet', metadata: META('set-b', 'shop'), spec: { nets: ['198.51.100.7'] } },
  { apiVersion: V3, kind: 'Profile', metadata: META('team-a'), spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply: { team: 'a' } } },
  { apiVersion: V3, kind: 'HostEndpoint', metadata: META('hep-a'), spec: { node: 'n1', interfaceName: 'eth0', expectedIPs: ['192.0.2.10'], ports: [{ name: 'ssh', port: 22, protocol: 'TCP' }] } },
  { apiVersion: V3, kind: 'WorkloadEndpoint', metadata: META('n1-k8s-pod1-eth0', 'shop'), spec: { orchestrator: 'k8s', node: 'n1', pod: 'pod1', endpoint: 'eth0', interfaceName: 'cali0123456789a', ipNetworks: ['10.20.0.5/32'], profiles: ['kns.shop'] } },
  { apiVersion: V3, kind: 'FelixConfiguration', metadata: META('default'), spec: { routeRefreshInterval: '90s', reportingInterval: '30s', healthPort: 9099, failsafeInboundHostPorts: [{ protocol: 'TCP', port: 22 }], logSeverityScreen: 'Info' } },
  { apiVersion: V3, kind: 'BGPConfiguration', metadata: META('default'), spec: { asNumber: 64512, nodeToNodeMeshEnabled: true, nodeMeshMaxRestartTime: '120s', listenPort: 179 } },
  { apiVersion: V3, kind: 'BGPPeer', metadata: META('peer-a'), spec: { peerIP: '192.0.2.1', asNumber: 64513, keepaliveTime: '30s', maxRestartTime: '2m' } },
  { apiVersion: V3, kind: 'KubeControllersConfiguration', metadata: META('default'), spec: { controllers: { node: { leakGracePeriod: '15m', reconcilerPeriod: '5m' } } } },
  { apiVersion: V3, kind: 'IPReservation', metadata: META('res-a'), spec: { reservedCIDRs: ['10.20.1.0/28'] } },
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'knp', namespace: 'shop' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 80 }] }] } },
  { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { env: 'prod' } } },
];

/** Every path (keys and indices) of a JSON value, the root included. */
function paths(value: unknown, base: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(base);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...base, i], out));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...base, k], out);
  return out;
}

/** One structural change: set a path (or a new key under it) to a value, or delete it. */
interface Mutation {
  at: number;
  kind: 'set' | 'add' | 'delete';
  key: string;
  value: unknown;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(),
  kind: fc.constantFrom('set', 'set', 'add', 'delete'),
  key: fc.oneof(fc.constantFrom('name', 'spec', 'selector', 'cidr', 'order', 'nets', 'ports', 'annotations', 'resourceVersion', 'status'), hostileString),
  value: hostileValue,
});

function applyMutation(root: unknown, m: Mutation): unknown {
  const all = paths(root);
  const path = all[m.at % all.length]!;
  const value = structuredClone(m.value); // the arbitraries share constants between cases
  if (path.length === 0) return m.kind === 'set' ? value : root;
  let parent = root as Record<string | number, unknown>;
  for (const p of path.slice(0, -1)) parent = parent[p] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (m.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else if (m.kind === 'add' && parent[last] && typeof parent[last] === 'object' && !Array.isArray(parent[last])) {
    (parent[last] as Record<string, unknown>)[m.key] = value;
  } else {
    parent[last] = value;
  }
  return root;
}

/** A valid document with 0 to 4 structural mutations. */
export const mutatedDocument: fc.Arbitrary<unknown> = fc
  .tuple(fc.constantFrom(...MANIFESTS), fc.oneof(fc.constant([]), fc.array(mutation, { minLength: 1, maxLength: 3 })))
  .map(([doc, ms]) => ms.reduce((d, m) => applyMutation(d, m), structuredClone(doc) as unknown));

/** One change to a text: insert a fragment, delete a span, cut it, or flip a character. */
const textMutation = fc.record({ at: fc.nat(), kind: fc.constantFrom('insert', 'delete', 'cut', 'flip'), fragment: fc.oneof(hostileString, fc.constantFrom(':', '- ', '{', '[', '"', '&a', '*a', '---\n', '\n  ', '!!str')) });

/** Several documents as YAML or JSON text, sometimes with text-level damage. */
export const manifestText: fc.Arbitrary<string> = fc
  .tuple(
    fc.array(mutatedDocument, { minLength: 1, maxLength: 4 }),
    fc.constantFrom('yaml', 'json', 'json-list'),
    fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, fc.array(textMutation, { minLength: 1, maxLength: 2 })),
  )
  .map(([docs, form, damage]) => {
    let text = form === 'yaml' ? docs.map((d) => stringify(d)).join('---\n') : form === 'json' ? docs.map((d) => JSON.stringify(d)).join('\n---\n') : JSON.stringify({ kind: 'List', items: docs });
    for (const d of damage) {
      const at = d.at % (text.length + 1);
      if (d.kind === 'insert') text = text.slice(0, at) + d.fragment + text.slice(at);
      else if (d.kind === 'delete') text = text.slice(0, at) + text.slice(at + 1 + (d.fragment.length % 8));
      else if (d.kind === 'cut') text = text.slice(0, at);
      else text = text.slice(0, at) + String.fromCharCode((text.charCodeAt(at) || 32) ^ 0x20) + text.slice(at + 1);
    }
    return text;
  });

/** A valid CNI network configuration with mutations, as text (sometimes damaged). */
export const cniConfigText: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom(
      { cniVersion: '1.0.0', name: 'mnet', type: 'margay', ipam: { type: 'margay-ipam' } },
      { cniVersion: '0.4.0', name: 'mnet', type: 'margay', mtu: 1400, ipam: { type: 'calico-ipam', assign_ipv4: 'true' }, args: { cni: { labels: [{ key: 'app', value: 'web' }] } } },
      { cniVersion: '1.1.0', name: 'mnet', type: 'margay', ipam: { type: 'margay-ipam' }, runtimeConfig: { ips: ['10.244.0.9/32'], mac: 'aa:bb:cc:dd:ee:ff' } },
      { cniVersion: '0.3.1', name: 'mnet', type: 'margay', ipam: { type: 'margay-ipam' }, 'cni.dev/valid-attachments': [{ containerID: 'c1', ifname: 'eth0' }] },
    ),
    fc.array(mutation, { maxLength: 3 }),
    fc.array(textMutation, { maxLength: 1 }),
    fc.constantFrom('{"cniVersion":"9\\u0030","name":"n"}', '{"cniVersion":"1.0.0\\u0001","name":"n"}', '{"cniVersion":1}', '', 'null', '[]', undefined),
  )
  .map(([conf, ms, damage, special]) => {
    if (special !== undefined) return special;
    let text = JSON.stringify(ms.reduce((d, m) => applyMutation(d, m), structuredClone(conf) as unknown));
    for (const d of damage) {
      const at = d.at % (text.length + 1);
      text = d.kind === 'cut' ? text.slice(0, at) : text.slice(0, at) + d.fragment + text.slice(at);
    }
    return text;
  });

/** The CNI_PATH of valid environments: a folder the CNI fuzz test creates empty. */
export const EMPTY_CNI_PATH = '/tmp/margay-fuzz-cni-path-empty';

/** A CNI environment: mostly valid variables, some hostile; `valid` says whether every variable is. */
export const cniEnvironment: fc.Arbitrary<{ env: Record<string, string | undefined>; valid: boolean }> = fc
  .record({
    CNI_COMMAND: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS') }, fc.constantFrom(undefined, '', 'add', 'FOO'), hostileString),
    CNI_CONTAINERID: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('c1', 'abc-123_x.y') }, fc.constant(undefined), hostileString),
    CNI_NETNS: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('/run/netns/c1', '/proc/1/ns/net') }, fc.constant(undefined), hostileString),
    CNI_IFNAME: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('eth0', 'net1') }, fc.constant(undefined), hostileString),
    CNI_ARGS: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('', 'IgnoreUnknown=1;K8S_POD_NAME=p;K8S_POD_NAMESPACE=shop') }, hostileString),
    // A folder with no plugin in it (the test makes it): no fuzz case runs a real plugin.
    CNI_PATH: fc.oneof({ weight: 4, arbitrary: fc.constant(EMPTY_CNI_PATH) }, hostileString),
    MARGAY_CNI_TIMEOUT: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(undefined, '30') }, hostileString),
  })
  .map((env) => {
    // Environment strings cannot hold NUL bytes.
    const clean = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v?.replace(/\u0000/g, '')])) as Record<string, string | undefined>;
    const ok = (k: string, allowed: (string | undefined)[]) => allowed.includes(clean[k]);
    const valid =
      ok('CNI_COMMAND', ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS']) &&
      ok('CNI_CONTAINERID', ['c1', 'abc-123_x.y']) &&
      ok('CNI_NETNS', ['/run/netns/c1', '/proc/1/ns/net']) &&
      ok('CNI_IFNAME', ['eth0', 'net1']) &&
      ok('CNI_ARGS', ['', 'IgnoreUnknown=1;K8S_POD_NAME=p;K8S_POD_NAMESPACE=shop']) &&
      ok('CNI_PATH', [EMPTY_CNI_PATH]) &&
      ok('MARGAY_CNI_TIMEOUT', [undefined, '30']);
    return { env: clean, valid };
  });
