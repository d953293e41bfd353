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
import { labDown, labUp, podAdd, type LabContext, withStore } from '../../src/lab/lab.ts';
import { parseServeList } from '../../src/lab/serve.ts';
import { readState } from '../../src/lab/state.ts';
import { NAMESPACES, not, POD_NAMES, pods, tableDiff, Truth } from '../agent/k8s-model.ts';
import { casesFor, modelCases } from '../agent/k8s-model-cases.ts';
import { eventually } from '../harness/wait.ts';

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-lab-k8s-')), progress: () => undefined };
const SERVE = parseServeList('80/tcp,81/tcp,80/udp,81/udp');
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
  const stale = applied.filter((r) => !wanted.some((w) => w.metadata.name === r.metadata.name && w.metadata.namespace === r.metadata.namespace));
  await withStore(readState(ctx.dir)!, async (store) => {
    if (stale.length) await store.batch('delete', stale);
    if (wanted.length) await store.batch('apply', wanted);
  });
  applied = wanted;
  const expected = truth.final();
  // The agents program within moments; probe until the dataplane agrees or the deadline passes.
  let report: ConnectivityReport | undefined;
  await eventually(
    async () => {
      report = await connectivity(readState(ctx.dir)!, SERVE, { timeoutMs: 1500 });
      return tableDiff(expected, table(report, 'observed'), 'probed') === '';
    },
    { what: 'the probes to match the expectation', timeoutMs: 30_000, intervalMs: 200 },
  ).catch(() => undefined);
  assert.equal(tableDiff(expected, table(report!, 'expected'), 'policy matrix says'), '', 'policy matrix agrees with Kubernetes');
  const why = report!.cells.filter((c) => c.observed !== expected[c.port]?.[c.from]?.[c.to]).slice(0, 5).map((c) => `${c.from} -> ${c.to} ${c.port}: ${c.detail ?? ''}`);
  assert.equal(tableDiff(expected, table(report!, 'observed'), 'probed'), '', `the dataplane agrees with Kubernetes (${why.join('; ')})`);
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

  // The lab's own pods have no container ports to name; ipBlocks use the addresses IPAM gave them;
  // policies go in through Margay's conversion, which knows endPort.
  const net = {
    podIp: (key: string) => readState(ctx.dir)!.pods.find((p) => `${p.namespace}/${p.name}` === key)!.addresses[0]!,
    get poolCidr() {
      return readState(ctx.dir)!.plan.ranges.pool4;
    },
  };
  for (const c of casesFor(modelCases(net), ['end-port'])) {
    it(c.name, async () => {
      await check(c.policies(), c.truth());
    });
  }

  it('removing every policy allows everything again', async () => {
    await check([], new Truth());
    assert.ok(not(xa)('x/b'));
  });
});
