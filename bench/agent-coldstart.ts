/**
 * Cold start: an agent starting on a host with 1,000 local workload endpoints (real veths in a
 * host namespace) and 5,000 NetworkPolicies in etcd, until it reports ready (everything
 * programmed). Against the floor of the same run: listing the same keys from etcd plus loading
 * the final ruleset from scratch with one `nft -f` (the unavoidable datastore and kernel work),
 * and the bare process start of the same entry (`margay agent --help`). The agent runs as
 * installed: bin/margay.js (the compiled agent bundle; `npm run build` first) with the Node
 * options of its `#!` line, as `margay agent` runs it; BENCH_NODE_ARGS adds Node options;
 * BENCH_FROM_SOURCES=1 runs it as before issue 14's bundle, from the sources through tsx with the
 * whole CLI. Ready is when the agent logs "dataplane in sync" (its log file watched; /readiness
 * then asked once), or BENCH_READY_POLL_MS=<ms> asks /readiness that often; the agent's CPU time until then is printed too (a
 * figure that a loaded machine disturbs less than the wall clock), and its main thread's (the one
 * that runs JavaScript: what the render and the encoding share). Where the wall clock went: the
 * main thread's time on a CPU, waiting for one (run queue) and asleep (/proc schedstat), the CPU
 * of the agent's other threads by role and of its child processes (the netlink helper), and a
 * timeline of the main thread with the agent's log lines (bench/fixtures/proc-times.ts).
 * BENCH_ROUNDS cold starts (default 5), each from an empty host (no table, no route of the
 * agent's) and each followed by its own floor, so that a ratio compares work done within the same
 * minute (this VM runs the same work up to ~35% slower from one minute to the next); the rounds
 * are printed with their median. The first round (BENCH_DETAIL=all: every round) is shown in
 * detail. Prints figures and ratios; asserts nothing. Run: npx tsx bench/agent-coldstart.ts  (root)
 */
import { spawn, spawnSync } from 'node:child_process';
import { watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { FELIX_STATUS_PREFIX, RESOURCES_PREFIX } from '../src/datastore/keys.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { agentNodeOptions } from '../src/lab/entry.ts';
import { exec } from '../src/os/mod.ts';
import { type AgentProcess, createHost, REPO_ROOT, startAgent } from '../test/agent/lab.ts';
import { etcdctl, startEtcd } from '../test/harness/etcd.ts';
import { createTestNetns } from '../test/harness/netns.ts';
import { MARGAY_ROUTE_PROTOCOL } from '../src/dataplane/routes/routes.ts';
import { descendants, idleTail, loadAverage, processCpuMs, reapedChildrenCpuMs, stealMs, threadGroups, ThreadSampler, threadTimes, timeline, waitQuiet } from './fixtures/proc-times.ts';
import { median } from './fixtures/stats.ts';
import { createScaleInterfaces, NAMESPACES, writeScaleResources } from './fixtures/scale.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);

const secs = (ms: number): string => (ms / 1000).toFixed(2);

/** Cold starts measured, each with its own floor right after it (the machine's speed drifts by ~35% within minutes). */
const ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 5)) || 1);

/** One round's figures. */
interface Round {
  readyMs: number;
  listMs: number;
  nftMs: number;
  processMs: number;
  mainCpuMs: number;
  mainWaitMs: number;
  stolenMs: number;
  rssMiB: number;
  load: string;
  /** How busy the machine was just before the start and just before the floors (waitQuiet). */
  busy: string;
}

