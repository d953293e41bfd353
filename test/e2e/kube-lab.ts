/**
 * A 3-host Kubernetes lab for the end-to-end suites (`lab up --kubernetes`): Kubernetes' network
 * policy model (namespaces x, y, z; pods a, b, c serving TCP and UDP on 80 and 81 with named ports)
 * created with kubectl and run by the hosts' real kubelets, and the checks every suite makes:
 * policies made the whole set with kubectl, then probes of every pair beside `policy matrix`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nodeKind } from '../../src/api/kinds/node.ts';
import { ipPoolKind } from '../../src/api/kinds/ip-pool.ts';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import type { Resource } from '../../src/api/resource.ts';
import { checkIpam, type CheckReport } from '../../src/ipam/check.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { workloadFromResource } from '../../src/ipam/ownership.ts';
import { poolFromResource, type PoolInfo } from '../../src/ipam/pools.ts';
import { connectivity, type ConnectivityReport } from '../../src/lab/connectivity.ts';
import { type LabContext, refreshPods, withStore } from '../../src/lab/lab.ts';
import { kubectl, kubectlApply } from '../../src/lab/kubernetes/kubectl.ts';
import { namespaceManifest, podManifest } from '../../src/lab/kubernetes/pods.ts';
import { waitPodRoutes } from '../../src/lab/routes.ts';
import { parseServeList } from '../../src/lab/serve.ts';
import { waitServing } from '../../src/lab/serving.ts';
import { type LabState, readState } from '../../src/lab/state.ts';
import { NAMESPACES, POD_NAMES, PODS, tableDiff, type Truth } from '../agent/k8s-model.ts';
import { eventually } from '../harness/wait.ts';

/** Every model pod serves these (named serve-80-tcp, serve-81-tcp, serve-80-udp, serve-81-udp). */
export const MODEL_SERVE = parseServeList('80/tcp,81/tcp,80/udp,81/udp');

/** A fresh lab context in a temporary folder. */
export function kubeLabContext(prefix: string): LabContext {
  return { dir: mkdtempSync(join(tmpdir(), prefix)), progress: () => undefined };
}

/** The lab's state with its pods read from the API server. */
export async function kubeState(ctx: LabContext): Promise<LabState> {
  return refreshPods(readState(ctx.dir)!);
}

/** The lab's kubeconfig. */
export function kubeconfigOf(ctx: LabContext): string {
  return readState(ctx.dir)!.kubernetes!.kubeconfig;
}

/** Runs kubectl against the lab; returns stdout. */
export async function labKubectl(ctx: LabContext, args: string[]): Promise<string> {
  return (await kubectl(kubeconfigOf(ctx), args)).stdout;
}

/** Waits until every pod of `keys` is Running, serving its ports and routed from every host; returns the state. */
export async function waitPodsUp(ctx: LabContext, keys: string[], timeoutMs = 120_000): Promise<LabState> {
  let state = await kubeState(ctx);
  await eventually(
    async () => {
      state = await kubeState(ctx);
      return keys.every((k) => state.pods.some((p) => `${p.namespace}/${p.name}` === k));
    },
    { what: `pods ${keys.join(', ')} to run`, timeoutMs, intervalMs: 500 },
  );
  const pods = state.pods.filter((p) => keys.includes(`${p.namespace}/${p.name}`));
  for (const pod of pods) await waitServing(pod, 30_000);
  const missing = await waitPodRoutes(state, pods, 30_000);
  assert.deepEqual(missing, [], 'every host routes to every pod');
  return state;
}

/** Creates the model (namespaces x, y, z; pods a, b, c in each, spread over the hosts) with kubectl. */
export async function createModel(ctx: LabContext): Promise<LabState> {
  const hosts = readState(ctx.dir)!.plan.hosts.map((h) => h.name);
  let i = 0;
  const objects = [
    ...NAMESPACES.map((ns) => namespaceManifest(ns)),
    ...NAMESPACES.flatMap((ns) => POD_NAMES.map((name) => podManifest({ namespace: ns, name, host: hosts[i++ % hosts.length], labels: { pod: name }, serve: MODEL_SERVE }))),
  ];
  await kubectlApply(kubeconfigOf(ctx), objects);
  return waitPodsUp(ctx, PODS);
}

function table(report: ConnectivityReport, column: 'expected' | 'observed'): Truth['table'] {
  const out: Truth['table'] = {};
  for (const c of report.cells) ((out[c.port] ??= {})[c.from] ??= {})[c.to] = c[column] as 'allow' | 'deny';
  return out;
}

