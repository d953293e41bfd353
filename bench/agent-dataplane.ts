/**
 * Dataplane cost of policy: TCP throughput and new-connection rate between two workloads on one
 * host, with 1,000 GlobalNetworkPolicies (10,000 rules, none matching the traffic, then an
 * allow-all) selecting both of them, against a pair no policy selects, in the same run: the two
 * pairs measured alternately, round after round (`BENCH_ROUNDS`, default 4, even; the ratio is of the
 * medians), so that the machine's drift between measurements falls on both; and the same
 * alternation before any policy exists (the control: what the two pairs differ by on their own),
 * whose ratio is then taken out of the policy's. A real agent programs a host namespace
 * from a real etcd. Prints figures and ratios; asserts nothing.
 * The connection rate is measured by bench/fixtures/connrate.c (built here with gcc): 4 threads,
 * each connecting and resetting back to back, against a C accept loop, so that the figure is the
 * kernel's path (~55–70k connections/s here) rather than a Node event loop's (~10k/s, ±30–50%
 * between measurements). BENCH_RULESET=<file> keeps the host's ruleset.
 * Run: npx tsx bench/agent-dataplane.ts  (root; iperf3 for throughput, gcc for the loop)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeResources } from '../src/api/decode.ts';
import type { Resource } from '../src/api/resource.ts';
import { validateResource } from '../src/api/validate.ts';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { addPod, createHost, listRuleset, startAgent, type TestPod } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { eventually } from '../test/harness/wait.ts';
import { registerCleanup } from '../test/harness/cleanup.ts';
import { exec } from '../src/os/mod.ts';
import { loadAverage, treeCpuMs, waitQuiet } from './fixtures/proc-times.ts';
import { evenRounds, median } from './fixtures/stats.ts';

const POLICIES = 1000;
const RULES_PER_DIRECTION = 5;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** Rounds of each alternation, rounded up to an even number: each pair goes first as often. */
const ROUNDS = evenRounds(process.env.BENCH_ROUNDS, 4);
const HAVE_IPERF3 = spawnSync('iperf3', ['--version']).status === 0;
const CONNRATE_PORT = 5202;

function policy(i: number): Resource {
  const rules = (dir: 'source' | 'destination') =>
    Array.from({ length: RULES_PER_DIRECTION }, (_, j) => ({
      action: 'Allow',
      protocol: 'TCP',
      [dir]: { nets: [`192.168.${i % 250}.${j + 1}/32`] },
      destination: { ports: [20000 + ((i * RULES_PER_DIRECTION + j) % 30000)] },
    }));
  return validateResource({
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: `bench-${i}` },
    spec: { order: i, selector: "app in {'a', 'b'}", types: ['Ingress', 'Egress'], ingress: rules('source'), egress: rules('destination') },
  });
}

async function iperf(client: TestPod, server: TestPod): Promise<number> {
  if (!HAVE_IPERF3) return Number.NaN;
  const srv = server.netns.spawn('iperf3', ['-s', '-1', '-p', '5201']);
  await sleep(300);
  const res = await client.netns.exec('iperf3', ['-c', server.ip, '-p', '5201', '-t', String(SECONDS), '-J'], { allowFail: true, timeoutMs: 120_000 });
  srv.kill('SIGKILL');
  const report = JSON.parse(res.stdout) as { end?: { sum_received?: { bits_per_second: number } } };
  return (report.end?.sum_received?.bits_per_second ?? 0) / 1e9;
}

/**
 * The connection loop, built here from bench/fixtures/connrate.c: C, so that the rate is the
 * kernel's path and not a Node event loop's (a Node loop's rate moved by ±30–50% between two
 * measurements on this machine, more than what it was to measure).
 */
const CONNRATE = buildConnrate();

function buildConnrate(): string {
  const dir = mkdtempSync(join(tmpdir(), 'margay-bench-connrate-'));
  registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'connrate');
  const res = spawnSync('gcc', ['-O2', '-Wall', '-pthread', '-o', out, fileURLToPath(new URL('./fixtures/connrate.c', import.meta.url))], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`cannot build bench/fixtures/connrate.c (gcc: ${res.error?.message ?? res.stderr}); scripts/install-deps.sh installs gcc`);
  return out;
}

/**
 * New connections per second from `client` to `server` (4 loops, connect then reset), for
 * SECONDS. The host's connection tracking is emptied first: ~300,000 connections of the last
 * measurement would otherwise still be there (10 s each after their reset; the table holds
 * 262,144), and this one would pay for the evictions.
 */
