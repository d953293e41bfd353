/**
 * A cold start's snapshot into the calculation graph, in-process (no etcd, no kernel, no root):
 * the keys and values bench/agent-coldstart.ts lists (bench/fixtures/scale.ts: BENCH_ENDPOINTS
 * local endpoints, BENCH_POLICIES NetworkPolicies, stored as `margay apply` stores them), fed as
 * the agent feeds them (JSON.parse of each value, the side tracker, `graph.onUpdate`), then
 * `onInSync` and the first `flush` (the batch the dataplane renders). Each of BENCH_ROUNDS rounds
 * (default 5) runs in a fresh Node process, bundled by esbuild as the agent is, with the agent's Node options (bin/margay.js's `#!`
 * line; BENCH_NODE_ARGS adds some, e.g. `--cpu-prof`), so that every round is a cold start (no
 * JIT-compiled code, a young heap). Prints per phase the milliseconds and the garbage
 * collection's share, and the load; asserts nothing. BENCH_PROFILE=<file> (with BENCH_ROUNDS=1) writes
 * a V8 CPU profile of the timed phases there (bench/cpu-profile-summary.ts reads it); BENCH_ALLOC=<file>
 * (likewise) a sampling heap profile of everything the phases allocate, collected or not (a
 * `.heapprofile`: Chrome's DevTools, Memory tab, load it), which says what feeds the garbage collector.
 * With BENCH_NODE_ARGS=--expose-gc it also prints what the graph and the batch keep (heap used after a full
 * collection, before and after the phases). BENCH_BASELINE=<dir> (another checkout of the sources, with this file) alternates its rounds with
 * this tree's, for paired figures on a busy machine; BENCH_ARGS_VARIANTS='opts|opts' alternates sets
 * of extra Node options likewise. BENCH_ORDER=<kinds> feeds the keys of those kinds (`tiers,profiles,…`,
 * as in the keys) first, in that order, instead of the listing's key order.
 * Run: npx tsx bench/calc-coldstart.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { SideTracker } from '../src/agent/side-tracking.ts';
import { buildCalcGraph } from '../src/calc/mod.ts';
import { MemoryDatastore } from '../src/datastore/memory.ts';
import { RESOURCES_PREFIX } from '../src/datastore/keys.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { agentNodeOptions } from '../src/lab/entry.ts';
import { writeScaleResources } from './fixtures/scale.ts';
import { loadAverage } from './fixtures/proc-times.ts';
import { median } from './fixtures/stats.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROOT = join(fileURLToPath(import.meta.url), '../..');

interface Round {
  feedMs: number;
  inSyncMs: number;
  flushMs: number;
  gcMs: { feed: number; inSync: number; flush: number };
  updates: number;
  /** The process's CPU time over the three phases (GC helper threads included). */
  cpuMs: number;
  /** MiB the graph and the batch keep (heap used after a full collection), with `--expose-gc` only. */
  keptMiB?: number;
}

