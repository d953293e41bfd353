/**
 * The agent's own share of a change at production scale, in-process (no etcd, no kernel, no
 * root): the agent over the in-memory datastore with BENCH_ENDPOINTS local endpoints (default
 * 1,000) and BENCH_POLICIES NetworkPolicies (default 5,000), and a dataplane that only records;
 * the time from a datastore write to the dataplane's apply being called (syncer, calculation
 * graph, flush scheduler), for a policy change, a label change and a remote endpoint, 40 each.
 * What bench/agent-latency.ts measures beyond this is etcd's watch and the kernel transaction.
 * Prints percentiles and the load average; asserts nothing. Run: npx tsx bench/agent-change-cost.ts
 */
import type { AgentDataplane } from '../src/agent/agent.ts';
import { inProcessHost, timeWrites } from './fixtures/in-process.ts';
import { loadAverage } from './fixtures/proc-times.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const RUNS = 40;

let applied: (() => void) | undefined;
const dataplane: AgentDataplane = {
  apply: async () => {
    applied?.();
    return { ok: true };
  },
  resync: async () => ({ ok: true }),
};
const host = await inProcessHost({ endpoints: ENDPOINTS, policies: POLICIES, dataplane });
try {
  const t0 = performance.now();
  await host.start();
  const syncMs = performance.now() - t0;
  const nextApply = (): Promise<void> => new Promise<void>((resolve) => (applied = resolve));
  const rows: Array<[string, number[]]> = [];
  for (const change of host.changes) rows.push([change.name, (await timeWrites(host, RUNS, change.write, nextApply)).sort((a, b) => a - b)]);
  const q = (v: number[], p: number): string => v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))]!.toFixed(2);
  console.log(`${ENDPOINTS} local endpoints, ${POLICIES} policies; in sync (snapshot through the graph, first apply called) after ${(syncMs / 1000).toFixed(2)} s; load average ${loadAverage()}`);
  console.log('| change (write → dataplane told), ms | p50 | p90 | p99 | max |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, v] of rows) console.log(`| ${name} | ${q(v, 50)} | ${q(v, 90)} | ${q(v, 99)} | ${v[v.length - 1]!.toFixed(2)} |`);
} finally {
  await host.close();
}
