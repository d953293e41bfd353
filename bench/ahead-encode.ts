/**
 * The cold start's load-ahead stream alone (no kernel, no helper): the updates the agent of
 * bench/fixtures/scale.ts sends first (BENCH_ENDPOINTS, BENCH_POLICIES), recorded once, rendered
 * by a fresh NftablesManager as the agent does (sets and policies, then the endpoints), and
 * encoded into a stream file as the agent's dataplane does it (ahead-stream.ts: the sets and
 * policy chains in one part, then every 8 policy lists as they are rendered, then the rest).
 * BENCH_ROUNDS rounds (default 5; the first is the cold one, as in a cold start). Prints per round
 * the milliseconds, the agent thread's CPU time (from /proc: what a busy machine disturbs least)
 * and the process's spent in the stream's encoding (render excluded), the commands and the
 * SHA-256 of the stream's bytes (to compare encoders byte for byte), and the load.
 * BENCH_CPU_PROF=<file> profiles the first round (BENCH_PROF_ROUND=<n>: that round). Asserts nothing. Run: npx tsx bench/ahead-encode.ts
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AheadStream } from '../src/dataplane/nftables/ahead-stream.ts';
import { NftablesManager } from '../src/dataplane/nftables/manager.ts';
import { recordFirstApply } from './fixtures/in-process.ts';
import { loadAverage } from './fixtures/proc-times.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const PROF_ROUND = Number(process.env.BENCH_PROF_ROUND ?? 1);
/** As the dataplane hands the lists over (src/dataplane/mod.ts `LISTS_PER_PART`). */
const LISTS_PER_PART = 8;
const MAX_BATCH = 192 * 1024;
/** The CPU time of this process's main thread so far (ms; Linux schedstat: time on a CPU). */
const threadCpuMs = (): number => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;


const updates = await recordFirstApply(ENDPOINTS, POLICIES);
console.log(`${ENDPOINTS} local endpoints, ${POLICIES} policies: ${updates.length} updates, rendered and streamed ${ROUNDS} times`);
for (let round = 1; round <= ROUNDS; round++) {
  const file = join(tmpdir(), `margay-ahead-encode-${process.pid}-${round}`);
  const m = new NftablesManager();
  for (const u of updates) m.onUpdate(u);
  const profile = round === PROF_ROUND && process.env.BENCH_CPU_PROF ? new Session() : undefined;
  if (profile) {
    profile.connect();
    await profile.post('Profiler.enable');
    await profile.post('Profiler.start');
  }
  let ms = 0;
  let cpuMs = 0;
  let threadMs = 0;
  const parts: number[] = [];
  const timed = (f: () => void): void => {
    const t = performance.now();
    const cpu = process.cpuUsage();
    const thread = threadCpuMs();
    f();
    parts.push(threadCpuMs() - thread);
    threadMs += parts[parts.length - 1]!;
    ms += performance.now() - t;
    const used = process.cpuUsage(cpu);
    cpuMs += (used.user + used.system) / 1000;
  };
  m.completeSetsAndPolicies();
  const stream = new AheadStream(file, { family: 'inet', name: 'margay' }, { maxBytes: MAX_BATCH });
  // As the driver's first part (driver.ts `loadAhead`): every set and chain by name.
  timed(() => stream.add(m.desired, { chains: m.desired.chains.keys(), sets: m.desired.sets.keys() }));
  let part: string[] = [];
  let lists = 0;
  m.onListRendered = (chains) => {
    part.push(...chains);
    if (++lists % LISTS_PER_PART !== 0) return;
    const names = { chains: part, sets: [] };
    part = [];
    timed(() => stream.add(m.desired, names));
  };
  m.flush();
  timed(() => {
    const view = stream.view;
    stream.add(m.desired, { chains: [...m.desired.chains.keys()].filter((n) => !view.chains.has(n)), sets: [...m.desired.sets.keys()].filter((n) => !view.sets.has(n)) });
    stream.end();
  });
  if (profile) writeFileSync(process.env.BENCH_CPU_PROF!, JSON.stringify((await profile.post('Profiler.stop')).profile));
  const sha = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 16);
  rmSync(file);
  console.log(`round ${round}: encoding ${ms.toFixed(0)} ms, thread CPU ${threadMs.toFixed(0)} ms, process CPU ${cpuMs.toFixed(0)} ms; ${stream.commands} commands, stream sha256 ${sha} (load ${loadAverage()})`);
  const listMs = parts.slice(1, -1).reduce((a, b) => a + b, 0);
  console.log(`  thread CPU: sets and policies ${parts[0]!.toFixed(0)} ms, ${parts.length - 2} parts of lists ${listMs.toFixed(0)} ms, the rest ${parts[parts.length - 1]!.toFixed(0)} ms`);
}