if (process.argv[2] === '--child') {
  process.stdout.write(JSON.stringify(await child()));
} else {
  const nodeArgs = [...agentNodeOptions(), ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')];
  const baseline = process.env.BENCH_BASELINE;
  console.log(`${ENDPOINTS} local endpoints, ${POLICIES} policies into the graph; node ${nodeArgs.join(' ')}; a fresh process per round`);
  console.log('| round | tree | feed (ms, GC) | onInSync (ms, GC) | flush (ms, GC) | total (ms) | CPU (ms) | updates | load |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---|');
  // Bundled as the agent is (scripts/bundle.mjs: esbuild, no tsx and its `keepNames` wrappers),
  // next to node_modules, so that the packages (left out of it) resolve.
  const dir = mkdtempSync(join(ROOT, 'node_modules/.calc-coldstart-'));
  const { build } = await import('esbuild'); // the parent's only: the child runs the bundle
  const trees = [...(baseline ? [{ name: 'baseline', entry: join(baseline, 'bench/calc-coldstart.ts') }] : []), { name: 'this', entry: fileURLToPath(import.meta.url) }];
  for (const t of trees) {
    const outfile = join(dir, `${t.name}.mjs`);
    await build({ entryPoints: [t.entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning', packages: 'external' });
    t.entry = outfile;
  }
  // BENCH_ARGS_VARIANTS='a|b': rounds alternate between these extra Node options too.
  const variants = (process.env.BENCH_ARGS_VARIANTS ?? '').split('|').map((v) => v.split(' ').filter((a) => a !== ''));
  const runs = trees.flatMap((t) => variants.map((v) => ({ name: `${t.name}${v.length > 0 ? ` ${v.join(' ')}` : ''}`, entry: t.entry, args: v })));
  const stats = new Map(runs.map((t) => [t.name, { totals: [] as number[], cpus: [] as number[], kept: [] as number[] }]));
  try {
    for (let i = 1; i <= ROUNDS; i++) {
      for (const t of runs) {
        const res = spawnSync(process.execPath, [...nodeArgs, ...t.args, t.entry, '--child'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 24 });
        if (res.status !== 0) throw new Error(`round ${i} (${t.name}) failed: ${res.stderr}`);
        const r = JSON.parse(res.stdout) as Round;
        const total = r.feedMs + r.inSyncMs + r.flushMs;
        stats.get(t.name)!.totals.push(total);
        stats.get(t.name)!.cpus.push(r.cpuMs);
        if (r.keptMiB !== undefined) stats.get(t.name)!.kept.push(r.keptMiB);
        const f = (ms: number, gc: number): string => `${ms.toFixed(0)} (${gc.toFixed(0)})`;
        console.log(`| ${i} | ${t.name} | ${f(r.feedMs, r.gcMs.feed)} | ${f(r.inSyncMs, r.gcMs.inSync)} | ${f(r.flushMs, r.gcMs.flush)} | ${total.toFixed(0)} | ${r.cpuMs.toFixed(0)} | ${r.updates} | ${loadAverage()} |`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [name, { totals, cpus, kept }] of stats) {
    const keptText = kept.length > 0 ? `; kept ${median(kept).toFixed(1)} MiB (median)` : '';
    console.log(`${name}: median total ${median(totals).toFixed(0)} ms, CPU ${median(cpus).toFixed(0)} ms; min total ${Math.min(...totals).toFixed(0)} ms, CPU ${Math.min(...cpus).toFixed(0)} ms${keptText}`);
  }
}

/** One cold round in this process. */
async function child(): Promise<Round> {
  const ds = new MemoryDatastore();
  await writeScaleResources(new ResourceStore(ds), ENDPOINTS, POLICIES);
  const { items } = feedOrder((await ds.list(RESOURCES_PREFIX)).items);
  await ds.close();

  // Each collection, attributed afterwards to the phase it started in (the observer is told late).
  const gcs: Array<{ start: number; ms: number }> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push({ start: e.startTime, ms: e.duration });
  });
  obs.observe({ entryTypes: ['gc'] });

  const graph = buildCalcGraph({ hostname: 'host1' });
  const side = new SideTracker('host1', () => undefined);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const profiler = process.env.BENCH_PROFILE ? await startProfiler() : process.env.BENCH_ALLOC ? await startAllocationSampling() : undefined;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (const kv of items) {
    const value = JSON.parse(kv.value) as unknown;
    side.observe(kv.key, value, 'datastore');
    graph.onUpdate(kv.key, value);
  }
  const t1 = performance.now();
  graph.onInSync();
  const t2 = performance.now();
  const updates = graph.flush();
  const t3 = performance.now();
  const cpu = process.cpuUsage(c0);
  if (profiler) writeFileSync((process.env.BENCH_PROFILE ?? process.env.BENCH_ALLOC)!, JSON.stringify(await profiler()));
  gc?.();
  const keptMiB = gc ? (process.memoryUsage().heapUsed - heap0) / 1048576 : undefined;
  if (graph.stats().localEndpoints === 0 || updates.length === 0) throw new Error('nothing was loaded'); // both still held here
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  const gcIn = (from: number, to: number): number => gcs.filter((g) => g.start >= from && g.start < to).reduce((sum, g) => sum + g.ms, 0);
  return {
    feedMs: t1 - t0,
    inSyncMs: t2 - t1,
    flushMs: t3 - t2,
    gcMs: { feed: gcIn(t0, t1), inSync: gcIn(t1, t2), flush: gcIn(t2, t3) },
    updates: updates.length,
    cpuMs: (cpu.user + cpu.system) / 1000,
    ...(keptMiB !== undefined ? { keptMiB } : {}),
  };
}

/** The listing in BENCH_ORDER's order of kinds (stable; kinds not named keep their place after). */
function feedOrder<T extends { key: string }>(items: T[]): { items: T[] } {
  const order = (process.env.BENCH_ORDER ?? '').split(',').filter((k) => k !== '');
  if (order.length === 0) return { items };
  const rank = (key: string): number => {
    const i = order.indexOf(key.slice(RESOURCES_PREFIX.length).split('/')[0] ?? '');
    return i < 0 ? order.length : i;
  };
  return { items: items.map((kv, i) => ({ kv, i, r: rank(kv.key) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.kv) };
}

/** Starts V8's sampling heap profiler, keeping collected objects too; the function returned stops it and gives the profile. */
async function startAllocationSampling(): Promise<() => Promise<unknown>> {
  const session = new Session();
  session.connect();
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async () => (await session.post('HeapProfiler.stopSampling')).profile;
}

/** Starts V8's CPU profiler in this process; the function returned stops it and gives the profile. */
async function startProfiler(): Promise<() => Promise<unknown>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return async () => (await session.post('Profiler.stop')).profile;
}