async function connRate(host: BenchHost, client: TestPod, server: TestPod): Promise<{ perSecond: number; errors: number; agentCpuMs: number }> {
  await exec('conntrack', ['-F'], { netns: host.netns });
  await waitQuiet();
  const agentBefore = treeCpuMs(host.agentPid);
  const srv = server.netns.spawn(CONNRATE, ['serve', String(CONNRATE_PORT)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => srv.once('exit', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      srv.stdout!.once('data', () => resolve());
      srv.once('error', reject);
      srv.once('exit', (code) => reject(new Error(`connrate serve exited (${code})`)));
    });
    const res = await client.netns.exec(CONNRATE, ['connect', server.ip, String(CONNRATE_PORT), String(SECONDS * 1000), '4'], { timeoutMs: SECONDS * 1000 + 60_000 });
    const r = JSON.parse(res.stdout) as { connections: number; errors: number; elapsedMs: number };
    const agentCpuMs = treeCpuMs(host.agentPid) - agentBefore;
    return { perSecond: r.connections / (r.elapsedMs / 1000), errors: r.errors, agentCpuMs };
  } finally {
    srv.kill('SIGKILL');
    await exited;
  }
}

/**
 * The host namespace the pairs go through, and the agent programming it (each connection
 * measurement reads its CPU: a periodic resync would compete with the traffic).
 */
interface BenchHost {
  netns: string;
  agentPid: number;
}

/** One round's figures: the first pair (a → b) and the second (c → d). */
interface Round {
  polGbps: number;
  freeGbps: number;
  polRate: number;
  freeRate: number;
  /** Failed connects of the first pair and of the second. */
  polErrors: number;
  freeErrors: number;
  /** The agent's CPU (with its children) during the two connection measurements (ms). */
  agentCpuMs: number;
}

/**
 * ROUNDS rounds of throughput then connection rate of `first` and `second`, alternately, the
 * order flipped every round (the machine's drift falls on both).
 */
async function alternate(host: BenchHost, first: [TestPod, TestPod], second: [TestPod, TestPod]): Promise<Round[]> {
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const [x, y] = r % 2 === 0 ? [first, second] : [second, first];
    const g1 = await iperf(...x);
    const g2 = await iperf(...y);
    const c1 = await connRate(host, ...x);
    const c2 = await connRate(host, ...y);
    // Back to the pairs' own order: the first pair's figures, then the second's.
    const [gFirst, gSecond] = x === first ? [g1, g2] : [g2, g1];
    const [cFirst, cSecond] = x === first ? [c1, c2] : [c2, c1];
    rounds.push({ polGbps: gFirst, freeGbps: gSecond, polRate: cFirst.perSecond, freeRate: cSecond.perSecond, polErrors: cFirst.errors, freeErrors: cSecond.errors, agentCpuMs: c1.agentCpuMs + c2.agentCpuMs });
  }
  return rounds;
}

/** The median of each figure over the rounds. */
function medians(rounds: Round[]): Omit<Round, 'polErrors' | 'freeErrors' | 'agentCpuMs'> {
  return {
    polGbps: median(rounds.map((r) => r.polGbps)),
    freeGbps: median(rounds.map((r) => r.freeGbps)),
    polRate: median(rounds.map((r) => r.polRate)),
    freeRate: median(rounds.map((r) => r.freeRate)),
  };
}

const etcd = await startEtcd();
const host = await createHost();
const pods: TestPod[] = [];
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
const ds = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
try {
  const store = new ResourceStore(ds);
  pods.push(await addPod(host, { name: 'a', hostInterface: 'calibencha', ip: '10.65.0.1', ports: [80] }));
  pods.push(await addPod(host, { name: 'b', hostInterface: 'calibenchb', ip: '10.65.0.2', ports: [80] }));
  // The pair no policy selects (only the namespace's profile, as a and b before the policies).
  pods.push(await addPod(host, { name: 'c', hostInterface: 'calibenchc', ip: '10.65.0.3', ports: [80] }));
  pods.push(await addPod(host, { name: 'd', hostInterface: 'calibenchd', ip: '10.65.0.4', ports: [80] }));
  const base = `
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.bench}
spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}
${['a', 'b', 'c', 'd']
  .map(
    (p, i) => `---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: host1-k8s-${p}-eth0, namespace: bench, labels: {app: ${p}}}
