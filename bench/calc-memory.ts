/**
 * The calculation graph's memory per remote endpoint, in-process (no etcd, no kernel, no root):
 * the graph of bench/agent-memory.ts (one local endpoint, 20 policies whose rules pull remote
 * endpoints into IP sets), then BENCH_REMOTE remote endpoints (default 50,000) fed as the syncer
 * would; V8 heap used before and after (after full GCs), bytes per endpoint, and the classes of a
 * heap snapshot. With BENCH_DATAPLANE=1 the graph's updates also go through the dataplane's
 * managers and nftables driver (its desired table and its view of the kernel), over a runner that
 * only answers (nothing is written anywhere), so the figure is the agent's heap per endpoint
 * without the syncer. BENCH_UNIQUE_LABELS=1 gives every endpoint a label of its own (a
 * StatefulSet's `pod-name`), so that no two share a label set.
 * Run: node --expose-gc --import tsx bench/calc-memory.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeHeapSnapshot } from 'node:v8';
import type { Resource } from '../src/api/resource.ts';
import { buildCalcGraph } from '../src/calc/mod.ts';
import { resourceKey } from '../src/datastore/keys.ts';
import { Dataplane } from '../src/dataplane/mod.ts';
import type { CommandRunner } from '../src/os/mod.ts';
import { heapGrowthTable, heapTable, summarizeHeapSnapshot } from './heap-summary.ts';
import { profile, remoteWep } from './fixtures/scale.ts';

const REMOTE = Number(process.env.BENCH_REMOTE ?? 50_000);
const UNIQUE_LABELS = process.env.BENCH_UNIQUE_LABELS === '1';
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

const PLURAL: Record<string, string> = { Profile: 'profiles', WorkloadEndpoint: 'workloadendpoints', GlobalNetworkPolicy: 'globalnetworkpolicies', Tier: 'tiers' };
const graph = buildCalcGraph({ hostname: 'host1' });
/** Answers every command as an empty host would: no table yet, no routes, every write accepted. */
const emptyHost: CommandRunner = async (cmd, args) =>
  cmd === 'nft' && args.includes('list') ? { code: 1, stdout: '', stderr: 'Error: No such file or directory' } : { code: 0, stdout: args.includes('-j') ? '[]' : '', stderr: '' };
const dataplane = process.env.BENCH_DATAPLANE === '1' ? new Dataplane({ runner: emptyHost }) : undefined;
/** The graph's pending updates, into the dataplane when there is one. */
const flush = async (): Promise<void> => {
  const updates = graph.flush();
  if (dataplane) {
    const result = await dataplane.apply(updates);
    if (result.nft.error) throw result.nft.error;
  }
};
/** Feeds a resource as the syncer does: a fresh parsed copy of its JSON. */
const put = (r: Resource): void => graph.onUpdate(resourceKey(PLURAL[r.kind]!, r.metadata.name, r.metadata.namespace), JSON.parse(JSON.stringify(r)));
const heapUsed = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

for (let n = 0; n < 20; n++) put(profile(`ns-${n}`));
put({
  apiVersion: 'projectcalico.org/v3',
  kind: 'WorkloadEndpoint',
  metadata: { name: 'host1-k8s-local-eth0', namespace: 'ns-0', labels: { app: 'local', 'projectcalico.org/namespace': 'ns-0', 'projectcalico.org/orchestrator': 'k8s' } },
  spec: { orchestrator: 'k8s', node: 'host1', pod: 'local', endpoint: 'eth0', interfaceName: 'calimemlocal', ipNetworks: ['10.79.0.1/32'], profiles: ['kns.ns-0'] },
});
for (let i = 0; i < 20; i++) {
  put({
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: `mem-${i}` },
    spec: { order: i, selector: "app == 'local'", types: ['Ingress'], ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: i === 19 ? 'has(app)' : `app == 'app-${i}'` }, destination: { ports: [80 + i] } }] },
  });
}
graph.onInSync();
await flush();
const dir = mkdtempSync(join(tmpdir(), 'margay-calc-memory-'));
const snapshot = (name: string) => summarizeHeapSnapshot(writeHeapSnapshot(join(dir, `${name}.heapsnapshot`)), 0);
const before = heapUsed();
const classesBefore = snapshot('before');
for (let i = 0; i < REMOTE; i++) {
  const wep = remoteWep(i);
  if (UNIQUE_LABELS) wep.metadata.labels!['statefulset.kubernetes.io/pod-name'] = `pod${i}`;
  put(wep);
  if (i % 1000 === 999) await flush(); // the agent flushes as batches arrive
}
await flush();
const after = heapUsed();
try {
  const classesAfter = snapshot('after');
  console.log(`${REMOTE} remote endpoints${UNIQUE_LABELS ? ' (each with a label of its own)' : ''} into the calculation graph${dataplane ? ' and the dataplane' : ''}: V8 heap used ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB, **${Math.round((after - before) / REMOTE)} bytes per remote endpoint**`);
  console.log(heapTable({ total: classesAfter.total, classes: classesAfter.classes.slice(0, 15) }));
  console.log('');
  console.log(heapGrowthTable(classesBefore, classesAfter, { unit: REMOTE, unitName: 'remote endpoint', top: 15 }));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
