/**
 * The nftables render of a cold start alone (no kernel, no nft): the updates the agent of
 * bench/fixtures/scale.ts sends first (BENCH_ENDPOINTS, BENCH_POLICIES), recorded once, then
 * rendered BENCH_ROUNDS times by a fresh NftablesManager (onUpdate + flush). Prints the
 * milliseconds per round and the load; BENCH_DUMP=<file> writes the rendered table (chains with
 * rule bodies, descriptions and fingerprints, sets, maps) to compare renderers byte for byte.
 * BENCH_BUILT=1 renders with the compiled manager (dist/, `npm run build` first): the agent's bundle
 * runs compiled code, and tsx's name-keeping wrappers add ~20% to a cold render.
 * BENCH_CPU_PROF=<file> profiles the first round (the cold one, as in a cold start); BENCH_ALLOC=<file> writes a
 * sampling heap profile of everything the first round allocates, collected objects included (what feeds
 * the garbage collector). Asserts nothing. Run: npx tsx bench/render-coldstart.ts
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { NftablesManager } from '../src/dataplane/nftables/manager.ts';
import type { DesiredState } from '../src/dataplane/nftables/state.ts';
import { recordFirstApply } from './fixtures/in-process.ts';
import { loadAverage } from './fixtures/proc-times.ts';
import { median } from './fixtures/stats.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);


/** The rendered table as text, in a fixed order. */
function dump(d: DesiredState): string {
  const lines: string[] = [];
  for (const name of [...d.chains.keys()].sort()) {
    const c = d.chains.get(name)!;
    lines.push(`chain ${name} ${JSON.stringify(c.base ?? null)}`);
    for (const r of c.rules) lines.push(`  ${r.hash} ${r.body}${r.desc === undefined ? '' : ` # ${r.desc}`}`);
  }
  for (const name of [...d.sets.keys()].sort()) {
    const s = d.sets.get(name)!;
    lines.push(`set ${name} ${s.type} ${s.flags.join(',')} ${[...s.elements].join(',')}`);
  }
  for (const name of [...d.maps.keys()].sort()) {
    const m = d.maps.get(name)!;
    lines.push(`map ${name} ${m.keyType} ${[...m.elements].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}:${v}`).join(',')}`);
  }
  return `${lines.join('\n')}\n`;
}

const Manager: typeof NftablesManager = process.env.BENCH_BUILT
  ? ((await import(new URL('../dist/src/dataplane/nftables/manager.js', import.meta.url).href)) as { NftablesManager: typeof NftablesManager }).NftablesManager
  : NftablesManager;
const updates = await recordFirstApply(ENDPOINTS, POLICIES);
console.log(`${ENDPOINTS} local endpoints, ${POLICIES} policies: ${updates.length} updates rendered by a fresh manager`);
const times: number[] = [];
// CPU time too: steadier than the wall clock on a busy machine.
const cpuTimes: number[] = [];
let last: NftablesManager | undefined;
for (let round = 1; round <= ROUNDS; round++) {
  const m = new Manager();
  const profile = round === 1 && process.env.BENCH_CPU_PROF ? new Session() : undefined;
  if (profile) {
    profile.connect();
    await profile.post('Profiler.enable');
    await profile.post('Profiler.start');
  }
  const alloc = round === 1 && process.env.BENCH_ALLOC ? new Session() : undefined;
  if (alloc) {
    alloc.connect();
    await alloc.post('HeapProfiler.enable');
    await alloc.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  const t = performance.now();
  const cpu = process.cpuUsage();
  for (const u of updates) m.onUpdate(u);
  m.flush();
  times.push(performance.now() - t);
  const used = process.cpuUsage(cpu);
  cpuTimes.push((used.user + used.system) / 1000);
  if (profile) writeFileSync(process.env.BENCH_CPU_PROF!, JSON.stringify((await profile.post('Profiler.stop')).profile));
  if (alloc) writeFileSync(process.env.BENCH_ALLOC!, JSON.stringify((await alloc.post('HeapProfiler.stopSampling')).profile));
  last = m;
  console.log(`round ${round}: ${times[times.length - 1]!.toFixed(0)} ms, CPU ${cpuTimes[cpuTimes.length - 1]!.toFixed(0)} ms (load ${loadAverage()})`);
}
console.log(`median ${median(times).toFixed(0)} ms, CPU ${median(cpuTimes).toFixed(0)} ms; min ${Math.min(...times).toFixed(0)} ms, CPU ${Math.min(...cpuTimes).toFixed(0)} ms (load ${loadAverage()})`);
if (process.env.BENCH_DUMP) writeFileSync(process.env.BENCH_DUMP, dump(last!.desired));
