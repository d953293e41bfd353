/**
 * A pod label change → enforced on its host, in a real Kubernetes lab (`lab up --kubernetes`:
 * kube-apiserver, kubelets, `margay kube-controllers`, an agent per host), against a floor
 * measured in the same run on the same lab:
 *
 * - the change: a PATCH of the client pod's label `access` (yes ↔ no) through the API server;
 *   enforced = the host's `inet margay` table gains (or loses) the pod's address in the set of
 *   the NetworkPolicy's `access == 'yes'` peer selector (an anchor pod on the other host keeps the
 *   set non-empty), seen by `nft monitor` in the host's
 *   network namespace (the event comes after the kernel committed the transaction). The path:
 *   API server → kube-controllers' watch → the endpoint's labels in etcd → the agent's watch →
 *   calculation → one nft transaction.
 * - the floor: an etcd write → its watch event (the lab's etcd, this process's client), plus one
 *   minimal nft transaction (one set element, through a resident `nft -i` in the same host
 *   namespace, as the agent applies them) → its `nft monitor` event. The sum of the two p50s
 *   (p99s) is what the path cannot go below with one etcd hop; the path has two (API server's
 *   etcd, then Calico's) plus the API server, so the API server's own hop (a PATCH → the event
 *   on a watch of the pod) is measured too and a second ratio includes it.
 *
 * Run alone (`npx tsx bench/kube-lab.ts [changes]`, under `flock /tmp/margay-int.lock`, as root)
 * or from bench/kube.ts. Prints the load averages (/proc/loadavg) with the figures (the lab itself loads the
 * machine).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { watchPrefix } from '../src/datastore/mod.ts';
import { NftMonitor, nftFloor } from './fixtures/nft-monitor.ts';
import { loadAverage } from './fixtures/proc-times.ts';
import { KubeClient, loadKubeconfig } from '../src/kube/mod.ts';
import { kubectlApply } from '../src/lab/kubernetes/kubectl.ts';
import { labDown, labUp, podAdd, withStore, type LabContext } from '../src/lab/lab.ts';
import type { LabState } from '../src/lab/state.ts';

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
const fmt = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `${pct(s, 50).toFixed(1)} / ${pct(s, 99).toFixed(1)} ms`;
};

/** Figures of one run. */
export interface LabLatency {
  labelChange: number[];
  etcd: number[];
  nft: number[];
  /** PATCH → watch event at the API server. */
  api: number[];
}

async function measureFloor(state: LabState, netns: string, monitor: NftMonitor, n: number): Promise<{ etcd: number[]; nft: number[] }> {
  const etcd: number[] = [];
  const nft: number[] = [];
  await withStore(state, async (store) => {
    const seen = new Map<string, number>();
    const prefix = '/margay-bench/floor/';
    const syncer = watchPrefix(store.datastore, prefix, (events) => {
      const now = performance.now();
      for (const e of events) if (e.type === 'update' && !seen.has(e.kv.value)) seen.set(e.kv.value, now);
    });
    await sleep(500);
    for (let i = 0; i < n; i++) {
      const value = `v${i}`;
      const start = performance.now();
      await store.datastore.put(`${prefix}k`, value);
      while (!seen.has(value)) await sleep(1);
      etcd.push(seen.get(value)! - start);
    }
    await syncer.stop();
    await store.datastore.delete(`${prefix}k`).catch(() => undefined);
  });
  nft.push(...(await nftFloor(netns, monitor, n)));
  return { etcd, nft };
}

/**
 * The API server's own hop: a PATCH of a pod's label → the event on a watch of that pod (what
 * kube-controllers waits for before it writes anything), `n` times.
 */
async function measureApiHop(client: KubeClient, namespace: string, pod: string, n: number): Promise<number[]> {
  const seen = new Map<string, number>();
  const stream = await client.watch(`/api/v1/namespaces/${namespace}/pods?watch=1&fieldSelector=metadata.name%3D${pod}`, { timeoutMs: 600_000 });
  const reading = (async () => {
    for await (const ev of stream) {
      const tick = (ev as { object?: { metadata?: { labels?: Record<string, string> } } }).object?.metadata?.labels?.tick;
      if (tick && !seen.has(tick)) seen.set(tick, performance.now());
    }
  })().catch(() => undefined);
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const start = performance.now();
      await client.patch(`/api/v1/namespaces/${namespace}/pods/${pod}`, { metadata: { labels: { tick: `t${i}` } } });
      while (!seen.has(`t${i}`)) await sleep(1);
      out.push(seen.get(`t${i}`)! - start);
    }
  } finally {
    stream.close();
    await reading;
  }
  return out;
}

