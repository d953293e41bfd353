// Kubernetes NetworkPolicy semantics, end to end through the Kubernetes conversion, the graph
// and the evaluator, on the upstream "network policy test model": namespaces x, y, z labelled
// kubernetes.io/metadata.name=<ns>; pods a, b, c labelled pod=<name>, each serving TCP and UDP
// on 80 and 81 with named ports serve-80-tcp, serve-80-udp, serve-81-tcp, serve-81-udp.
//
// Expected truth tables are written by hand from the Kubernetes semantics: rows are the client
// (from), columns the server (to); `.` connects, `X` is blocked. A pod always reaches itself.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { convertKubernetesResource } from '../../src/api/k8s/mod.ts';
import type { Resource } from '../../src/api/resource.ts';
import { type MatrixPort, ModelSnapshot, modelFromResources, policyMatrix } from '../../src/calc/mod.ts';
import { builtinTiers, Harness } from './helpers.ts';

const NAMESPACES = ['x', 'y', 'z'] as const;
const PODS = ['a', 'b', 'c'] as const;
const PORTS: MatrixPort[] = [
  { protocol: 'tcp', port: 80 },
  { protocol: 'tcp', port: 81 },
  { protocol: 'udp', port: 80 },
  { protocol: 'udp', port: 81 },
];
const portName = (p: MatrixPort) => `${p.protocol}/${p.port}`;

const podIp = (ns: string, pod: string) => `10.0.${NAMESPACES.indexOf(ns as 'x') + 1}.${PODS.indexOf(pod as 'a') + 1}`;
const wepKey = (ns: string, pod: string) => `${ns}/node--1-k8s-${pod}-eth0`;
const ENDPOINTS = NAMESPACES.flatMap((ns) => PODS.map((pod) => wepKey(ns, pod)));

function namespace(name: string, extraLabels: Record<string, string> = {}): Resource {
  return convertKubernetesResource({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...extraLabels } } });
}

