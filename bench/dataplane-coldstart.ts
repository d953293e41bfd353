/**
 * A cold start's first apply, with and without the load ahead (docs/dataplane.md "Cold start:
 * loading ahead on the other core"): the agent of bench/fixtures/scale.ts in-process over the
 * in-memory datastore (BENCH_ENDPOINTS, BENCH_POLICIES), the real dataplane on a fresh namespace
 * each time, BENCH_ROUNDS rounds alternating the two (default 3). Times the first apply (render +
 * nft) only, so neither the process start nor etcd add their noise. Prints figures and the load;
 * asserts nothing. Run (root): npx tsx bench/dataplane-coldstart.ts
 * (BENCH_VARIANTS=none,nft,netlink adds the load ahead by netlink batches; `netlink-nft` the same
 * with the last transaction through nft, MARGAY_SWITCH_ON=nft).
 */
import { Dataplane } from '../src/dataplane/mod.ts';
import { createTestNetns } from '../test/harness/netns.ts';
import { inProcessHost } from './fixtures/in-process.ts';
import { loadAverage } from './fixtures/proc-times.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** The first apply's milliseconds and what went ahead. */
async function firstApply(variant: Variant): Promise<{ ms: number; aheadCommands: number; via?: string; error?: string }> {
  const ns = await createTestNetns('mgcs');
  const ahead = variant === 'netlink-nft' ? 'netlink' : variant;
  if (variant === 'netlink-nft') process.env.MARGAY_SWITCH_ON = 'nft';
  const dp = new Dataplane({ netns: ns.name, loadAheadMinPolicies: ahead === 'none' ? false : undefined, loadAheadNetlink: ahead === 'netlink' });
  delete process.env.MARGAY_SWITCH_ON;
  try {
    let settle!: (r: { ms: number; aheadCommands: number; via?: string; error?: string }) => void;
    const first = new Promise<{ ms: number; aheadCommands: number; via?: string; error?: string }>((resolve) => (settle = resolve));
    const host = await inProcessHost({
      endpoints: ENDPOINTS,
      policies: POLICIES,
      dataplane: {
        apply: async (updates) => {
          const t = performance.now();
          const r = await dp.apply(updates);
          const error = r.nft.error?.message ?? r.nft.ahead?.error?.message;
          settle({ ms: performance.now() - t, aheadCommands: r.nft.ahead?.commands ?? 0, ...(r.nft.via ? { via: r.nft.via } : {}), ...(error ? { error } : {}) });
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
type Variant = 'none' | 'nft' | 'netlink' | 'netlink-nft';
// BENCH_VARIANTS: which first applies to alternate (default: none,nft; `netlink` loads ahead by netlink batches).
const variants = (process.env.BENCH_VARIANTS ?? 'none,nft').split(',') as Variant[];
console.log(`| round | ${variants.map((v) => `load ahead: ${v} (ms) | last via`).join(' | ')} | load (1, 5, 15 min) |`);
console.log(`|---:|${variants.map(() => '---:|---:').join('|')}|---|`);
const sums = variants.map(() => 0);
for (let round = 1; round <= ROUNDS; round++) {
  const runs = [];
  for (const v of variants) runs.push(await firstApply(v));
  runs.forEach((r, i) => (sums[i]! += r.ms));
  const errors = runs.map((r) => r.error).filter((e) => e !== undefined);
  console.log(`| ${round} | ${runs.map((r) => `${r.ms.toFixed(0)} | ${r.via ?? '-'}`).join(' | ')} | ${loadAverage()}${errors.length > 0 ? ` errors: ${errors.join('; ')}` : ''} |`);
}
console.log(`mean (ms): ${variants.map((v, i) => `${v} ${(sums[i]! / ROUNDS).toFixed(0)}`).join(', ')}`);
