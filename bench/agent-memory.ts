/**
 * Agent memory with 50,000 remote workload endpoints in the datastore (500 other hosts), one
 * local endpoint and 20 policies whose selectors pull the remote endpoints into IP sets: resident
 * memory and V8 heap once in sync, against the same agent before the remote endpoints were
 * written (same run). Prints figures, ratios, the cost per remote endpoint, the load average and
 * the classes of a heap snapshot taken at the end (after a full GC: the retained objects, where
 * "V8 heap used" also counts garbage not yet collected); asserts nothing. Also where the resident
 * memory is: V8's heap spaces (used and committed) and the agent's mappings by kind
 * (/proc/<pid>/smaps: files, V8's pages, glibc's arenas), and the agent's CPU time.
 * BENCH_AGENT_ENV="NAME=value …" adds to the agent's environment (e.g. `MARGAY_MALLOC_ADDON=`
 * to run it without the malloc control addon); BENCH_SMAPS_DIR=<dir> keeps its smaps and metrics.
 * The agent runs as installed (`bin/margay.js`, the compiled CLI) when `dist/` is built, else
 * from the sources through tsx (which alone costs ~35 MiB); the compiled agent gets the Node options of
 * bin/margay.js's `#!` line (as installed); BENCH_NODE_OPTIONS adds Node options
 * (e.g. `--trace-gc`). Run: npx tsx bench/agent-memory.ts  (root)
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '../src/api/resource.ts';
import { validateResource } from '../src/api/validate.ts';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { resourceKey } from '../src/datastore/keys.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { agentNodeOptions } from '../src/lab/entry.ts';
import { createHost, REPO_ROOT, startAgent } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { run } from '../test/harness/netns.ts';
import { eventually } from '../test/harness/wait.ts';
import { heapTable, summarizeHeapSnapshot } from './heap-summary.ts';
import { REMOTE_HOSTS as HOSTS, remoteWep } from './fixtures/scale.ts';
import { loadAverage, processCpuMs } from './fixtures/proc-times.ts';

const REMOTE = Number(process.env.BENCH_REMOTE ?? 50_000);
const BUILT = process.env.BENCH_BUILT !== undefined ? process.env.BENCH_BUILT === '1' : existsSync(join(REPO_ROOT, 'dist/src/cli/run.js'));
const NODE_OPTIONS = (process.env.BENCH_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
/** BENCH_AGENT_ENV="NAME=value …": more environment for the agent (e.g. glibc's malloc settings). */
const AGENT_ENV = Object.fromEntries((process.env.BENCH_AGENT_ENV ?? '').split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const snapshots = mkdtempSync(join(tmpdir(), 'margay-bench-heap-'));

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
  /** Per V8 heap space: bytes used and committed. */
  spaces: Map<string, { used: number; total: number }>;
  /** Resident bytes by kind of mapping (/proc/<pid>/smaps). */
  resident: Map<string, number>;
  /** The agent's CPU time so far (user + system, seconds; /proc/<pid>/stat). */
  cpu: number;
}

function cpuSeconds(pid: number): number {
  return processCpuMs(pid) / 1000;
}

/**
 * The agent's resident memory by kind of mapping: files (code, libraries), `[heap]` (glibc's main
 * arena), anonymous mappings inside a 64 MiB-aligned reservation with an inaccessible rest (glibc's
 * thread arenas), other anonymous mappings (V8's heap pages, thread stacks, large allocations).
 */
function residentByKind(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  const add = (k: string, b: number): void => void out.set(k, (out.get(k) ?? 0) + b);
  let kind = '';
  let prevEnd = -1;
  let prevKind = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const [, from, to, perms, path] = head;
      const start = parseInt(from!, 16);
      const size = parseInt(to!, 16) - start;
      if (path!.startsWith('/')) kind = 'files';
      else if (path!.startsWith('[')) kind = path === '[heap]' ? 'malloc main arena ([heap])' : 'other';
      // glibc's thread arenas: a 64 MiB-aligned start, read-write head then a ---p rest.
      else if (start % 2 ** 26 === 0 && perms === 'rw-p' && size < 2 ** 26) kind = 'malloc thread arenas';
      else if (perms === '---p' && prevKind === 'malloc thread arenas' && start === prevEnd) kind = 'malloc thread arenas';
      else kind = 'anonymous (V8 heap, stacks, large blocks)';
      prevEnd = start + size;
      prevKind = kind;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) add(kind, Number(rss[1]) * 1024);
  }
  return out;
}

