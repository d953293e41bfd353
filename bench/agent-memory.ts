/**
 * Agent memory with 50,000 remote workload endpoints in the datastore (500 other hosts), one
 * local endpoint and 20 policies whose selectors pull the remote endpoints into IP sets: resident
 * memory and V8 heap once in sync, against the same agent before the remote endpoints were
 * written (same run). Prints figures, ratios, the cost per remote endpoint, the load average and
 * the classes of a heap snapshot taken at the end (after a full GC: the retained objects, where
 * "V8 heap used" also counts garbage not yet collected); asserts nothing.
 * The agent runs as installed (`bin/margay.js`, the compiled CLI) when `dist/` is built, else
 * from the sources through tsx (which alone costs ~35 MiB); BENCH_NODE_OPTIONS adds Node options
 * (e.g. `--max-semi-space-size=4`). Run: npx tsx bench/agent-memory.ts  (root)
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '../src/api/resource.ts';
import { validateResource } from '../src/api/validate.ts';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { resourceKey } from '../src/datastore/keys.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { createHost, REPO_ROOT, startAgent } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { run } from '../test/harness/netns.ts';
import { eventually } from '../test/harness/wait.ts';
import { heapTable, summarizeHeapSnapshot } from './heap-summary.ts';
import { REMOTE_HOSTS as HOSTS, remoteWep } from './fixtures/scale.ts';

const REMOTE = Number(process.env.BENCH_REMOTE ?? 50_000);
const BUILT = process.env.BENCH_BUILT !== undefined ? process.env.BENCH_BUILT === '1' : existsSync(join(REPO_ROOT, 'dist/src/cli/run.js'));
const NODE_OPTIONS = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
const snapshots = mkdtempSync(join(tmpdir(), 'margay-bench-heap-'));
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Has the agent write a heap snapshot (SIGUSR2) and summarizes its classes. */
async function heapClasses(agent: Awaited<ReturnType<typeof startAgent>>): Promise<string> {
  const before = new Set(readdirSync(snapshots));
  process.kill(agent.pid!, 'SIGUSR2');
  let file: string | undefined;
  await eventually(
    () => {
      file = readdirSync(snapshots).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
      return file !== undefined;
    },
    { timeoutMs: 300_000, intervalMs: 500, what: 'heap snapshot written' },
  );
  // The file is complete once its size stops changing.
  let size = -1;
  await eventually(
    () => {
      const now = statSync(join(snapshots, file!)).size;
      const done = now === size && now > 0;
      size = now;
      return done;
    },
    { timeoutMs: 300_000, intervalMs: 1000, what: 'heap snapshot complete' },
  );
  return heapTable(summarizeHeapSnapshot(join(snapshots, file!), 12));
}

interface Sample {
  rss: number;
  heap: number;
  heapTotal: number;
  newSpace: number;
  external: number;
  updates: number;
}

async function sample(agent: Awaited<ReturnType<typeof startAgent>>): Promise<Sample> {
  const text = await agent.metrics();
  const num = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rss: num('process_resident_memory_bytes'),
    heap: num('nodejs_heap_size_used_bytes'),
    heapTotal: num('nodejs_heap_size_total_bytes'),
    newSpace: num('nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
    external: num('nodejs_external_memory_bytes'),
    updates: num('margay_datastore_updates_total'),
  };
}

/**
 * The dataplane's transactions (by path), errors and full resyncs: a refused netlink batch or a
 * resync in flight while sampling would show here (and would explain an outlier).
 */