function pod(ns: string, name: string, labels: Record<string, string> = { pod: name }): Resource {
  const ports = [80, 81].flatMap((port) =>
    (['TCP', 'UDP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, containerPort: port, protocol })),
  );
  return convertKubernetesResource({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: 'node-1', containers: [{ name: 'cont', image: 'agnhost', ports }] },
    status: { podIP: podIp(ns, name) },
  });
}

function netpol(ns: string, name: string, spec: Record<string, unknown>): Resource {
  return convertKubernetesResource({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec });
}

function baseResources(): Resource[] {
  return [...NAMESPACES.map((ns) => namespace(ns)), ...NAMESPACES.flatMap((ns) => PODS.map((p) => pod(ns, p)))];
}

/** Parses a hand-written truth table: a header of 9 columns, then 9 rows `<from> <9 cells>`. */
function table(text: string): string[][] {
  const lines = text.trim().split('\n').map((l) => l.trim().split(/\s+/));
  const header = lines[0]!;
  assert.deepEqual(header, ['xa', 'xb', 'xc', 'ya', 'yb', 'yc', 'za', 'zb', 'zc'], 'table header');
  const rows = lines.slice(1);
  assert.equal(rows.length, 9, 'table rows');
  rows.forEach((r, i) => {
    assert.equal(r[0], header[i], 'row names follow the header');
    assert.equal(r.length, 10, `row ${r[0]} has 9 cells`);
  });
  return rows.map((r) => r.slice(1));
}

const ALL_ALLOWED = `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  .  .  .  .  .  .  .  .  .
  xc  .  .  .  .  .  .  .  .  .
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`;

/** Compares the evaluator's matrix with the expected table per port (`default` for the rest). */
function assertMatrix(model: ModelSnapshot, expected: Partial<Record<string, string>> & { default?: string }): void {
  assert.deepEqual(model.checkReferences(), []);
  const m = policyMatrix(model, ENDPOINTS, PORTS);
  const problems: string[] = [];
  PORTS.forEach((port, p) => {
    const text = expected[portName(port)] ?? expected.default;
    assert.ok(text !== undefined, `no expectation for ${portName(port)}`);
    const want = table(text);
    ENDPOINTS.forEach((from, i) =>
      ENDPOINTS.forEach((to, j) => {
        const got = m.verdicts[p]![i]![j] === 'allow' ? '.' : 'X';
        if (got !== want[i]![j]) problems.push(`${portName(port)} ${from} → ${to}: expected ${want[i]![j]}, got ${got}`);
      }),
    );
  });
  assert.deepEqual(problems, []);
}

function modelWith(...policies: Resource[]): ModelSnapshot {
  return modelFromResources([...baseResources(), ...policies]);
}

describe('kubernetes network policy model', () => {
  it('no policies: everything connects', () => {
    assertMatrix(modelWith(), { default: ALL_ALLOWED });
  });

  it('default deny ingress in x', () => {
    const m = modelWith(netpol('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }));
    assertMatrix(m, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  X  X  .  .  .  .  .  .
  xb  X  .  X  .  .  .  .  .  .
  xc  X  X  .  .  .  .  .  .  .
  ya  X  X  X  .  .  .  .  .  .
  yb  X  X  X  .  .  .  .  .  .
  yc  X  X  X  .  .  .  .  .  .
  za  X  X  X  .  .  .  .  .  .
  zb  X  X  X  .  .  .  .  .  .
  zc  X  X  X  .  .  .  .  .  .`,
    });
  });

  it('allow x/a ingress from namespace y only', () => {
    const m = modelWith(
      netpol('x', 'from-y', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }],
      }),
    );
    assertMatrix(m, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  X  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  X  .  .  .  .  .  .  .  .
  zb  X  .  .  .  .  .  .  .  .
  zc  X  .  .  .  .  .  .  .  .`,
    });
  });

  it('pod and namespace selector in one peer: both must hold', () => {
    const m = modelWith(
      netpol('x', 'and', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['y', 'z'] }] },
                podSelector: { matchLabels: { pod: 'b' } },
              },
            ],
          },
        ],
      }),
    );
    assertMatrix(m, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  X  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  X  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  X  .  .  .  .  .  .  .  .
  za  X  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  X  .  .  .  .  .  .  .  .`,
    });
  });

  it('pod and namespace selectors in separate peers: either suffices', () => {
    const m = modelWith(
      netpol('x', 'or', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    );
    // The bare podSelector peer means pod=b in the policy's own namespace only.
    assertMatrix(m, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  .  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  X  .  .  .  .  .  .  .  .
  zb  X  .  .  .  .  .  .  .  .
  zc  X  .  .  .  .  .  .  .  .`,
    });
  });

  it('an empty podSelector peer is the policy namespace; an empty namespaceSelector is every namespace', () => {
    const sameNs = modelWith(netpol('x', 'same-ns', { podSelector: {}, ingress: [{ from: [{ podSelector: {} }] }] }));
    assertMatrix(sameNs, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  .  .  .  .  .  .  .  .  .
  xc  .  .  .  .  .  .  .  .  .
  ya  X  X  X  .  .  .  .  .  .
  yb  X  X  X  .  .  .  .  .  .
  yc  X  X  X  .  .  .  .  .  .
  za  X  X  X  .  .  .  .  .  .
  zb  X  X  X  .  .  .  .  .  .
  zc  X  X  X  .  .  .  .  .  .`,
    });
    const allNs = modelWith(netpol('x', 'all-ns', { podSelector: {}, ingress: [{ from: [{ namespaceSelector: {} }] }] }));
    assertMatrix(allNs, { default: ALL_ALLOWED });
  });

  it('ipBlock with except', () => {
    // Pods: x = 10.0.1.0/24, y = 10.0.2.0/24, z = 10.0.3.0/24; z/b is 10.0.3.2.
    const m = modelWith(
      netpol('x', 'cidr', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.0.2.0/24', '10.0.3.2/32'] } }] }],
      }),
    );
    assertMatrix(m, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  .  .  .  .  .  .  .  .  .
  xc  .  .  .  .  .  .  .  .  .
  ya  X  .  .  .  .  .  .  .  .
  yb  X  .  .  .  .  .  .  .  .
  yc  X  .  .  .  .  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  X  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`,
    });
  });

  it('default deny egress in x', () => {
    const m = modelWith(netpol('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] }));
    assertMatrix(m, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  X  X  X  X  X  X  X  X
  xb  X  .  X  X  X  X  X  X  X
  xc  X  X  .  X  X  X  X  X  X
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`,
    });
  });

  it('egress from x allowed only to namespace y on TCP 80', () => {
    const m = modelWith(
      netpol('x', 'egress-y-80', {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }], ports: [{ protocol: 'TCP', port: 80 }] }],
      }),
    );
    const blocked = `
     xa xb xc ya yb yc za zb zc
  xa  .  X  X  X  X  X  X  X  X
  xb  X  .  X  X  X  X  X  X  X
  xc  X  X  .  X  X  X  X  X  X
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`;
    assertMatrix(m, {
      'tcp/80': `
     xa xb xc ya yb yc za zb zc
  xa  .  X  X  .  .  .  X  X  X
  xb  X  .  X  .  .  .  X  X  X
  xc  X  X  .  .  .  .  X  X  X
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`,
      default: blocked,
    });
  });

  it('ingress and egress in one policy', () => {
    // x/a: ingress only from x/b; egress only to x/c.
    const m = modelWith(
      netpol('x', 'both', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
        egress: [{ to: [{ podSelector: { matchLabels: { pod: 'c' } } }] }],
      }),
    );
    assertMatrix(m, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  X  .  X  X  X  X  X  X
  xb  .  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  X  .  .  .  .  .  .  .  .
  yb  X  .  .  .  .  .  .  .  .
  yc  X  .  .  .  .  .  .  .  .
  za  X  .  .  .  .  .  .  .  .
  zb  X  .  .  .  .  .  .  .  .
  zc  X  .  .  .  .  .  .  .  .`,
    });
  });

  it('named ports (ingress): only the named port and protocol', () => {
    const m = modelWith(
      netpol('x', 'named', {
        podSelector: {},
        ingress: [{ ports: [{ port: 'serve-80-tcp' }, { protocol: 'UDP', port: 'serve-81-udp' }] }],
      }),
    );
    const denyIntoX = `
     xa xb xc ya yb yc za zb zc
  xa  .  X  X  .  .  .  .  .  .
  xb  X  .  X  .  .  .  .  .  .
  xc  X  X  .  .  .  .  .  .  .
  ya  X  X  X  .  .  .  .  .  .
  yb  X  X  X  .  .  .  .  .  .
  yc  X  X  X  .  .  .  .  .  .
  za  X  X  X  .  .  .  .  .  .
  zb  X  X  X  .  .  .  .  .  .
  zc  X  X  X  .  .  .  .  .  .`;
    assertMatrix(m, { 'tcp/80': ALL_ALLOWED, 'udp/81': ALL_ALLOWED, default: denyIntoX });
  });

  it('named ports (egress): resolved at the destination pod', () => {
    const m = modelWith(
      netpol('x', 'named-egress', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }], ports: [{ port: 'serve-81-tcp' }] }],
      }),
    );
    const onlySelf = `
     xa xb xc ya yb yc za zb zc
  xa  .  X  X  X  X  X  X  X  X
  xb  .  .  .  .  .  .  .  .  .
  xc  .  .  .  .  .  .  .  .  .
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`;
    assertMatrix(m, {
      'tcp/81': `
     xa xb xc ya yb yc za zb zc
  xa  .  .  X  X  .  X  X  .  X
  xb  .  .  .  .  .  .  .  .  .
  xc  .  .  .  .  .  .  .  .  .
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`,
      default: onlySelf,
    });
  });

  it('endPort ranges', () => {
    // Ingress to all of y from namespace z on TCP 81-82 only.
    const m = modelWith(
      netpol('y', 'range', {
        podSelector: {},
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }], ports: [{ protocol: 'TCP', port: 81, endPort: 82 }] }],
      }),
    );
    const denyIntoY = `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  X  X  X  .  .  .
  xb  .  .  .  X  X  X  .  .  .
  xc  .  .  .  X  X  X  .  .  .
  ya  .  .  .  .  X  X  .  .  .
  yb  .  .  .  X  .  X  .  .  .
  yc  .  .  .  X  X  .  .  .  .
  za  .  .  .  X  X  X  .  .  .
  zb  .  .  .  X  X  X  .  .  .
  zc  .  .  .  X  X  X  .  .  .`;
    assertMatrix(m, {
      'tcp/81': `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  X  X  X  .  .  .
  xb  .  .  .  X  X  X  .  .  .
  xc  .  .  .  X  X  X  .  .  .
  ya  .  .  .  .  X  X  .  .  .
  yb  .  .  .  X  .  X  .  .  .
  yc  .  .  .  X  X  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`,
      default: denyIntoY,
    });
  });

  it('several policies on one pod add up', () => {
    const m = modelWith(
      netpol('x', 'from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'y' } } }] }] }),
      netpol('x', 'from-z-80', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }], ports: [{ port: 80, protocol: 'TCP' }] }],
      }),
    );
    const fromY = `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  X  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  X  .  .  .  .  .  .  .  .
  zb  X  .  .  .  .  .  .  .  .
  zc  X  .  .  .  .  .  .  .  .`;
    assertMatrix(m, {
      'tcp/80': `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  X  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  .  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  .  .  .  .  .  .  .  .  .
  zb  .  .  .  .  .  .  .  .  .
  zc  .  .  .  .  .  .  .  .  .`,
      default: fromY,
    });
  });
});