const etcd = await startEtcd();
const host = await createHost();
const scratch = await createTestNetns('mga');
let agent: AgentProcess | undefined;
const ds = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
try {
  await createScaleInterfaces(host.name, ENDPOINTS);
  const writeMs = await writeScaleResources(new ResourceStore(ds), ENDPOINTS, POLICIES);
  const fromSources = process.env.BENCH_FROM_SOURCES === '1';
  const extraNodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  // startAgent gives the built agent the `#!` line's options itself.
  const nodeArgs = [...(fromSources ? [] : agentNodeOptions()), ...extraNodeArgs];
  const entry = fromSources ? ['--import', 'tsx', join(REPO_ROOT, 'src/cli/run.ts')] : [join(REPO_ROOT, 'bin/margay.js')];
  console.log(`${ENDPOINTS} local workload endpoints, ${POLICIES} NetworkPolicies, ${NAMESPACES} namespaces (written in ${secs(writeMs)} s); ${ROUNDS} rounds, each a cold start and then its floor`);

  // The bare process start of the same entry (a floor), run once first to read its files into the page cache.
  const startProcess = (): void => void spawnSync(process.execPath, [...nodeArgs, ...entry, 'agent', '--help'], { cwd: REPO_ROOT });
  startProcess();
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Each round starts from an empty host: no table, no route of the agent's (a fresh state
    // directory comes with each agent), and a machine done with the last round's teardown.
    // The last round's endpoint statuses go too: every round's agent finds none and writes them all.
    await exec('nft', ['flush', 'ruleset'], { netns: host.name });
    for (const family of ['-4', '-6']) await exec('ip', [family, 'route', 'flush', 'proto', String(MARGAY_ROUTE_PROTOCOL)], { netns: host.name });
    etcdctl(etcd.endpoints, ['del', '--prefix', FELIX_STATUS_PREFIX]);
    const busyBefore = await waitQuiet();
    const detail = r === 0 || process.env.BENCH_DETAIL === 'all';
    const started = await coldStart({ nodeArgs, extraNodeArgs, fromSources, detail, onAgent: (a) => (agent = a) });
    // The floors with the agent gone and the machine quiet again (after ready the agent writes its
    // 1,000 endpoints' statuses: etcd would serve the list beside those writes).
    const ruleset = (await exec('nft', ['list', 'table', 'inet', 'margay'], { netns: host.name, timeoutMs: 600_000 })).stdout;
    await started.agent.destroy();
    agent = undefined;
    await exec('nft', ['flush', 'ruleset'], { netns: scratch.name });
    const busyFloors = await waitQuiet();
    // Floor 1: bare process start of the same entry.
    const tv = performance.now();
    startProcess();
    const processMs = performance.now() - tv;
    // Floor 2: list everything the agent reads.
    const tl = performance.now();
    const listed = await ds.list(RESOURCES_PREFIX);
    const listMs = performance.now() - tl;
    // Floor 3: the final ruleset loaded from scratch in one transaction.
    const tn = performance.now();
    await exec('nft', ['-f', '-'], { netns: scratch.name, input: ruleset, timeoutMs: 600_000 });
    const nftMs = performance.now() - tn;
    const round: Round = { ...started.figures, listMs, nftMs, processMs, load: loadAverage(), busy: `${busyBefore} / ${busyFloors}` };
    rounds.push(round);
    if (detail) {
      console.log(`\n### Round ${r + 1} in detail\n`);
      console.log(`ruleset: ${(ruleset.length / 2 ** 20).toFixed(1)} MiB of nft text (${ruleset.split('\n').length} lines); ${listed.items.length} keys in etcd`);
      console.log(`| step | seconds |`);
      console.log('|---|---:|');
      for (const [what, ms] of started.steps) console.log(`| ${what} | ${secs(ms)} |`);
      console.log(`| floor: process start (\`margay agent --help\`${fromSources ? ', tsx' : ''}${nodeArgs.length > 0 ? `, node ${nodeArgs.join(' ')}` : ''}) | ${secs(processMs)} |`);
      console.log(`| floor: etcd list of every resource | ${secs(listMs)} |`);
      console.log(`| floor: \`nft -f\` of the final ruleset into an empty namespace | ${secs(nftMs)} |`);
      console.log(`**ratio ready / floor (list + nft load): ${(round.readyMs / (listMs + nftMs)).toFixed(2)}×**; ready / (process start + list + nft load): ${(round.readyMs / (processMs + listMs + nftMs)).toFixed(2)}×; agent RSS after start ${round.rssMiB.toFixed(0)} MiB`);
      for (const line of started.report) console.log(line);
    }
  }

  const ratios = rounds.map((x) => x.readyMs / (x.listMs + x.nftMs));
  console.log(`\n### Every round (ratio = ready / (etcd list + \`nft -f\` of the final ruleset), each against its own floor)\n`);
  console.log('| round | ready s | list s | `nft -f` s | **ratio** | with the process start | main thread on a CPU ms | waiting for a CPU ms | steal ms | RSS MiB | load (1, 5, 15 min) | machine before the start / the floors |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
  rounds.forEach((x, i) => {
    const cells = [i + 1, secs(x.readyMs), secs(x.listMs), secs(x.nftMs), `**${ratios[i]!.toFixed(2)}×**`, `${(x.readyMs / (x.processMs + x.listMs + x.nftMs)).toFixed(2)}×`, x.mainCpuMs.toFixed(0), x.mainWaitMs.toFixed(0), x.stolenMs.toFixed(0), x.rssMiB.toFixed(0), x.load, x.busy];
    console.log(`| ${cells.join(' | ')} |`);
  });
  const within = ratios.filter((x) => x <= 1.5).length;
  console.log(`\n**median ratio ${median(ratios).toFixed(2)}×** (goal ≤ 1.5×; ${within} of ${ROUNDS} rounds within it, range ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×); median ready ${secs(median(rounds.map((x) => x.readyMs)))} s (goal ≤ 3 s; slowest ${secs(Math.max(...rounds.map((x) => x.readyMs)))} s); median main thread on a CPU ${median(rounds.map((x) => x.mainCpuMs)).toFixed(0)} ms`);
} finally {
  await agent?.destroy();
  await scratch.delete();
  await host.delete();
  await ds.close();
  await etcd.destroy();
}