function dataplaneCounters(metrics: string): string {
  const lines = metrics.split('\n').filter((l) => /^margay_dataplane_(transactions_total|errors_total|resync_seconds_count)/.test(l));
  return lines.length > 0 ? lines.join('; ') : 'none';
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

const etcd = await startEtcd({ extraArgs: ['--quota-backend-bytes=4294967296'] });
const host = await createHost();
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
const ds = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
try {
  const store = new ResourceStore(ds);
  await run('ip', ['-n', host.name, 'link', 'add', 'calimemlocal', 'type', 'veth', 'peer', 'name', 'memp']);
  await run('ip', ['-n', host.name, 'link', 'set', 'calimemlocal', 'up']);
  const base: Resource[] = [
    ...Array.from({ length: 20 }, (_, n) => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'Profile',
      metadata: { name: `kns.ns-${n}` },
      spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply: { 'pcns.projectcalico.org/name': `ns-${n}` } },
    })),
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: 'host1-k8s-local-eth0', namespace: 'ns-0', labels: { app: 'local', 'projectcalico.org/namespace': 'ns-0', 'projectcalico.org/orchestrator': 'k8s' } },
      spec: { orchestrator: 'k8s', node: 'host1', pod: 'local', endpoint: 'eth0', interfaceName: 'calimemlocal', ipNetworks: ['10.79.0.1/32'], profiles: ['kns.ns-0'] },
    },
    // Policies on the local endpoint whose rules select remote endpoints: 19 groups of 1,000 and all 50,000.
    ...Array.from({ length: 20 }, (_, i) => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: `mem-${i}` },
      spec: {
        order: i,
        selector: "app == 'local'",
        types: ['Ingress'],
        ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: i === 19 ? 'has(app)' : `app == 'app-${i}'` }, destination: { ports: [80 + i] } }],
      },
    })),
  ].map((r) => validateResource(r));
  await store.batch('apply', base);

  agent = await startAgent({
    etcdEndpoints: etcd.endpoints,
    hostname: 'host1',
    netns: host.name,
    built: BUILT,
    nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapshots}`, ...NODE_OPTIONS],
    env: { MARGAY_LOGSEVERITYSCREEN: 'warning' },
  });
  await agent.waitReady(300_000);
  await new Promise((r) => setTimeout(r, 3000));
  const before = await sample(agent);
  const loadBefore = load();

  // 50,000 remote endpoints, written raw in transactions of 128 (validated once per shape).
  validateResource(remoteWep(0));
  const tw = performance.now();
  for (let i = 0; i < REMOTE; i += 128) {
    const ops = [];
    for (let j = i; j < Math.min(REMOTE, i + 128); j++) {
      const w = remoteWep(j);
      ops.push({ op: 'put' as const, key: resourceKey('workloadendpoints', w.metadata.name, w.metadata.namespace), value: JSON.stringify(w) });
    }
    await ds.txn(ops);
  }
  const writeMs = performance.now() - tw;
  await eventually(async () => (await sample(agent!)).updates >= before.updates + REMOTE, { timeoutMs: 1_800_000, intervalMs: 500, what: 'all updates received' });
  const receivedMs = performance.now() - tw;
  await agent.waitReady(1_800_000);
  await new Promise((r) => setTimeout(r, 5000));
  const after = await sample(agent);
  const loadAfter = load();
  const dataplane = dataplaneCounters(await agent.metrics());
  const problems = agent.logs().split('\n').filter((l) => l.trim() !== '');
  // Only now: writing a heap snapshot costs the process several times its heap in native memory,
  // which stays resident, so a snapshot before the last sample would count it as the endpoints'.
  const heap = await heapClasses(agent);

  console.log(`${REMOTE} remote workload endpoints on ${HOSTS} hosts (written in ${(writeMs / 1000).toFixed(1)} s), 1 local endpoint, 20 policies with IP sets of 1,000 ×19 and ${REMOTE} ×1`);
  console.log('| measure | before (MiB) | with remote endpoints (MiB) | ratio | per remote endpoint |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| resident memory | ${mib(before.rss)} | ${mib(after.rss)} | ${(after.rss / before.rss).toFixed(2)} | ${((after.rss - before.rss) / REMOTE / 1024).toFixed(2)} KiB |`);
  const row = (what: string, key: keyof Sample): void =>
    console.log(`| ${what} | ${mib(before[key])} | ${mib(after[key])} | ${(after[key] / before[key]).toFixed(2)} | ${((after[key] - before[key]) / REMOTE / 1024).toFixed(2)} KiB |`);
  row('V8 heap used', 'heap');
  row('V8 heap committed', 'heapTotal');
  row('&nbsp;&nbsp;of which the young generation', 'newSpace');
  row('external (buffers)', 'external');
  console.log(`first write → all ${REMOTE} updates through the calculation graph: ${(receivedMs / 1000).toFixed(1)} s`);
  console.log(`agent: ${BUILT ? 'compiled CLI (bin/margay.js)' : 'sources through tsx'}${NODE_OPTIONS.length ? ` with ${NODE_OPTIONS.join(' ')}` : ''}; load average ${loadBefore} (idle sample), ${loadAfter} (with remote endpoints)`);
  console.log(`dataplane counters at the last sample: ${dataplane}`);
  console.log(`agent warnings and errors: ${problems.length}${problems.slice(0, 3).map((l) => `\n  ${l.slice(0, 400)}`).join('')}`);
  console.log(`\nWith ${REMOTE} remote endpoints (BENCH_REMOTE=0 for the idle agent's), ${heap}`);
} finally {
  await agent?.destroy();
  await host.delete();
  await ds.close();
  await etcd.destroy();
  // BENCH_KEEP_SNAPSHOT=1 keeps the heap snapshot for a closer look (its path is printed).
  if (process.env.BENCH_KEEP_SNAPSHOT === '1') console.log(`heap snapshot kept in ${snapshots}`);
  else rmSync(snapshots, { recursive: true, force: true });
}