async function sample(agent: Awaited<ReturnType<typeof startAgent>>, label: string): Promise<Sample> {
  const text = await agent.metrics();
  // BENCH_SMAPS_DIR=<dir> keeps the agent's /proc/<pid>/smaps and metrics at each sample.
  const keep = process.env.BENCH_SMAPS_DIR;
  if (keep) {
    writeFileSync(join(keep, `smaps-${label}`), readFileSync(`/proc/${agent.pid!}/smaps`));
    writeFileSync(join(keep, `metrics-${label}`), text);
  }
  const num = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return {
    rss: num('process_resident_memory_bytes'),
    heap: num('nodejs_heap_size_used_bytes'),
    heapTotal: num('nodejs_heap_size_total_bytes'),
    newSpace: num('nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
    external: num('nodejs_external_memory_bytes'),
    updates: num('margay_datastore_updates_total'),
    spaces: new Map(
      [...text.matchAll(/^nodejs_heap_space_size_used_bytes\{space="(\w+)"\} (\S+)$/gm)].map((m) => [
        m[1]!,
        { used: Number(m[2]), total: num(`nodejs_heap_space_size_total_bytes\\{space="${m[1]}"\\}`) },
      ]),
    ),
    resident: residentByKind(agent.pid!),
    cpu: cpuSeconds(agent.pid!),
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
    env: { MARGAY_LOGSEVERITYSCREEN: 'warning', ...AGENT_ENV },
  });
  await agent.waitReady(300_000);
  await new Promise((r) => setTimeout(r, 3000));
  const before = await sample(agent, 'idle');
  const loadBefore = loadAverage();

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
  await eventually(async () => (await sample(agent!, 'wait')).updates >= before.updates + REMOTE, { timeoutMs: 1_800_000, intervalMs: 500, what: 'all updates received' });
  const receivedMs = performance.now() - tw;
  await agent.waitReady(1_800_000);
  await new Promise((r) => setTimeout(r, 5000));
  const after = await sample(agent, 'remote');
  const loadAfter = loadAverage();
  const dataplane = dataplaneCounters(await agent.metrics());
  const problems = agent.logs().split('\n').filter((l) => l.trim() !== '');
  // Only now: writing a heap snapshot costs the process several times its heap in native memory,
  // which stays resident, so a snapshot before the last sample would count it as the endpoints'.
  const heap = await heapClasses(agent);

  console.log(`${REMOTE} remote workload endpoints on ${HOSTS} hosts (written in ${(writeMs / 1000).toFixed(1)} s), 1 local endpoint, 20 policies with IP sets of 1,000 ×19 and ${REMOTE} ×1`);
  console.log('| measure | before (MiB) | with remote endpoints (MiB) | ratio | per remote endpoint |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| resident memory | ${mib(before.rss)} | ${mib(after.rss)} | ${(after.rss / before.rss).toFixed(2)} | ${((after.rss - before.rss) / REMOTE / 1024).toFixed(2)} KiB |`);
  const row = (what: string, key: 'rss' | 'heap' | 'heapTotal' | 'newSpace' | 'external'): void =>
    console.log(`| ${what} | ${mib(before[key])} | ${mib(after[key])} | ${(after[key] / before[key]).toFixed(2)} | ${((after[key] - before[key]) / REMOTE / 1024).toFixed(2)} KiB |`);
  row('V8 heap used', 'heap');
  row('V8 heap committed', 'heapTotal');
  row('&nbsp;&nbsp;of which the young generation', 'newSpace');
  row('external (buffers)', 'external');
  console.log('\n| V8 heap space | used before → after (MiB) | committed before → after (MiB) | committed − used after (MiB) |');
  console.log('|---|---:|---:|---:|');
  for (const [space, a] of after.spaces) {
    const b = before.spaces.get(space) ?? { used: 0, total: 0 };
    console.log(`| ${space} | ${mib(b.used)} → ${mib(a.used)} | ${mib(b.total)} → ${mib(a.total)} | ${mib(a.total - a.used)} |`);
  }
  console.log('\n| resident memory by mapping | before (MiB) | after (MiB) | per remote endpoint |');
  console.log('|---|---:|---:|---:|');
  for (const kind of new Set([...before.resident.keys(), ...after.resident.keys()])) {
    const b = before.resident.get(kind) ?? 0;
    const a = after.resident.get(kind) ?? 0;
    console.log(`| ${kind} | ${mib(b)} | ${mib(a)} | ${((a - b) / REMOTE / 1024).toFixed(2)} KiB |`);
  }
  console.log(`first write → all ${REMOTE} updates through the calculation graph: ${(receivedMs / 1000).toFixed(1)} s; agent CPU ${before.cpu.toFixed(2)} s to the idle sample, ${(after.cpu - before.cpu).toFixed(2)} s from there to the last (user + system)`);
  const options = [...(BUILT ? agentNodeOptions() : []), ...NODE_OPTIONS];
  console.log(`agent: ${BUILT ? 'compiled CLI (bin/margay.js)' : 'sources through tsx'}${options.length ? ` with node ${options.join(' ')}` : ''}; load average ${loadBefore} (idle sample), ${loadAfter} (with remote endpoints)`);
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