/** Brings a 2-host Kubernetes lab up, measures (module comment), takes it down. */
export async function measureLabLatency(changes = 60, log: (line: string) => void = console.log): Promise<LabLatency> {
  const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-bench-kube-lab-')), progress: () => undefined };
  let monitor: NftMonitor | undefined;
  let client: KubeClient | undefined;
  try {
    const t0 = performance.now();
    const state = await labUp({ hosts: 2, router: false, ipv6: false, kubernetes: true }, ctx);
    log(`lab up --hosts 2 --kubernetes: ${((performance.now() - t0) / 1000).toFixed(0)} s   (loadavg ${loadAverage()})`);
    await podAdd(ctx, { namespace: 'bench', name: 'server', host: 'host-1', labels: { role: 'server' }, serve: [] });
    const pod = await podAdd(ctx, { namespace: 'bench', name: 'client', host: 'host-1', labels: { role: 'client', access: 'no' }, serve: [] });
    // Keeps the peer set non-empty, so that a change is one element added or removed (an empty set
    // is removed from the table and its rules rewritten: another, larger transaction).
    await podAdd(ctx, { namespace: 'bench', name: 'anchor', host: 'host-2', labels: { role: 'anchor', access: 'yes' }, serve: [] });
    const policy = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'only-access', namespace: 'bench' },
      spec: { podSelector: { matchLabels: { role: 'server' } }, policyTypes: ['Ingress'], ingress: [{ from: [{ podSelector: { matchLabels: { access: 'yes' } } }] }] },
    };
    const host = state.plan.hosts.find((h) => h.name === pod.host)!;
    monitor = new NftMonitor(host.netns);
    const address = pod.addresses[0]!;
    const inSet = (verb: 'add' | 'delete') => (line: string) => line.startsWith(`${verb} element inet margay `) && new RegExp(`[{ ,]${address.replaceAll('.', '\\.')}[ ,}]`).test(line);
    const firstAdd = monitor.next((line) => line.startsWith('add ') && line.includes(address), 120_000);
    await kubectlApply(state.kubernetes!.kubeconfig, [policy]);
    client = new KubeClient(loadKubeconfig(state.kubernetes!.kubeconfig));
    await client.patch(`/api/v1/namespaces/bench/pods/client`, { metadata: { labels: { access: 'yes' } } });
    await firstAdd; // the policy is in place and the path is warm
    await sleep(2000);
    const labelChange: number[] = [];
    for (let i = 0; i < changes; i++) {
      const yes = i % 2 === 1;
      const seen = monitor.next(inSet(yes ? 'add' : 'delete'));
      const start = performance.now();
      await client.patch(`/api/v1/namespaces/bench/pods/client`, { metadata: { labels: { access: yes ? 'yes' : 'no' } } });
      labelChange.push((await seen) - start);
      await sleep(100); // one change at a time, as a person makes them
    }
    const loadLabel = loadAverage();
    const floor = await measureFloor(state, host.netns, monitor, changes);
    const api = await measureApiHop(client, 'bench', 'anchor', changes);
    log(`pod label change → enforced on its host (nft set), ${changes} changes, p50/p99: ${fmt(labelChange)}   (loadavg ${loadLabel})`);
    log(`floor: etcd write → watch event, p50/p99:                         ${fmt(floor.etcd)}`);
    log(`floor: one nft transaction (resident nft -i) → nft monitor, p50/p99: ${fmt(floor.nft)}   (loadavg ${loadAverage()})`);
    log(`the API server's hop: PATCH → watch event, p50/p99:            ${fmt(api)}   (loadavg ${loadAverage()})`);
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const [l, e, n, a] = [sorted(labelChange), sorted(floor.etcd), sorted(floor.nft), sorted(api)];
    const ratio = (p: number, parts: number[][]) => (pct(l, p) / parts.reduce((sum, xs) => sum + pct(xs, p), 0)).toFixed(1);
    log(`ratio to the floor etcd + nft: p50 ${ratio(50, [e, n])}x, p99 ${ratio(99, [e, n])}x; to API hop + etcd + nft: p50 ${ratio(50, [a, e, n])}x, p99 ${ratio(99, [a, e, n])}x`);
    return { labelChange, ...floor, api };
  } finally {
    monitor?.close();
    client?.close();
    await labDown(ctx);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  await measureLabLatency(Number(process.argv[2] ?? 60));
}
