/**
 * Where a CNI ADD's and DEL's kernel work goes (profiling aid, issue 14): the plumbing's steps
 * timed one by one against a scratch host namespace and container namespaces, sequential and in
 * bursts. Prints p50/p90 per step; asserts nothing. Run (root): npx tsx bench/cni-plumbing-profile.ts
 * Environment: BENCH_N (default 40), BENCH_BURST (default 20).
 */
import { performance } from 'node:perf_hooks';
import { Plumbing } from '../src/cni/plumbing.ts';
import { createTestNetns, type TestNetns } from '../test/harness/netns.ts';

const N = Number(process.env.BENCH_N ?? 40);
const BURST = Number(process.env.BENCH_BURST ?? 20);

function pct(v: number[], p: number): number {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const host = await createTestNetns('mgprof');
const made: TestNetns[] = [];
const plumbing = new Plumbing({ hostNetns: host.name });
const times = new Map<string, number[]>();
const rec = (k: string, ms: number): void => void times.set(k, [...(times.get(k) ?? []), ms]);
const timed = async <T>(k: string, p: () => Promise<T>): Promise<T> => {
  const t = performance.now();
  try {
    return await p();
  } finally {
    rec(k, performance.now() - t);
  }
};
try {
  for (let i = 0; i < N + BURST; i++) made.push(await createTestNetns('mgprof'));
  const spec = (i: number) => ({ hostVeth: `calip${String(i).padStart(6, '0')}`, netns: `/run/netns/${made[i]!.name}`, ifname: 'eth0', mtu: 1500, containerMac: '02:00:00:00:00:01', ipv4: [`10.99.${i >> 8}.${i & 255}`], ipv6: [] as string[] });
  // warm-up
  await plumbing.createLink({ ...spec(0), ipv6: false });
  await plumbing.addAddresses(spec(0));
  await plumbing.deleteContainerInterface(spec(0).netns, 'eth0');
  for (let i = 1; i < N; i++) {
    const s = spec(i);
    await timed('add: createLink (one helper request: veth, sysctls, up)', () => plumbing.createLink({ ...s, ipv6: false }));
    await timed('add: addAddresses (one helper request: host routes, container side)', () => plumbing.addAddresses(s));
  }
  for (let i = 1; i < N; i++) {
    const s = spec(i);
    await timed('del: deleteContainerInterface (batched helper)', () => plumbing.deleteContainerInterface(s.netns, 'eth0', s.hostVeth));
  }
  const burst = Array.from({ length: BURST }, (_, k) => spec(N + k));
  let t = performance.now();
  await Promise.all(burst.map(async (s) => {
    await timed(`burst ${BURST}: createLink`, () => plumbing.createLink({ ...s, ipv6: false }));
    await timed(`burst ${BURST}: addAddresses`, () => plumbing.addAddresses(s));
  }));
  rec(`burst ${BURST}: all ADD plumbing`, performance.now() - t);
  t = performance.now();
  await Promise.all(burst.map((s) => timed(`burst ${BURST}: deleteContainerInterface`, () => plumbing.deleteContainerInterface(s.netns, 'eth0', s.hostVeth))));
  rec(`burst ${BURST}: all DEL plumbing`, performance.now() - t);
  console.log('| step | n | p50 ms | p90 ms | max ms |\n|---|---:|---:|---:|---:|');
  for (const [k, v] of times) console.log(`| ${k} | ${v.length} | ${pct(v, 50).toFixed(2)} | ${pct(v, 90).toFixed(2)} | ${Math.max(...v).toFixed(2)} |`);
} finally {
  plumbing.close();
  for (const m of made) await m.delete();
  await host.delete();
}