spec: {orchestrator: k8s, node: host1, pod: ${p}, endpoint: eth0, interfaceName: calibench${p}, ipNetworks: [10.65.0.${i + 1}/32], profiles: [kns.bench]}`,
  )
  .join('\n')}
`;
  await store.batch('apply', decodeResources(base, 'bench.yaml').map((d) => d.resource));
  agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: 'host1', netns: host.name, env: { MARGAY_LOGSEVERITYSCREEN: 'warning' } });
  await agent.waitReady(120_000);
  const bench: BenchHost = { netns: host.name, agentPid: agent.pid! };
  const [a, b, c, d] = pods as [TestPod, TestPod, TestPod, TestPod];
  await eventually(async () => (await a.probe([{ ip: b.ip, port: 80, proto: 'tcp' }]))[0] === true);
  await eventually(async () => (await c.probe([{ ip: d.ip, port: 80, proto: 'tcp' }]))[0] === true);

  // The control: the same alternation before any policy, so that what the two pairs differ by
  // on their own (interfaces, hash buckets, where the scheduler puts them) is measured too.
  const control = await alternate(bench, [a, b], [c, d]);

  const policies = Array.from({ length: POLICIES }, (_, i) => policy(i));
  policies.push(
    validateResource({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: 'bench-allow-all' },
      spec: { order: 1_000_000, selector: "app in {'a', 'b'}", types: ['Ingress', 'Egress'], ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] },
    }),
  );
  const t0 = performance.now();
  await store.batch('apply', policies);
  const writtenMs = performance.now() - t0;
  await eventually(async () => /^margay_active_local_policies (\d+)$/m.exec(await agent!.metrics())?.[1] === String(POLICIES + 2), {
    timeoutMs: 600_000,
    intervalMs: 200,
    what: 'policies programmed',
  });
  await agent.waitReady(120_000);
  const programmedMs = performance.now() - t0;
  await eventually(async () => (await a.probe([{ ip: b.ip, port: 80, proto: 'tcp' }]))[0] === true);

  const rounds = await alternate(bench, [a, b], [c, d]);
  const ruleset = await listRuleset(host.name);
  // BENCH_RULESET=<file>: the host's ruleset kept there (what a new connection walks).
  if (process.env.BENCH_RULESET) writeFileSync(process.env.BENCH_RULESET, ruleset);
  const load = loadAverage();
  const { polGbps, freeGbps, polRate, freeRate } = medians(rounds);
  const before = medians(control);

  const fmt = (n: number, dp = 2) => (Number.isFinite(n) ? n.toFixed(dp) : 'n/a');
  console.log(`Two pairs of workloads on one host, ${SECONDS} s per measurement, ${ROUNDS} rounds alternating; policy = ${POLICIES} GlobalNetworkPolicies × ${RULES_PER_DIRECTION * 2} rules selecting a and b (${POLICIES * RULES_PER_DIRECTION * 2} rules) + allow-all; c and d selected by none`);
  console.log(`| measure (median of ${ROUNDS} rounds) | no policy (c → d) | ${POLICIES} policies (a → b) | ratio |`);
  console.log('|---|---:|---:|---:|');
  console.log(`| TCP throughput, 1 stream (Gbit/s, iperf3) | ${fmt(freeGbps)} | ${fmt(polGbps)} | ${fmt(polGbps / freeGbps)} |`);
  console.log(`| new TCP connections per second (4 threads, C) | ${fmt(freeRate, 0)} | ${fmt(polRate, 0)} | ${fmt(polRate / freeRate)} |`);
  console.log(`per round, ratio policy / no policy: throughput ${rounds.map((x) => fmt(x.polGbps / x.freeGbps)).join(' / ')}; connections ${rounds.map((x) => fmt(x.polRate / x.freeRate)).join(' / ')}`);
  console.log(`control, the same ${ROUNDS} rounds before any policy (a → b / c → d, neither selected): throughput ${fmt(before.polGbps / before.freeGbps)} (${fmt(before.polGbps)} / ${fmt(before.freeGbps)} Gbit/s), connections ${fmt(before.polRate / before.freeRate)} (${fmt(before.polRate, 0)} / ${fmt(before.freeRate, 0)} per second)`);
  console.log(`per control round, a → b / c → d: throughput ${control.map((x) => fmt(x.polGbps / x.freeGbps)).join(' / ')}; connections ${control.map((x) => fmt(x.polRate / x.freeRate)).join(' / ')}`);
  console.log(`**ratio with the pairs' own difference taken out** (policy ratio / control ratio): throughput ${fmt(polGbps / freeGbps / (before.polGbps / before.freeGbps))}, connections ${fmt(polRate / freeRate / (before.polRate / before.freeRate))}`);
  const errs = (xs: Round[], k: 'polErrors' | 'freeErrors'): number => xs.reduce((n, x) => n + x[k], 0);
  console.log(`failed connects (a → b / c → d): control ${errs(control, 'polErrors')} / ${errs(control, 'freeErrors')}, with the policies ${errs(rounds, 'polErrors')} / ${errs(rounds, 'freeErrors')}`);
  const agentCpu = (xs: Round[]): string => xs.map((x) => fmt(x.agentCpuMs, 0)).join(' / ');
  console.log(`the agent's CPU (ms, with its children) during each round's two connection measurements: control ${agentCpu(control)}; with the policies ${agentCpu(rounds)}`);
  console.log(`ruleset: ${ruleset.split('\n').length} lines of nft text; load average at the end: ${load}`);
  console.log(`writing ${POLICIES + 1} policies to etcd: ${fmt(writtenMs / 1000)} s; written → programmed and ready: ${fmt(programmedMs / 1000)} s`);
} finally {
  await agent?.destroy();
  for (const p of pods) await p.netns.delete();
  await host.delete();
  await ds.close();
  await etcd.destroy();
}
