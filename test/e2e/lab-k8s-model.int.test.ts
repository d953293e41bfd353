/**
 * Kubernetes' NetworkPolicy test model (namespaces x, y, z × pods a, b, c; TCP and UDP on 80 and
 * 81) on the lab: nine pods created through the CNI plugin, spread over three hosts, so most
 * pairs cross hosts over BGP-learned routes. For every case, three answers must be the same: the
 * hand-written Kubernetes expectation, `policy matrix` from the datastore, and probes of every
 * pair over the real dataplane.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeResources } from '../../src/api/decode.ts';
import type { Resource } from '../../src/api/resource.ts';
import { connectivity, type ConnectivityReport } from '../../src/lab/connectivity.ts';
import { labDown, labUp, openStore, podAdd, type LabContext } from '../../src/lab/lab.ts';
import { parseServeList } from '../../src/lab/serve.ts';
import { readState } from '../../src/lab/state.ts';
import { anyPod, inNs, named, NAMESPACES, networkPolicy, not, POD_NAMES, pods, ports, tableDiff, tcp, Truth } from '../agent/k8s-model.ts';
import { eventually } from '../harness/wait.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-k8s-')), progress: () => undefined };
const SERVE = parseServeList('80/tcp,81/tcp,80/udp,81/udp');
const nsLabel = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });
const xa = pods('x/a');

function table(report: ConnectivityReport, column: 'expected' | 'observed'): Truth['table'] {
  const out: Truth['table'] = {};
  for (const c of report.cells) ((out[c.port] ??= {})[c.from] ??= {})[c.to] = c[column] as 'allow' | 'deny';
  return out;
}

let applied: Resource[] = [];

/** Makes `manifests` the whole set of NetworkPolicies, then checks matrix and probes against `truth`. */
async function check(manifests: object[], truth: Truth): Promise<void> {
  const wanted = manifests.length ? decodeResources(manifests.map((m) => JSON.stringify(m)).join('\n---\n'), 'case.yaml').map((d) => d.resource) : [];
  const store = openStore(readState(ctx.dir)!);
  try {
    const stale = applied.filter((r) => !wanted.some((w) => w.metadata.name === r.metadata.name && w.metadata.namespace === r.metadata.namespace));
    if (stale.length) await store.batch('delete', stale);
    if (wanted.length) await store.batch('apply', wanted);
  } finally {
    await store.datastore.close();
  }
  applied = wanted;
  const expected = truth.final();
  // The agents program within moments; probe until the dataplane agrees or the deadline passes.
  let report: ConnectivityReport | undefined;
  await eventually(
    async () => {
      report = await connectivity(readState(ctx.dir)!, SERVE, { timeoutMs: 700 });
      return tableDiff(expected, table(report, 'observed'), 'probed') === '';
    },
    { what: 'the probes to match the expectation', timeoutMs: 30_000, intervalMs: 200 },
  ).catch(() => undefined);
  assert.equal(tableDiff(expected, table(report!, 'expected'), 'policy matrix says'), '', 'policy matrix agrees with Kubernetes');
  assert.equal(tableDiff(expected, table(report!, 'observed'), 'probed'), '', 'the dataplane agrees with Kubernetes');
}

describe('lab - the Kubernetes NetworkPolicy model across three hosts', () => {
  before(async () => {
    await labUp({ hosts: 3, router: false, ipv6: false }, ctx);
    let i = 0;
    for (const ns of NAMESPACES) {
      for (const name of POD_NAMES) {
        await podAdd(ctx, { namespace: ns, name, host: `host-${(i++ % 3) + 1}`, labels: { pod: name }, serve: SERVE });
      }
    }
  });
  after(async () => {
    await labDown(ctx);
  });

  it('no policy: everything is allowed, across hosts', async () => {
    await check([], new Truth());
  });

  it('default deny ingress in x', async () => {
    await check([networkPolicy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })], new Truth().denyIngress(inNs('x')));
  });

  it('default deny egress in x', async () => {
    await check([networkPolicy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] })], new Truth().denyEgress(inNs('x')));
  });

  it('allow into x/a from namespace y only', async () => {
    await check(
      [networkPolicy('x', 'allow-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }] }] })],
      new Truth().denyIngress(xa).set(inNs('y'), xa, true),
    );
  });

  it('pod and namespace selectors in one peer (AND)', async () => {
    await check(
      [
        networkPolicy('x', 'and-peer', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['y', 'z'] }] }, podSelector: { matchLabels: { pod: 'b' } } }] }],
        }),
      ],
      new Truth().denyIngress(xa).set(pods('y/b', 'z/b'), xa, true),
    );
  });

  it('pod and namespace selectors in two peers (OR)', async () => {
    await check(
      [networkPolicy('x', 'or-peers', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }, { podSelector: { matchLabels: { pod: 'b' } } }] }] })],
      new Truth().denyIngress(xa).set(inNs('y'), xa, true).set(pods('x/b'), xa, true),
    );
  });

  it('an empty namespaceSelector with a podSelector: those pods in every namespace', async () => {
    await check(
      [networkPolicy('x', 'all-ns-c', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'c' } } }] }] })],
      new Truth().denyIngress(xa).set(named('c'), xa, true),
    );
  });

  it('port range with endPort', async () => {
    await check(
      [networkPolicy('x', 'range', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 80, endPort: 81 }] }] })],
      new Truth().denyIngress(xa).set(anyPod, xa, true, tcp),
    );
  });

  it('egress to a namespace on one port, from every pod of x', async () => {
    await check(
      [networkPolicy('x', 'egress-to-y-80', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsLabel('y') }], ports: [{ protocol: 'TCP', port: 80 }] }] })],
      new Truth().denyEgress(inNs('x')).set(inNs('x'), inNs('y'), true, ports('80/TCP')),
    );
  });

  it('egress and ingress policies both apply to one connection', async () => {
    await check(
      [
        networkPolicy('y', 'egress-only-to-xa', { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ namespaceSelector: nsLabel('x'), podSelector: { matchLabels: { pod: 'a' } } }] }] }),
        networkPolicy('x', 'ingress-only-from-yb', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsLabel('y'), podSelector: { matchLabels: { pod: 'b' } } }] }] }),
      ],
      new Truth().denyEgress(inNs('y')).set(inNs('y'), xa, true).denyIngress(xa).set(pods('y/b'), xa, true),
    );
  });

  it('matchExpressions: NotIn and Exists', async () => {
    await check(
      [
        networkPolicy('x', 'not-a', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] }, policyTypes: ['Ingress'] }),
        networkPolicy('z', 'exists', {
          podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] },
          ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, namespaceSelector: {} }] }],
        }),
      ],
      new Truth().denyIngress(pods('x/b', 'x/c')).denyIngress(inNs('z')).set(named('a', 'b'), inNs('z'), true),
    );
  });

  it('removing every policy allows everything again', async () => {
    await check([], new Truth());
    assert.ok(not(xa)('x/b'));
  });
});