describe('kubernetes network policy model - updates through the graph', () => {
  it('policy, pod label and namespace label changes take effect incrementally', () => {
    const h = new Harness({ mode: 'all' });
    h.put(...builtinTiers(), ...baseResources());
    h.sync();
    assertMatrix(h.model, { default: ALL_ALLOWED });

    // x/a accepts only pods labelled pod=b from namespaces labelled team=blue.
    h.put(
      netpol('x', 'blue-b', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } }, podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    );
    h.flush();
    const nobody = `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  X  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  X  .  .  .  .  .  .  .  .
  yb  X  .  .  .  .  .  .  .  .
  yc  X  .  .  .  .  .  .  .  .
  za  X  .  .  .  .  .  .  .  .
  zb  X  .  .  .  .  .  .  .  .
  zc  X  .  .  .  .  .  .  .  .`;
    assertMatrix(h.model, { default: nobody });

    // Namespace y becomes blue: y/b gets in.
    h.put(namespace('y', { team: 'blue' }));
    h.flush();
    const yb = `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  X  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  X  .  .  .  .  .  .  .  .
  yb  .  .  .  .  .  .  .  .  .
  yc  X  .  .  .  .  .  .  .  .
  za  X  .  .  .  .  .  .  .  .
  zb  X  .  .  .  .  .  .  .  .
  zc  X  .  .  .  .  .  .  .  .`;
    assertMatrix(h.model, { default: yb });

    // y/c relabelled pod=b: it gets in too; y/b relabelled away: it is out.
    h.put(pod('y', 'c', { pod: 'b' }), pod('y', 'b', { pod: 'other' }));
    h.flush();
    assertMatrix(h.model, {
      default: `
     xa xb xc ya yb yc za zb zc
  xa  .  .  .  .  .  .  .  .  .
  xb  X  .  .  .  .  .  .  .  .
  xc  X  .  .  .  .  .  .  .  .
  ya  X  .  .  .  .  .  .  .  .
  yb  X  .  .  .  .  .  .  .  .
  yc  .  .  .  .  .  .  .  .  .
  za  X  .  .  .  .  .  .  .  .
  zb  X  .  .  .  .  .  .  .  .
  zc  X  .  .  .  .  .  .  .  .`,
    });

    // The policy deleted: back to all allowed, and the model holds nothing stale.
    h.del(netpol('x', 'blue-b', { podSelector: {} }));
    h.flush();
    assertMatrix(h.model, { default: ALL_ALLOWED });
    assert.deepEqual([...h.model.policies.keys()].sort(), ['pro/kns.x', 'pro/kns.y', 'pro/kns.z']);
    assert.equal(h.model.ipSets.size, 0);
  });
});
