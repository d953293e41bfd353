/**
 * kube-controllers at scale, against a real kube-apiserver v1.20.2 and real etcds (one for
 * Kubernetes, one for Calico), in one run:
 *
 * 1. initial sync of 10,000 pods (with their WorkloadEndpoints in etcd), 1,000 namespaces and
 *    2,000 NetworkPolicies (everything converted and written: 1,000 `kns.` Profiles, 2,000
 *    `knp.default.` policies), against the floor: a raw paged list of the same objects from the
 *    API server with the same client; and a restart when etcd already holds it all;
 * 2. the steady RSS of `margay kube-controllers` (its own process, built CLI) holding all of it;
 * 3. a pod label change → its WorkloadEndpoint's labels in etcd, p50/p99 (PATCH answered → the
 *    etcd watch sees the new labels);
 * 4. a pod label change → enforced on its host (p50/p99), in a real lab (`lab up --kubernetes`,
 *    bench/kube-lab.ts) against a floor measured in the same run: an etcd write → watch event
 *    plus one minimal nft transaction. Needs root and the lab lock: run the whole bench under
 *    `flock /tmp/margay-int.lock`; MARGAY_BENCH_LAB=0 skips it.
 *
 * With MARGAY_BENCH_CLIENT_NODE=<path to @kubernetes/client-node's dist/index.js> (not a
 * dependency), the raw list is also done with that library, for comparison.
 * Each figure is printed with the machine's 1-minute load average beside it.
 * Run: flock /tmp/margay-int.lock npx tsx bench/kube.ts [pods namespaces policies]
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { podToWorkloadEndpoint, type KubernetesPod } from '../src/api/k8s/mod.ts';
import { networkPolicyKind } from '../src/api/kinds/network-policy.ts';
import { profileKind } from '../src/api/kinds/profile.ts';
import { workloadEndpointKind } from '../src/api/kinds/workload-endpoint.ts';
import { EtcdDatastore, ResourceStore, resourceKey, watchPrefix, resourcePrefix } from '../src/datastore/mod.ts';
import { KubeClient, loadKubeconfig, startKubeControllers } from '../src/kube/mod.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { startKube } from '../test/harness/kube.ts';
import { measureLabLatency } from './kube-lab.ts';

const [PODS, NAMESPACES, POLICIES] = process.argv.slice(2).map(Number).concat([10_000, 1_000, 2_000]).slice(0, 3) as [number, number, number];
const LABEL_CHANGES = 100;
const root = join(import.meta.dirname, '..');

const load = (): string => `load ${loadavg()[0]!.toFixed(1)}`;
const ms = (x: number): string => `${x.toFixed(0)} ms`;
const line = (what: string, value: string): void => console.log(`${what.padEnd(62)} ${value.padStart(14)}   (${load()})`);

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

function podManifest(i: number): KubernetesPod & { apiVersion: 'v1'; kind: 'Pod' } {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `pod-${i}`, namespace: `ns-${i % NAMESPACES}`, labels: { app: `app-${i % 50}`, tier: i % 2 ? 'web' : 'api', v: '0' } },
    spec: { nodeName: `node-${i % 20}`, containers: [{ name: 'c', image: 'docker.io/local/busybox:1', ports: [{ name: 'http', containerPort: 80 }] }] },
  };
}

function policyManifest(i: number): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: `np-${i}`, namespace: `ns-${i % NAMESPACES}` },
    spec: {
      podSelector: { matchLabels: { app: `app-${i % 50}` } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: { matchLabels: { tier: 'web' } } }, { namespaceSelector: { matchLabels: { team: `t${i % 7}` } } }], ports: [{ port: 80 }, { port: 'http' }] }],
      egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ protocol: 'UDP', port: 53 }] }],
    },
  };
}

async function rawList(client: KubeClient): Promise<{ ms: number; bytes: number; items: number }> {
  const start = performance.now();
  let bytes = 0;
  let items = 0;
  for (const path of ['/api/v1/namespaces', '/apis/networking.k8s.io/v1/networkpolicies', '/api/v1/pods']) {
    let cont: string | undefined;
    do {
      const page = await client.get<{ metadata: { continue?: string }; items: unknown[] }>(`${path}?limit=500${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`, { timeoutMs: 60_000 });
      items += page.items.length;
      bytes += JSON.stringify(page.items).length;
      cont = page.metadata.continue || undefined;
    } while (cont);
  }
  return { ms: performance.now() - start, bytes, items };
}

async function clientNodeList(entry: string, kubeconfig: string): Promise<number> {
  const k8s = (await import(entry)) as {
    KubeConfig: new () => { loadFromFile(f: string): void; makeApiClient(c: unknown): unknown };
    CoreV1Api: unknown;
    NetworkingV1Api: unknown;
  };
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api) as { listNamespace(o: object): Promise<{ metadata?: { _continue?: string } }>; listPodForAllNamespaces(o: object): Promise<{ metadata?: { _continue?: string } }> };
  const net = kc.makeApiClient(k8s.NetworkingV1Api) as { listNetworkPolicyForAllNamespaces(o: object): Promise<{ metadata?: { _continue?: string } }> };
  const start = performance.now();
  for (const list of [(o: object) => core.listNamespace(o), (o: object) => net.listNetworkPolicyForAllNamespaces(o), (o: object) => core.listPodForAllNamespaces(o)]) {
    let cont: string | undefined;
    do {
      const page = await list({ limit: 500, ...(cont ? { _continue: cont } : {}) });
      cont = page.metadata?._continue || undefined;
    } while (cont);
  }
  return performance.now() - start;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const etcdK = await startEtcd();
const etcdC = await startEtcd();
const kube = await startKube({
  etcdEndpoint: etcdK.endpoint,
  controllerManager: false,
  // No controller manager (no default ServiceAccounts): pods need no service account here.
  apiserverArgs: ['--disable-admission-plugins=ServiceAccount', '--max-requests-inflight=800', '--max-mutating-requests-inflight=400'],
});
const client = new KubeClient(loadKubeconfig(kube.kubeconfig), { timeoutMs: 60_000 });
const ds = new EtcdDatastore({ endpoints: etcdC.endpoints });
const store = new ResourceStore(ds);
let cli: ReturnType<typeof spawn> | undefined;
try {
  console.log(`kube-controllers: ${PODS} pods, ${NAMESPACES} namespaces, ${POLICIES} NetworkPolicies (kube-apiserver v1.20.2, etcd 3.4; 2 vCPU)`);
  const t0 = performance.now();
  await pool(Array.from({ length: NAMESPACES }, (_, i) => i), 16, (i) =>
    client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${i}`, labels: { team: `t${i % 7}` } } } }).then(() => undefined),
  );
  await pool(Array.from({ length: POLICIES }, (_, i) => i), 16, (i) =>
    client.request('POST', `/apis/networking.k8s.io/v1/namespaces/ns-${i % NAMESPACES}/networkpolicies`, { body: policyManifest(i) }).then(() => undefined),
  );
  await pool(Array.from({ length: PODS }, (_, i) => i), 16, (i) => client.request('POST', `/api/v1/namespaces/ns-${i % NAMESPACES}/pods`, { body: podManifest(i) }).then(() => undefined));
  // The pods' endpoints, as the CNI plugin would have written them (raw, in transactions of 128).
  const weps = Array.from({ length: PODS }, (_, i) => {
    const p = podManifest(i);
    const wep = podToWorkloadEndpoint({ ...p, status: { podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` } });
    return { key: resourceKey(workloadEndpointKind.plural, wep.metadata.name, wep.metadata.namespace), value: JSON.stringify(wep) };
  });
  for (let i = 0; i < weps.length; i += 128) await ds.txn(weps.slice(i, i + 128).map((w) => ({ op: 'put' as const, key: w.key, value: w.value })));
  line('populated the API server and etcd', `${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // 1. Initial sync against the raw list.
  await rawList(client); // warm the server's caches
  const raws = [await rawList(client), await rawList(client)];
  const raw = raws.reduce((a, b) => (a.ms < b.ms ? a : b));
  line(`floor: raw paged list of ${raw.items} objects (${(raw.bytes / 2 ** 20).toFixed(0)} MiB of JSON)`, ms(raw.ms));
  const entry = process.env.MARGAY_BENCH_CLIENT_NODE;
  if (entry && existsSync(entry)) {
    const cn = Math.min(await clientNodeList(entry, kube.kubeconfig), await clientNodeList(entry, kube.kubeconfig));
    line('the same list with @kubernetes/client-node', `${ms(cn)} (${(cn / raw.ms).toFixed(2)}x)`);
  }
  let start = performance.now();
  let running = startKubeControllers({ datastore: ds, client, identity: 'bench', configPollMs: 3_600_000 });
  await running.ready();
  const syncMs = performance.now() - start;
  const written = [(await store.list(profileKind)).items.length, (await store.list(networkPolicyKind)).items.length];
  line(`initial sync (writes ${written[0]} Profiles, ${written[1]} policies; checks ${PODS} endpoints)`, `${ms(syncMs)} (${(syncMs / raw.ms).toFixed(2)}x)`);
  await running.stop();
  start = performance.now();
  running = startKubeControllers({ datastore: ds, client, identity: 'bench', configPollMs: 3_600_000 });
  await running.ready();
  const resyncMs = performance.now() - start;
  line('restart with etcd already in step (lists, compares, writes nothing)', `${ms(resyncMs)} (${(resyncMs / raw.ms).toFixed(2)}x)`);

  // 3. Pod label change → endpoint labels in etcd.
  const seen = new Map<string, number>();
  const wepPrefix = resourcePrefix(workloadEndpointKind.plural, 'ns-0');
  const syncer = watchPrefix(ds, wepPrefix, (events) => {
    const now = performance.now();
    for (const e of events) {
      if (e.type !== 'update') continue;
      const v = (JSON.parse(e.kv.value) as { metadata: { labels?: Record<string, string> } }).metadata.labels?.v;
      if (v && !seen.has(v)) seen.set(v, now);
    }
  });
  const latencies: number[] = [];
  for (let i = 1; i <= LABEL_CHANGES; i++) {
    const value = `change-${i}`;
    const sent = performance.now();
    await client.patch(`/api/v1/namespaces/ns-0/pods/pod-${(i * NAMESPACES) % PODS}`, { metadata: { labels: { v: value } } });
    const answered = performance.now();
    while (!seen.has(value)) await new Promise((r) => setTimeout(r, 1));
    latencies.push(seen.get(value)! - answered);
    void sent;
  }
  await syncer.stop();
  latencies.sort((a, b) => a - b);
  line(`pod label change → endpoint labels in etcd, ${LABEL_CHANGES} changes, p50/p99`, `${percentile(latencies, 50).toFixed(1)} / ${percentile(latencies, 99).toFixed(1)} ms`);
  await running.stop();

  // 2. Steady RSS of the real process.
  const built = existsSync(join(root, 'dist/src/cli/run.js'));
  cli = spawn(process.execPath, [...(built ? [join(root, 'bin/margay.js')] : ['--import', 'tsx', join(root, 'src/cli/run.ts')]), 'kube-controllers', '--kubeconfig', kube.kubeconfig, '--identity', 'bench-cli'], {
    env: { ...process.env, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcdC.endpoint },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  cli.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
  start = performance.now();
  while ((log.match(/"msg":"resync"/g) ?? []).length < 4) {
    if (cli.exitCode !== null) throw new Error(`kube-controllers exited:\n${log.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const cliSync = performance.now() - start;
  await new Promise((r) => setTimeout(r, 10_000));
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${cli.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  line(`margay kube-controllers process: start to first resyncs done${built ? '' : ' (tsx)'}`, ms(cliSync));
  line(`margay kube-controllers steady RSS (10 s after sync)`, `${rss.toFixed(0)} MiB (${(rss / (raw.bytes / 2 ** 20)).toFixed(1)}x the JSON)`);
} finally {
  if (cli?.pid && cli.exitCode === null) {
    cli.kill('SIGTERM');
    await new Promise((r) => cli!.once('exit', r));
  }
  client.close();
  await ds.close();
  await kube.destroy();
  await etcdC.destroy();
  await etcdK.destroy();
}

if (process.env.MARGAY_BENCH_LAB !== '0') await measureLabLatency(60);
