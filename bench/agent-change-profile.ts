/**
 * One change's nft transaction at production scale (root): the agent in-process over the
 * in-memory datastore (BENCH_ENDPOINTS, BENCH_POLICIES) with the real dataplane in a fresh
 * namespace; then a policy change, a label change and a remote endpoint, BENCH_RUNS times each
 * (default 10), each applied and timed. Prints each apply's time, command count and text size;
 * BENCH_DUMP=<dir> writes each transaction's text there. Asserts nothing.
 * Run (root): npx tsx bench/agent-change-profile.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type { AgentDataplane } from '../src/agent/agent.ts';
import { Dataplane } from '../src/dataplane/mod.ts';
import { createHost } from '../test/agent/lab.ts';
import { inProcessHost, timeWrites } from './fixtures/in-process.ts';
import { loadAverage } from './fixtures/proc-times.ts';
import { createScaleInterfaces } from './fixtures/scale.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const DUMP = process.env.BENCH_DUMP;

const netns = await createHost();
const dp = new Dataplane({ netns: netns.name });
let label = 'cold start';
const log: Array<{ label: string; ms: number; commands: number; via: string; text: string }> = [];
let applied: (() => void) | undefined;
const dataplane: AgentDataplane = {
  apply: async (updates) => {
    const t = performance.now();
    const res = await dp.apply(updates);
    log.push({ label, ms: performance.now() - t, commands: res.nft.commands, via: res.nft.via ?? "none", text: dp.lastTransaction });
    applied?.();
    return { ok: res.ok };
  },
  resync: async () => ({ ok: (await dp.resync()).ok }),
};
await createScaleInterfaces(netns.name, ENDPOINTS);
const host = await inProcessHost({ endpoints: ENDPOINTS, policies: POLICIES, dataplane });
try {
  await host.start();
  const nextApply = (): Promise<void> => new Promise<void>((resolve) => (applied = resolve));
  for (const change of host.changes) {
    label = change.name;
    await timeWrites(host, RUNS, change.write, nextApply);
  }
  console.log(`${ENDPOINTS} local endpoints, ${POLICIES} policies; load average ${loadAverage()}`);
  console.log('| apply | ms | via | commands | transaction bytes |');
  console.log('|---|---:|---|---:|---:|');
  for (const [i, e] of log.entries()) {
    console.log(`| ${e.label} | ${e.ms.toFixed(1)} | ${e.via} | ${e.commands} | ${e.text.length} |`);
    if (DUMP) {
      mkdirSync(DUMP, { recursive: true });
      writeFileSync(`${DUMP}/${i}-${e.label.replace(/\W+/g, '-')}.nft`, e.text);
    }
  }
} finally {
  await host.close();
  dp.close();
  await netns.delete();
}