/** Probes every pair until the dataplane agrees with `truth`, then asserts `policy matrix` and the probes do. */
export async function expectReachability(ctx: LabContext, truth: Truth): Promise<void> {
  const expected = truth.final();
  let report: ConnectivityReport | undefined;
  await eventually(
    async () => {
      report = await connectivity(await kubeState(ctx), MODEL_SERVE, { timeoutMs: 1500 });
      return tableDiff(expected, table(report, 'observed'), 'probed') === '' && tableDiff(expected, table(report, 'expected'), 'matrix') === '';
    },
    { what: 'the probes and the matrix to match the expectation', timeoutMs: 30_000, intervalMs: 300 },
  ).catch(() => undefined);
  assert.equal(tableDiff(expected, table(report!, 'expected'), 'policy matrix says'), '', 'policy matrix agrees with Kubernetes');
  const why = report!.cells.filter((c) => c.observed !== expected[c.port]?.[c.from]?.[c.to]).slice(0, 5).map((c) => `${c.from} -> ${c.to} ${c.port}: ${c.detail ?? ''}`);
  assert.equal(tableDiff(expected, table(report!, 'observed'), 'probed'), '', `the dataplane agrees with Kubernetes (${why.join('; ')})`);
}

/** The NetworkPolicies of the lab as `ns/name`. */
async function networkPolicies(ctx: LabContext): Promise<string[]> {
  const out = await labKubectl(ctx, ['get', 'networkpolicies', '--all-namespaces', '-o', 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}{"\\n"}{end}']);
  return out.split('\n').filter(Boolean);
}

/** Makes `policies` the whole set of NetworkPolicies with kubectl (stale ones deleted, the rest applied). */
export async function setPolicies(ctx: LabContext, policies: object[]): Promise<void> {
  const wanted = new Set(policies.map((p) => {
    const m = (p as { metadata: { namespace: string; name: string } }).metadata;
    return `${m.namespace}/${m.name}`;
  }));
  for (const key of await networkPolicies(ctx)) {
    if (wanted.has(key)) continue;
    const [ns, name] = key.split('/');
    await labKubectl(ctx, ['delete', 'networkpolicy', '-n', ns!, name!]);
  }
  if (policies.length > 0) await kubectlApply(kubeconfigOf(ctx), policies);
}

/** Gives a pod or namespace exactly `labels` with `kubectl label` (namespaces keep their name label). */
export async function relabel(ctx: LabContext, kind: 'pod' | 'namespace', key: string, labels: Record<string, string>): Promise<void> {
  const [ns, name] = kind === 'pod' ? key.split('/') : [undefined, key];
  const where = ns ? ['-n', ns] : [];
  const current = JSON.parse(await labKubectl(ctx, ['get', kind, ...where, name!, '-o', 'json'])) as { metadata: { labels?: Record<string, string> } };
  const keep: Record<string, string> = kind === 'namespace' ? { 'kubernetes.io/metadata.name': key } : {};
  const target: Record<string, string> = { ...keep, ...labels };
  const removed = Object.keys(current.metadata.labels ?? {}).filter((k) => !(k in target)).map((k) => `${k}-`);
  await labKubectl(ctx, ['label', kind, ...where, name!, '--overwrite', ...Object.entries(target).map(([k, v]) => `${k}=${v}`), ...removed]);
}

/** The datastore's view: every WorkloadEndpoint, every Margay Node, and the IPAM check over them. */
export interface Audit {
  endpoints: Resource[];
  nodes: string[];
  ipam: CheckReport;
}

/** Reads WorkloadEndpoints, Nodes and IPAM from the lab's etcd and runs `ipam check` over them. */
export async function audit(ctx: LabContext): Promise<Audit> {
  return withStore(readState(ctx.dir)!, async (store) => {
    const snapshot = await new Ipam(store.datastore).snapshot();
    const [pools, nodes, weps] = await Promise.all([store.list(ipPoolKind), store.list(nodeKind), store.list(workloadEndpointKind)]);
    const ipam = checkIpam({
      snapshot,
      pools: pools.items.map(poolFromResource).filter((p): p is PoolInfo => p !== undefined),
      nodes: new Set(nodes.items.map((n) => n.metadata.name)),
      workloads: weps.items.map(workloadFromResource),
    });
    return { endpoints: weps.items, nodes: nodes.items.map((n) => n.metadata.name), ipam };
  });
}

/** Asserts IPAM is consistent and holds exactly one address per WorkloadEndpoint: nothing leaked. */
export function assertNoLeak(a: Audit, what: string): void {
  assert.deepEqual(a.ipam.problems, [], `${what}: ipam check finds no problem`);
  assert.equal(a.ipam.assumedValid, 0, `${what}: every allocation names its workload`);
  assert.equal(a.ipam.inUse, a.endpoints.length, `${what}: one address in use per endpoint (${a.ipam.inUse} in use, ${a.endpoints.length} endpoints)`);
}

/** The endpoint of pod `ns/name`, if any. */
export function endpointOf(a: Audit, key: string): Resource | undefined {
  const [ns, pod] = key.split('/');
  return a.endpoints.find((e) => e.metadata.namespace === ns && (e.spec as { pod?: string }).pod === pod);
}