/**
 * One cold start: the agent started on the prepared host until it reports ready. Returns its
 * figures, the rows of its steps, and (with `detail`) the report of where its time went.
 */
async function coldStart(o: { nodeArgs: string[]; extraNodeArgs: string[]; fromSources: boolean; detail: boolean; onAgent: (agent: AgentProcess) => void }): Promise<{
  agent: AgentProcess;
  figures: Omit<Round, 'listMs' | 'nftMs' | 'processMs' | 'load' | 'busy'>;
  steps: Array<[string, number]>;
  report: string[];
}> {
  const t0 = performance.now();
  const t0Epoch = Date.now();
  // What else runs during the start (the bench's polls and sampling, etcd serving the list).
  const benchCpu0 = process.cpuUsage();
  const etcdCpu0 = processCpuMs(etcd.pid);
  // CPU time the hypervisor gave to others while this VM's CPUs wanted it (steal), until ready.
  const steal0 = stealMs();
  // BENCH_CPU_PROF=<dir>: the agent writes a V8 CPU profile there (it is stopped with SIGTERM).
  const profDir = process.env.BENCH_CPU_PROF;
  const agent = await startAgent({
    etcdEndpoints: etcd.endpoints,
    hostname: 'host1',
    netns: host.name,
    // MARGAY_LOAD_AHEAD=nft: the load ahead through nft instead of netlink batches; MARGAY_SWITCH_ON=nft:
    // the last transaction through nft (to compare).
    env: {
      MARGAY_LOGSEVERITYSCREEN: 'info',
      ...(process.env.MARGAY_LOAD_AHEAD ? { MARGAY_LOAD_AHEAD: process.env.MARGAY_LOAD_AHEAD } : {}),
      ...(process.env.MARGAY_SWITCH_ON ? { MARGAY_SWITCH_ON: process.env.MARGAY_SWITCH_ON } : {}),
    },
    built: !o.fromSources,
    nodeArgs: [...o.extraNodeArgs, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [])],
  });
  // Known to the caller at once, so that its cleanup stops this agent if the round fails.
  o.onAgent(agent);
  // The main thread's on-CPU and run-queue time, read every 5 ms: a timeline of where it waits.
  const sampler = new ThreadSampler(agent.pid!, t0);
  // BENCH_PERF=<file>: `perf record` of the agent's threads and children until ready (on-CPU samples
  // only, unlike V8's profiler: `perf report -i <file> --sort pid,sym` names what each thread ran).
  const perf = process.env.BENCH_PERF && o.detail ? spawn('perf', ['record', '-F', '997', '-p', String(agent.pid), '-o', process.env.BENCH_PERF], { stdio: 'ignore' }) : undefined;
  // The main thread's CPU when the snapshot is in the graph (the agent logs it at in-sync, just
  // before the graph's first flush), read as soon as the line shows.
  let snapshotMainMs = NaN;
  const onLog = (logs: string): void => {
    if (Number.isNaN(snapshotMainMs) && logs.includes('datastore snapshot complete')) snapshotMainMs = processCpuMs(agent.pid, agent.pid);
  };
  // Ready: by default when the agent logs "dataplane in sync" (the step that reports it ready),
  // seen through inotify on its log file, and /readiness then asked once to confirm. Asking
  // /readiness every 10 ms instead (BENCH_READY_POLL_MS=10, as before session 13) costs the agent's
  // main thread ~18 ms of HTTP answers and the machine ~0.1 s of CPU during the start it measures.
  const pollMs = process.env.BENCH_READY_POLL_MS;
  try {
    if (pollMs) await agent.waitReady(1_800_000, Number(pollMs));
    else await logLine(agent, 'dataplane in sync', onLog, 1_800_000);
  } catch (err) {
    perf?.kill('SIGINT');
    throw err;
  } finally {
    sampler.stop();
  }
  if (!pollMs && (await agent.health()) !== 200) throw new Error(`the agent logged "dataplane in sync" but /readiness does not answer 200:\n${agent.logs().split('\n').slice(-20).join('\n')}`);
  const readyMs = performance.now() - t0;
  if (perf) {
    perf.kill('SIGINT');
    await new Promise((resolve) => perf.once('exit', resolve));
  }
  sampler.sample();
  const stolenMs = stealMs() - steal0;
  const benchCpu = process.cpuUsage(benchCpu0);
  const beside = { benchMs: (benchCpu.user + benchCpu.system) / 1000, etcdMs: processCpuMs(etcd.pid) - etcdCpu0 };
  const cpuMs = processCpuMs(agent.pid);
  const mainThreadMs = processCpuMs(agent.pid, agent.pid);
  const mainTimes = threadTimes(agent.pid!);
  const groups = threadGroups(agent.pid!, o.nodeArgs);
  const children = descendants(agent.pid!);
  const reapedMs = reapedChildrenCpuMs(agent.pid!);
  // BENCH_AGENT_LOG=<file>: the agent's output until ready (its log, and what Node prints with
  // BENCH_NODE_ARGS such as --trace-gc) copied there (the first round's).
  if (process.env.BENCH_AGENT_LOG && o.detail) writeFileSync(process.env.BENCH_AGENT_LOG, agent.logs());
  const lines = agent.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { time: string; msg: string });
  const at = (msg: string): number => Date.parse(lines.find((l) => l.msg === msg)?.time ?? '');
  const startToSnapshot = at('datastore snapshot complete; programming the dataplane') - at('agent starting');
  const snapshotToSync = at('dataplane in sync') - at('datastore snapshot complete; programming the dataplane');
  const metrics = await agent.metrics();
  const gauge = (name: string): string => new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? '?';
  const rssMiB = Number(gauge('process_resident_memory_bytes')) / 2 ** 20;
  // How the transactions until ready went (the cold start's last one: by netlink, or through nft).
  const via = (path: string): string => new RegExp(`^margay_dataplane_transactions_total\\{via="${path}"\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? '0';
  if (profDir) await agent.kill('SIGTERM');
  const steps: Array<[string, number]> = [
    ['agent process start → ready (everything programmed)', readyMs],
    ['&nbsp;&nbsp;the agent\'s CPU time (user + system, all its threads) until then', cpuMs],
    ['&nbsp;&nbsp;of which its main (JavaScript) thread\'s', mainThreadMs],
    ['&nbsp;&nbsp;&nbsp;&nbsp;of which until the snapshot is in the graph (start, list, snapshot; ±10 ms)', snapshotMainMs],
    ['&nbsp;&nbsp;of which "agent starting" → snapshot received', startToSnapshot],
    ['&nbsp;&nbsp;of which snapshot → dataplane in sync (graph + first apply)', snapshotToSync],
  ];
  const report = o.detail
    ? [
        `transactions until ready: ${via('netlink')} by netlink, ${via('nft')} through nft`,
        ...whereTimeWent({ readyMs, mainTimes, groups, children, reapedMs, beside, samples: sampler.samples, lines, t0Epoch }),
        `CPU stolen by the hypervisor until ready (steal, all CPUs): ${stolenMs.toFixed(0)} ms`,
      ]
    : [];
  return { agent, figures: { readyMs, mainCpuMs: mainTimes.cpuMs, mainWaitMs: mainTimes.waitMs, stolenMs, rssMiB }, steps, report };
}

/**
 * Where the wall clock to ready went: the main thread on a CPU, waiting for one, or asleep; the
 * other threads and the child processes; and a timeline of the main thread (BENCH_BUCKET_MS
 * slices, 100 by default) with the agent's log lines, ms after the spawn.
 */
function whereTimeWent(r: {
  readyMs: number;
  mainTimes: ReturnType<typeof threadTimes>;
  groups: ReturnType<typeof threadGroups>;
  children: ReturnType<typeof descendants>;
  reapedMs: number;
  beside: { benchMs: number; etcdMs: number };
  samples: ThreadSampler['samples'];
  lines: Array<{ time: string | number; msg: string }>;
  t0Epoch: number;
}): string[] {
  const out: string[] = [];
  const ms = (v: number): string => v.toFixed(0);
  const sleep = r.readyMs - r.mainTimes.cpuMs - r.mainTimes.waitMs;
  out.push(`main thread to ready (schedstat): on a CPU ${ms(r.mainTimes.cpuMs)} ms, waiting for a CPU ${ms(r.mainTimes.waitMs)} ms, asleep ${ms(sleep)} ms (wall ${ms(r.readyMs)} ms)`);
  const others = r.groups.filter((g) => !g.role.startsWith('main'));
  out.push(`other threads: ${others.map((g) => `${g.role} ×${g.threads} ${ms(g.cpuMs)} ms CPU (+${ms(g.waitMs)} queued)`).join('; ')}`);
  const byComm = new Map<string, { n: number; cpuMs: number }>();
  for (const c of r.children) {
    const e = byComm.get(c.comm) ?? { n: 0, cpuMs: 0 };
    e.n++;
    e.cpuMs += c.cpuMs;
    byComm.set(c.comm, e);
  }
  out.push(`child processes (live, with what they reaped; 10 ms ticks): ${[...byComm].map(([comm, e]) => `${comm} ×${e.n} ${ms(e.cpuMs)} ms`).join('; ') || 'none'}; reaped by the agent ${ms(r.reapedMs)} ms`);
  out.push(`beside the agent until ready: this bench ${ms(r.beside.benchMs)} ms CPU (${process.env.BENCH_READY_POLL_MS ? `readiness asked every ${process.env.BENCH_READY_POLL_MS} ms` : 'the log watched, readiness asked once'}, these readings), etcd ${ms(r.beside.etcdMs)} ms`);
  const bucketMs = Number(process.env.BENCH_BUCKET_MS ?? 100);
  const buckets = timeline(r.samples, bucketMs, r.readyMs);
  const tail = idleTail(buckets);
  out.push(
    tail
      ? `main thread idle from ${ms(tail.fromMs)} ms to ready (${ms(r.readyMs - tail.fromMs)} ms; it ran ${ms(tail.runMs)} ms and queued ${ms(tail.waitMs)} ms in it)`
      : 'main thread busy until ready',
  );
  const events = r.lines.map((l) => ({ at: Number(typeof l.time === 'number' ? l.time : Date.parse(l.time)) - r.t0Epoch, msg: l.msg }));
  out.push(`| ms after spawn | main: on CPU | run queue | asleep | agent log |`);
  out.push('|---:|---:|---:|---:|---|');
  for (const b of buckets) {
    const said = events.filter((e) => e.at >= b.fromMs && e.at < b.toMs).map((e) => `${ms(e.at)}: ${e.msg}`);
    out.push(`| ${ms(b.fromMs)}–${ms(b.toMs)} | ${ms(b.runMs)} | ${ms(b.waitMs)} | ${ms(b.sleepMs)} | ${said.join('; ')} |`);
  }
  return out;
}

/**
 * Resolves when the agent's log holds `text`, read again at every change of its file (inotify)
 * and every 200 ms (so that an exit is noticed); `onLog` sees the log at each reading.
 */
async function logLine(agent: AgentProcess, text: string, onLog: (logs: string) => void, timeoutMs: number): Promise<void> {
  const watcher = watch(agent.logFile);
  let timer: NodeJS.Timeout | undefined;
  let tick: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        const logs = agent.logs();
        onLog(logs);
        if (logs.includes(text)) resolve();
        else if (!agent.running) reject(new Error(`the agent exited before logging "${text}":\n${logs.split('\n').slice(-20).join('\n')}`));
      };
      watcher.on('change', check);
      watcher.on('error', reject);
      tick = setInterval(check, 200);
      timer = setTimeout(() => reject(new Error(`no "${text}" in the agent's log after ${timeoutMs} ms`)), timeoutMs);
      check();
    });
  } finally {
    clearTimeout(timer);
    clearInterval(tick);
    watcher.close();
  }
}

