/**
 * A cold start's first apply, with and without the load ahead (docs/dataplane.md "Cold start:
 * loading ahead on the other core"): the agent of bench/fixtures/scale.ts in-process over the
 * in-memory datastore (BENCH_ENDPOINTS, BENCH_POLICIES), the real dataplane on a fresh namespace
 * each time, BENCH_ROUNDS rounds alternating the two (default 3). Times the first apply (render +
 * nft) only, so neither the process start nor etcd add their noise. Prints figures and the load;
 * asserts nothing. Run (root): npx tsx bench/dataplane-coldstart.ts
 */
import { readFileSync } from 'node:fs';
import { Dataplane } from '../src/dataplane/mod.ts';
import { createTestNetns } from '../test/harness/netns.ts';
import { inProcessHost } from './fixtures/in-process.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** The first apply's milliseconds and what went ahead. */
async function firstApply(ahead: boolean): Promise<{ ms: number; aheadCommands: number; error?: string }> {
  const ns = await createTestNetns('mgcs');
  const dp = new Dataplane({ netns: ns.name, loadAheadMinPolicies: ahead ? undefined : false });
  try {
    let settle!: (r: { ms: number; aheadCommands: number; error?: string }) => void;
    const first = new Promise<{ ms: number; aheadCommands: number; error?: string }>((resolve) => (settle = resolve));
    const host = await inProcessHost({
      endpoints: ENDPOINTS,
      policies: POLICIES,
      dataplane: {
        apply: async (updates) => {
          const t = performance.now();
          const r = await dp.apply(updates);
          const error = r.nft.error?.message ?? r.nft.ahead?.error?.message;
          settle({ ms: performance.now() - t, aheadCommands: r.nft.ahead?.commands ?? 0, ...(error ? { error } : {}) });
          return { ok: true };
        },
        resync: async () => ({ ok: true }),
      },
    });
    try {
      await host.start();
      return await first;
    } finally {
      await host.close();
    }
  } finally {
    dp.close();
    await ns.delete();
  }
}

console.log(`${ENDPOINTS} local endpoints, ${POLICIES} policies: the first apply (render + nft), fresh namespace each`);
console.log('| round | without load ahead (ms) | with (ms) | commands ahead | load (1, 5, 15 min) |');
console.log('|---:|---:|---:|---:|---|');
const sums = [0, 0];
for (let round = 1; round <= ROUNDS; round++) {
  const off = await firstApply(false);
  const on = await firstApply(true);
  sums[0]! += off.ms;
  sums[1]! += on.ms;
  const errors = [off.error, on.error].filter((e) => e !== undefined);
  console.log(`| ${round} | ${off.ms.toFixed(0)} | ${on.ms.toFixed(0)} | ${on.aheadCommands} | ${load()}${errors.length > 0 ? ` errors: ${errors.join('; ')}` : ''} |`);
}
console.log(`mean: ${(sums[0]! / ROUNDS).toFixed(0)} ms without, ${(sums[1]! / ROUNDS).toFixed(0)} ms with the load ahead`);
