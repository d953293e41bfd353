/**
 * CNI ADD and DEL latency: Margay's `margay` plugin (thin client → the agent's CNI service over
 * its unix socket) against the stock `ptp` + `host-local` plugins (Debian containernetworking-
 * plugins), in the same run, on the same host namespace, driven the same way (the plugin binary
 * executed with the CNI environment and the configuration on stdin, from inside the host's
 * namespace, as a runtime does). Margay's ADD includes the IPAM write to etcd and the
 * WorkloadEndpoint write, and, through the agent (`margay agent --cni-socket`), the wait until
 * the endpoint's policy is in nftables. A second phase runs the CNI service alone (no dataplane)
 * to show what the CNI path itself costs.
 *
 * Part 1 measures the forms the thin client could take (the numbers that chose C): the same
 * request through each form, against an agent stub that answers at once.
 *
 * Prints percentiles and ratios; asserts nothing. Run (root): npx tsx bench/cni.ts
 * Environment: BENCH_N (attachments per plugin, default 60), BENCH_CLIENT_RUNS (default 40),
 * BENCH_ROUNDS (rounds of the sequential runs, pooled; default 1), BENCH_PHASES (default client,agent,service), BENCH_BURST (containers at once after the
 * sequential runs through the agent, default 20; a list such as `20,100` for several bursts; 0
 * for none), BENCH_BURST_ROUNDS (bursts of each size per plugin, default 4), BENCH_WARMUP (uncounted ADD+DEL pairs first, default 1), BENCH_AGENT_LOG (a file to keep the agent's log in), BENCH_AGENT_NODE_ARGS (Node
 * options of the agent, e.g. `--cpu-prof --cpu-prof-dir=DIR`), BENCH_AGENT_ENV (`NAME=value …`
 * agent parameters over the lab's, which renew the host status every second and write endpoint
 * statuses every 100 ms; e.g. `MARGAY_REPORTINGINTERVAL=30 MARGAY_ENDPOINTREPORTINGDELAY=1`, the
 * defaults), BENCH_AGENT_ALLOC (a file: the agent's allocations during the sequential ADDs, a
 * sampling heap profile with collected objects, for bench/alloc-summary.ts). The agent runs as installed when dist/ is built (BENCH_BUILT, below). Every table is printed with the machine's load average (`/proc/loadavg`) when it
 * was measured: figures from a loaded machine are not comparable with a quiet one's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { validateResource } from '../src/api/validate.ts';
import { agentNodeOptions } from '../src/lab/entry.ts';
import { createHost, startAgent, type AgentProcess } from '../test/agent/lab.ts';
import { registerCleanup } from '../test/harness/cleanup.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { createTestNetns, type TestNetns } from '../test/harness/netns.ts';
import { CLIENT, ensureClient, REPO } from '../test/cni/binary.ts';
import { loadAverage, waitQuiet } from './fixtures/proc-times.ts';
import { evenRounds, median } from './fixtures/stats.ts';

const N = Number(process.env.BENCH_N ?? 60);
/**
 * Rounds of the sequential runs (default 1): each round ADDs the N attachments one after another,
 * then DELs them, with new container IDs; the percentiles are of all rounds together (p99 of 5
 * rounds of 200 is the 10th largest of 1,000 rather than the 2nd largest of 200), and each
 * round's own p50 and p99 ratios are printed beside them.
 */
const ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ROUNDS ?? 1)) || 1);
// Container IDs: the sequential runs' are below 100,000; the warm-up's and the bursts' above.
if (ROUNDS * N >= 100_000) throw new Error(`BENCH_ROUNDS × BENCH_N must stay below 100,000 (got ${ROUNDS * N})`);
const CLIENT_RUNS = Number(process.env.BENCH_CLIENT_RUNS ?? 40);
/** Which parts to run: `client` (client forms), `agent` (through the agent), `service` (the CNI service alone). */
const PHASES = (process.env.BENCH_PHASES ?? 'client,agent,service').split(',');
/** Containers ADDed at once after the sequential runs through the agent (0: none), one burst per size. */
const BURSTS = (process.env.BENCH_BURST ?? '20').split(',').map(Number).filter((n) => n > 0);
/**
 * Bursts of each size per plugin (BENCH_BURST_ROUNDS, default 4, rounded up to an even number:
 * each plugin goes first equally often). One burst is one sample of ~0.1–0.7 s, which a single
 * slow moment decides; the medians over the rounds are compared.
 */
const BURST_ROUNDS = evenRounds(process.env.BENCH_BURST_ROUNDS, 4);
if (BURSTS.some((size) => size > 1000)) throw new Error('BENCH_BURST sizes must be at most 1,000 (container IDs per round)');
const NODE = 'bench-node';
/** Uncounted ADD+DEL pairs per plugin before the sequential runs. */
const WARMUP = Math.max(1, Number(process.env.BENCH_WARMUP ?? 1));
/**
 * The agent as installed: the compiled CLI (`bin/margay.js`, the agent's bundle) with the Node
 * option its `#!` line gives it, when `dist/` is built (`npm run build`); else the sources through
 * tsx (another module loader thread, V8's default young generation). BENCH_BUILT=0/1 forces either.
 */
const BUILT = process.env.BENCH_BUILT !== undefined ? process.env.BENCH_BUILT === '1' : existsSync(join(REPO, 'dist/src/cli/run.js'));
/** A file to write the agent's allocations during the sequential ADDs to (V8's sampling heap profile, collected objects included; bench/alloc-summary.ts reads it). */
const AGENT_ALLOC = process.env.BENCH_AGENT_ALLOC;
const AGENT_NODE_ARGS = [
  ...(BUILT ? agentNodeOptions() : []),
  ...(AGENT_ALLOC ? ['--import', join(REPO, 'bench/fixtures/alloc-sampling.mjs')] : []),
  ...(process.env.BENCH_AGENT_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
];

/** The value at rank floor(p% × n) (0-based) of the sorted values: p99 of up to 100 values is the largest, p90 of 40 the 4th largest. */
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** The machine's load averages (1, 5, 15 min), for the heading of each table. */
function load(): string {
  return `load average ${loadAverage()}`;
}

function row(cells: (string | number)[]): string {
  return `| ${cells.map((c) => (typeof c === 'number' ? c.toFixed(1) : c)).join(' | ')} |`;
}

/** CPU time (ms) of each of a process's threads so far, by thread name (`/proc/<pid>/task/<tid>/comm`; several threads of one name summed). */
function threadCpuMs(pid: number | undefined): Map<string, number> {
  const out = new Map<string, number>();
  if (pid === undefined) return out;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const name = tid === String(pid) ? 'main' : readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      const ms = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
      out.set(name, (out.get(name) ?? 0) + ms);
    }
  } catch {
    // the process is gone
  }
  return out;
}

/** Cumulative counters by name (CPU ms by thread, etcd's metrics): read before and after a span. */
type Counters = Map<string, number>;

/** Adds the span `b − a` (key by key) into `sum`. */
function addSpan(sum: Counters, a: Counters, b: Counters): void {
  for (const [k, v] of b) sum.set(k, (sum.get(k) ?? 0) + v - (a.get(k) ?? 0));
}

/** Per-thread CPU over the spans, per `n` operations, the busiest first. */
function describeThreads(span: Counters, n: number): string {
  return [...span].map(([k, v]): [string, number] => [k, v / n]).filter(([, v]) => v >= 0.01).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
}

/** Runs a program with exactly `env` and `stdin`; resolves with its exit code, output and wall time. */
function timed(cmd: string, args: string[], env: Record<string, string>, stdin: string): Promise<{ ms: number; code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', () => undefined);
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms: performance.now() - start, code: code ?? 1, stdout }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

// ---------------------------------------------------------------------------------------------
// Part 1: the forms of the thin client.

async function clientForms(dir: string): Promise<void> {
  const sock = join(dir, 'stub.sock');
  const stub = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = '{"cniVersion":"1.0.0","ips":[]}\n';
      res.writeHead(200, { 'content-length': Buffer.byteLength(body), connection: 'close' });
      res.end(body);
    });
  });
  await new Promise<void>((r) => stub.listen(sock, r));
  const curlScript = join(dir, 'margay-curl.sh');
  writeFileSync(
    curlScript,
    `#!/bin/bash
h=()
for v in CNI_COMMAND CNI_CONTAINERID CNI_NETNS CNI_IFNAME CNI_ARGS CNI_PATH; do [ -n "\${!v+x}" ] && h+=(-H "X-$v: \${!v}"); done
out=$(curl -sS --unix-socket "$MARGAY_CNI_SOCKET" -w '\\n%{http_code}' --data-binary @- "\${h[@]}" http://margay/v1/cni) || { echo '{"code":11}'; exit 1; }
code=\${out##*$'\\n'}; printf '%s' "\${out%$'\\n'*}"; [ "$code" = 200 ]
`,
  );
  chmodSync(curlScript, 0o755);
  const nodeScript = join(dir, 'margay-node.mjs');
  writeFileSync(
    nodeScript,
    `import http from 'node:http';
const chunks = []; for await (const c of process.stdin) chunks.push(c);
const body = Buffer.concat(chunks);
const headers = { 'content-length': body.length };
for (const v of ['CNI_COMMAND','CNI_CONTAINERID','CNI_NETNS','CNI_IFNAME','CNI_ARGS','CNI_PATH']) if (process.env[v] !== undefined) headers['X-' + v] = process.env[v];
const req = http.request({ socketPath: process.env.MARGAY_CNI_SOCKET, method: 'POST', path: '/v1/cni', headers }, (res) => {
  const out = []; res.on('data', (d) => out.push(d)); res.on('end', () => { process.stdout.write(Buffer.concat(out)); process.exitCode = res.statusCode === 200 ? 0 : 1; });
});
req.on('error', () => { process.stdout.write('{"code":11}'); process.exitCode = 1; });
req.end(body);
`,
  );
  const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', MARGAY_CNI_SOCKET: sock };
  const input = '{"cniVersion":"1.0.0","name":"x","type":"margay"}';
  const forms: [string, string, string[]][] = [
    ['floor: /bin/true', '/bin/true', []],
    ['C client (native/cni-client.c)', CLIENT, []],
    ['bash + curl --unix-socket', curlScript, []],
    ['floor: node -e 0', process.execPath, ['-e', '0']],
    ['Node client (one .mjs, no deps)', process.execPath, [nodeScript]],
  ];
  const results: { name: string; p50: number; p90: number; p99: number }[] = [];
  for (const [name, cmd, args] of forms) {
    const t: number[] = [];
    for (let i = 0; i < CLIENT_RUNS; i++) {
      // Interleave so that load from the rest of the machine hits every form alike.
      const r = await timed(cmd, args, env, input);
      if (r.code !== 0 && !name.startsWith('floor')) throw new Error(`${name} failed: ${r.stdout}`);
      t.push(r.ms);
    }
    results.push({ name, p50: percentile(t, 50), p90: percentile(t, 90), p99: percentile(t, 99) });
  }
  stub.close();
  const c = results.find((r) => r.name.startsWith('C client'))!;
  console.log(`\n### Thin client forms (${CLIENT_RUNS} runs each, stub agent answering at once)\n`);
  console.log('| form | p50 ms | p90 ms | p99 ms | p50 / C client |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of results) console.log(row([r.name, r.p50, r.p90, r.p99, `${(r.p50 / c.p50).toFixed(1)}×`]));
}

// ---------------------------------------------------------------------------------------------
// Part 2: ADD/DEL, Margay against ptp + host-local.

/**
 * Where an ADD's time goes inside the service: the median of each step's finishing time (ms since
 * the request reached the service), from the `attachment added` log lines' `steps`.
 */
function printTimeline(log: string, what: 'ADD' | 'DEL' = 'ADD'): void {
  const byStep = new Map<string, number[]>();
  const total: number[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes(what === 'ADD' ? '"attachment added"' : '"attachment deleted"')) continue;
    const entry = JSON.parse(line) as { ms?: number; steps?: Record<string, number> };
    if (entry.ms === undefined || entry.steps === undefined) continue; // an older agent's DEL line
    total.push(entry.ms);
    for (const [k, v] of Object.entries(entry.steps)) byStep.set(k, [...(byStep.get(k) ?? []), v]);
  }
  if (total.length === 0) return;
  const cells = [...byStep].map(([k, v]) => `${k} ${percentile(v, 50).toFixed(1)}`);
  const whole = `whole ${what} ${percentile(total, 50).toFixed(1)} (p90 ${percentile(total, 90).toFixed(1)}, max ${Math.max(...total).toFixed(1)})`;
  console.log(`\nInside the service, p50 of when each ${what} step finished (ms from the request): ${cells.join(', ')}; ${whole}`);
}

interface Plugin {
  name: string;
  binary: string;
  conf: string;
}

/** Where Margay's CNI service runs in a phase. */
type Host = 'agent' | 'service-only';

async function attachments(dir: string, mode: Host): Promise<void> {
  const etcd = await startEtcd();
  const host = await createHost();
  const containers: TestNetns[] = [];
  let service: ChildProcess | undefined;
  let agent: AgentProcess | undefined;
  const undo = registerCleanup(() => {
    if (service?.pid !== undefined && service.exitCode === null) process.kill(service.pid, 'SIGKILL');
  });
  const ds = new EtcdDatastore({ endpoints: etcd.endpoints });
  const socket = join(dir, `cni-${mode}.sock`);
  const serviceLog = join(dir, `cni-${mode}.log`);
  try {
    const store = new ResourceStore(ds);
    for (const r of [
      { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'bench-pool' }, spec: { cidr: '10.244.0.0/16', blockSize: 26 } },
      { apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: NODE }, spec: {} },
      // What a cluster typically has: a default deny and an allow, so the agent has policy to program.
      { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'bench-deny' }, spec: { order: 1000, selector: 'all()', types: ['Ingress'] } },
      { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'bench-allow-web' }, spec: { order: 10, selector: "app == 'web'", ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }] } },
    ]) {
      await store.apply(validateResource(r));
    }
    if (mode === 'agent') {
      // The product: `margay agent` hosts the CNI service; ADD answers once the policy is programmed.
      // BENCH_AGENT_ENV: agent parameters over the lab's (`MARGAY_ENDPOINTREPORTINGDELAY=1 MARGAY_REPORTINGINTERVAL=30`: the defaults).
      const env = Object.fromEntries((process.env.BENCH_AGENT_ENV ?? '').split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      if (AGENT_ALLOC) env.MARGAY_BENCH_ALLOC = AGENT_ALLOC;
      agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: NODE, netns: host.name, args: ['--cni-socket', socket], built: BUILT, nodeArgs: AGENT_NODE_ARGS, env });
      await agent.waitReady();
    } else {
      // The CNI path alone: the same service in its own process, with no dataplane behind it.
      const args = JSON.stringify({ etcdEndpoints: etcd.endpoints, hostname: NODE, hostNetns: host.name, socketPath: socket, logFile: serviceLog });
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/cni/fixtures/cni-agent.ts', args], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
      service = child;
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', () => resolve());
        child.once('exit', (code) => reject(new Error(`the CNI service exited (${code})`)));
      });
    }

    const plugins: Plugin[] = [
      {
        name: mode === 'agent' ? 'margay (agent; policy programmed before the answer)' : 'margay (CNI service alone, no dataplane)',
        binary: CLIENT,
        conf: JSON.stringify({ cniVersion: '1.0.0', name: 'bench-margay', type: 'margay', agent_socket: socket, args: { cni: { labels: [{ key: 'app', value: 'web' }] } } }),
      },
      {
        name: 'ptp + host-local',
        binary: '/usr/lib/cni/ptp',
        conf: JSON.stringify({
          cniVersion: '1.0.0',
          name: 'bench-ptp',
          type: 'ptp',
          ipMasq: false,
          ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, `host-local-${mode}`) },
        }),
      },
    ];
    for (let i = 0; i < N * plugins.length; i++) containers.push(await createTestNetns('mgbench'));

    /** Each plugin's ADD and DEL wall times (ms), by plugin name: one per round, and the rounds pooled below. */
    type Times = Map<string, { add: number[]; del: number[] }>;
    const noTimes = (): Times => new Map(plugins.map((p) => [p.name, { add: [], del: [] }]));
    /** Margay's sequential ADDs' wall times by container ID, to join with the service's log lines. */
    const margayAdds = new Map<string, number>();
    const run = async (p: Plugin, cmd: 'ADD' | 'DEL', i: number, ns: TestNetns): Promise<number> => {
      const env = { CNI_COMMAND: cmd, CNI_CONTAINERID: `bench-${i}`, CNI_NETNS: `/run/netns/${ns.name}`, CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni' };
      // As a runtime in the host's namespace runs it (ptp creates its veth where it runs).
      const r = await timed('nsenter', [`--net=/run/netns/${host.name}`, p.binary], env, p.conf);
      if (r.code !== 0) throw new Error(`${p.name} ${cmd} failed: ${r.stdout}`);
      if (p === plugins[0] && cmd === 'ADD' && i < ROUNDS * N) margayAdds.set(env.CNI_CONTAINERID, r.ms);
      return r.ms;
    };
    // Warm-up (first block claim, first profile, caches), not counted: BENCH_WARMUP ADD+DEL pairs
    // per plugin (default 1). The agent's first ~10 ADDs run colder code (V8 has not optimised
    // it yet: in-service p50 ~8 ms against ~5 ms from the 20th on, docs/cni.md session 11).
    for (let w = 0; w < WARMUP; w++) {
      for (const [k, p] of plugins.entries()) {
        const ns = await createTestNetns('mgbench');
        containers.push(ns);
        await run(p, 'ADD', 100_000 + w * plugins.length + k, ns);
        await run(p, 'DEL', 100_000 + w * plugins.length + k, ns);
      }
    }
    // Interleaved, so that whatever else the machine does hits both alike.
    const quiet = await waitQuiet();
    // Monotonic clock (µs), the clock of V8's CPU profiles: to cut an agent's --cpu-prof to the loops.
    const mark = (what: string): void => void (process.env.BENCH_AGENT_NODE_ARGS && console.log(`mark ${what} ${process.hrtime.bigint() / 1000n}`));
    mark('add-start');
    // The sequential runs, ROUNDS times over the same namespaces: CPU by thread and etcd's counters
    // summed over the ADD loops and over the DEL loops.
    const addSpans: Counters = new Map();
    const delSpans: Counters = new Map();
    const etcdSpans: Counters = new Map();
    const perRound: Times[] = [];
    // The allocation profile (BENCH_AGENT_ALLOC) covers the first round's sequential ADDs: SIGUSR2
    // starts and stops it. The marks for a CPU profile: add-start → add-end is the first round's ADDs.
    const allocToggle = (): void => void (AGENT_ALLOC && agent?.pid !== undefined && process.kill(agent.pid, 'SIGUSR2'));
    for (let r = 0; r < ROUNDS; r++) {
      const round = noTimes();
      const record = (p: Plugin, cmd: 'ADD' | 'DEL', ms: number): void => void round.get(p.name)![cmd === 'ADD' ? 'add' : 'del'].push(ms);
      const threads0 = threadCpuMs(agent?.pid);
      const etcd0 = await etcdCounters(etcd.endpoints[0]!);
      if (r === 0) allocToggle();
      for (let i = 0; i < N; i++) {
        for (const [k, p] of plugins.entries()) record(p, 'ADD', await run(p, 'ADD', r * N + i, containers[i * plugins.length + k]!));
      }
      if (r === 0) {
        mark('add-end');
        allocToggle();
      }
      const threads1 = threadCpuMs(agent?.pid);
      addSpan(etcdSpans, etcd0, await etcdCounters(etcd.endpoints[0]!));
      for (let i = 0; i < N; i++) {
        for (const [k, p] of plugins.entries()) record(p, 'DEL', await run(p, 'DEL', r * N + i, containers[i * plugins.length + k]!));
      }
      addSpan(addSpans, threads0, threads1);
      addSpan(delSpans, threads1, threadCpuMs(agent?.pid));
      perRound.push(round);
    }
    mark('del-end');

    const times = noTimes();
    for (const [name, t] of times) for (const round of perRound) for (const cmd of ['add', 'del'] as const) t[cmd].push(...round.get(name)![cmd]);
    const base = times.get('ptp + host-local')!;
    const mine = times.get(plugins[0]!.name)!;
    const how = mode === 'agent' ? `Margay through the agent (${BUILT ? 'compiled' : 'sources through tsx'}${AGENT_NODE_ARGS.length > 0 ? `, node ${AGENT_NODE_ARGS.join(' ')}` : ''})` : 'Margay\'s CNI service alone';
    const rounds = ROUNDS > 1 ? `, ${ROUNDS} rounds pooled (${ROUNDS * N} ADDs and DELs each)` : '';
    console.log(`\n### ADD and DEL, ${N} attachments each, sequential${rounds}${WARMUP > 1 ? ` after ${WARMUP} uncounted` : ''}, ${how} (machine ${quiet} before; ${load()})\n`);
    console.log('| plugin | ADD p50 | ADD p90 | ADD p99 | DEL p50 | DEL p90 | DEL p99 |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const p of plugins) {
      const t = times.get(p.name)!;
      console.log(row([p.name, percentile(t.add, 50), percentile(t.add, 90), percentile(t.add, 99), percentile(t.del, 50), percentile(t.del, 90), percentile(t.del, 99)]));
    }
    const ratio = (a: number[], b: number[], q: number) => `${(percentile(a, q) / percentile(b, q)).toFixed(2)}×`;
    console.log(row(['**ratio margay / ptp**', ratio(mine.add, base.add, 50), ratio(mine.add, base.add, 90), ratio(mine.add, base.add, 99), ratio(mine.del, base.del, 50), ratio(mine.del, base.del, 90), ratio(mine.del, base.del, 99)]));
    console.log('\n(times in ms, wall clock from exec to exit; ratios below 1 mean Margay is faster)');
    if (ROUNDS > 1) {
      const each = (q: number, cmd: 'add' | 'del'): string =>
        perRound.map((x) => (percentile(x.get(plugins[0]!.name)![cmd], q) / percentile(x.get(plugins[1]!.name)![cmd], q)).toFixed(2)).join(' / ');
      console.log(`\nEach round's ratios: ADD p50 ${each(50, 'add')}, p99 ${each(99, 'add')}; DEL p50 ${each(50, 'del')}, p99 ${each(99, 'del')}`);
    }
    const total = (span: Counters): number => [...span.values()].reduce((a, b) => a + b, 0);
    const ops = ROUNDS * N;
    if (agent) console.log(`\nThe agent's CPU time (all threads), per sequential ADD ${(total(addSpans) / ops).toFixed(2)} ms, per DEL ${(total(delSpans) / ops).toFixed(2)} ms`);
    if (agent) console.log(`By thread, per sequential ADD (ms): ${describeThreads(addSpans, ops)}`);
    if (agent) console.log(`By thread, per sequential DEL (ms): ${describeThreads(delSpans, ops)}`);
    console.log(`etcd's WAL fsyncs during the sequential ADDs: ${describeFsyncs(etcdSpans)}; etcd requests per ADD: ${describeRequests(etcdSpans, ops)}`);
    await execFloors(host.name, plugins);
    const serviceLogs = mode === 'agent' ? agent!.logs() : readFileSync(serviceLog, 'utf8');
    printTimeline(serviceLogs);
    printTimeline(serviceLogs, 'DEL');
    printSlowest(serviceLogs, margayAdds, base.add);
    if (mode === 'agent') for (const size of BURSTS) await burst(plugins, run, size, () => agent!.logs());
    if (mode === 'agent') printAgentErrors(agent!.logs());
  } finally {
    if (service && service.exitCode === null) {
      const s = service;
      const exited = new Promise((r) => s.once('exit', r));
      s.kill('SIGTERM');
      await exited;
    }
    undo();
    // A clean exit, so that a --cpu-prof is written.
    if (process.env.BENCH_AGENT_NODE_ARGS) await agent?.kill('SIGTERM');
    if (agent && process.env.BENCH_AGENT_LOG) writeFileSync(process.env.BENCH_AGENT_LOG, agent.logs());
    await agent?.destroy();
    for (const c of containers) await c.delete();
    await host.delete();
    await ds.close();
    await etcd.destroy();
  }
}

/**
 * etcd's counters: its WAL fsync histogram (`etcd_disk_wal_fsync_duration_seconds`: `fsync le
 * <s>` cumulative counts by upper bound, `fsync sum`, `fsync count`) and the requests started
 * (`request <method>`).
 */
async function etcdCounters(endpoint: string): Promise<Counters> {
  const text = await (await fetch(`${endpoint}/metrics`)).text();
  const out: Counters = new Map();
  for (const line of text.split('\n')) {
    const r = /^grpc_server_started_total\{grpc_method="([^"]+)",grpc_service="[^"]+",grpc_type="([^"]+)"\} (\S+)/.exec(line);
    if (r) out.set(`request ${r[2] === 'unary' ? r[1]! : `${r[1]} (${r[2]})`}`, Number(r[3]));
    const b = /^etcd_disk_wal_fsync_duration_seconds_bucket\{le="([^"]+)"\} (\S+)/.exec(line);
    if (b) out.set(`fsync le ${Number(b[1])}`, Number(b[2]));
    else if (line.startsWith('etcd_disk_wal_fsync_duration_seconds_sum ')) out.set('fsync sum', Number(line.split(' ')[1]));
    else if (line.startsWith('etcd_disk_wal_fsync_duration_seconds_count ')) out.set('fsync count', Number(line.split(' ')[1]));
  }
  return out;
}

/** How many fsyncs over the spans, their mean, and how many took longer than 4, 8 and 16 ms. */
function describeFsyncs(span: Counters): string {
  const n = span.get('fsync count') ?? 0;
  const over = (le: number): number => n - (span.get(`fsync le ${le}`) ?? 0);
  return `${n}, mean ${n > 0 ? (((span.get('fsync sum') ?? 0) / n) * 1000).toFixed(2) : '-'} ms, over 4 ms ${over(0.004)}, over 8 ms ${over(0.008)}, over 16 ms ${over(0.016)}`;
}

/** etcd requests started over the spans, per `n` operations, by method. */
function describeRequests(span: Counters, n: number): string {
  return [...span].filter(([k, v]) => k.startsWith('request ') && v > 0).map(([k, v]) => `${k.slice('request '.length)} ${(v / n).toFixed(2)}`).join(', ');
}

/**
 * Where the sequential tail is: each Margay ADD's wall time joined (by container ID) with the
 * service's own time for it (its `attachment added` line), so that the slowest ADDs show whether
 * they were slow inside the agent or outside it (the runtime's `nsenter` and exec, the client,
 * the agent's HTTP accept and answer); and ptp's slowest beside them.
 */
function printSlowest(log: string, wall: Map<string, number>, ptp: number[]): void {
  const inside = new Map<string, { ms: number; steps: Record<string, number>; gcMs: number | undefined }>();
  for (const line of log.split('\n')) {
    if (!line.includes('"attachment added"')) continue;
    const e = JSON.parse(line) as { containerID?: string; ms?: number; steps?: Record<string, number>; gcMs?: number };
    if (e.containerID && wall.has(e.containerID) && e.ms !== undefined) inside.set(e.containerID, { ms: e.ms, steps: e.steps ?? {}, gcMs: e.gcMs });
  }
  const joined = [...wall].filter(([id]) => inside.has(id)).map(([id, ms]) => ({ id, ms, in: inside.get(id)! }));
  if (joined.length === 0) return;
  const outside = joined.map((j) => j.ms - j.in.ms);
  const slow = [...joined].sort((a, b) => b.ms - a.ms).slice(0, 3);
  const desc = slow.map((j) => `${j.ms.toFixed(1)} (in the service ${j.in.ms}: ${Object.entries(j.in.steps).map(([k, v]) => `${k} ${v}`).join(', ')}${j.in.gcMs !== undefined ? `; GC ${j.in.gcMs}` : ''})`);
  const ptpSlow = [...ptp].sort((a, b) => b - a).slice(0, 3).map((v) => v.toFixed(1));
  console.log(`\nSequential ADDs, wall minus the service's own time (ms): p50 ${percentile(outside, 50).toFixed(1)}, p90 ${percentile(outside, 90).toFixed(1)}, max ${Math.max(...outside).toFixed(1)}; in the service: p50 ${percentile(joined.map((j) => j.in.ms), 50).toFixed(1)}, max ${Math.max(...joined.map((j) => j.in.ms)).toFixed(1)}`);
  console.log(`Slowest Margay ADDs (wall ms): ${desc.join('; ')}; slowest ptp ADDs: ${ptpSlow.join(', ')}`);
  // An agent that logs its GC pauses per ADD (session 12 on): how many ADDs had one inside.
  const gc = joined.map((j) => j.in.gcMs).filter((v): v is number => v !== undefined);
  if (gc.length > 0) console.log(`GC pauses inside the sequential ADDs: in ${gc.filter((v) => v > 0).length} of ${gc.length}, ${gc.reduce((a, b) => a + b, 0).toFixed(1)} ms in all, the longest ${Math.max(...gc).toFixed(1)} ms`);
}

/**
 * The agent's error lines over the whole run, by message (a failed dataplane apply is retried as
 * a full resync after 100 ms: an ADD waiting for it shows as an outlier).
 */
function printAgentErrors(log: string): void {
  const byMsg = new Map<string, number>();
  for (const line of log.split('\n')) {
    if (!line.includes('"level":"error"')) continue;
    const msg = (JSON.parse(line) as { msg?: string }).msg ?? '?';
    byMsg.set(msg, (byMsg.get(msg) ?? 0) + 1);
  }
  const parts = [...byMsg].map(([m, n]) => `${n}× ${m}`);
  console.log(`\nThe agent's errors during the run: ${parts.length === 0 ? 'none' : parts.join('; ')}`);
}

/**
 * What a runtime's exec costs before any work, the same way: `nsenter` then `/bin/true`, then each
 * plugin answering VERSION (Margay's client answers it itself, without the agent; ptp is a Go
 * binary, whose start host-local pays again). p50 of BENCH_N runs each, interleaved.
 */
async function execFloors(hostNs: string, plugins: Plugin[]): Promise<void> {
  const forms: [string, string][] = [['nsenter + /bin/true', '/bin/true'], ...plugins.map((p): [string, string] => [`nsenter + ${p.binary.split('/').pop()} VERSION`, p.binary])];
  const t = forms.map(() => [] as number[]);
  for (let i = 0; i < N; i++) {
    for (const [k, [, bin]] of forms.entries()) {
      t[k]!.push((await timed('nsenter', [`--net=/run/netns/${hostNs}`, bin], { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}')).ms);
    }
  }
  console.log(`\nExec floors, p50 / p99 ms (${load()}): ${forms.map(([name], k) => `${name} ${percentile(t[k]!, 50).toFixed(1)} / ${percentile(t[k]!, 99).toFixed(1)}`).join(', ')}`);
}

/** One phase of a burst (ms): until the last one finished, and each one's latency. */
interface PhaseFigures {
  all: number;
  p50: number;
  p99: number;
}

/** One burst's figures for one plugin. */
interface BurstFigures {
  plugin: string;
  round: number;
  add: PhaseFigures;
  del: PhaseFigures;
  load: string;
}

/**
 * `size` containers started at once, as a node does when a deployment lands on it: every ADD
 * begins together, then every DEL; per plugin, the time until the last one finished and each
 * one's latency. One plugin at a time (interleaving would measure them against each other),
 * BURST_ROUNDS times, the plugins' order flipped every round; the medians are compared.
 */
async function burst(plugins: Plugin[], run: (p: Plugin, cmd: 'ADD' | 'DEL', i: number, ns: TestNetns) => Promise<number>, size: number, logs: () => string): Promise<void> {
  const figures: BurstFigures[] = [];
  let timeline = '';
  let delTimeline = '';
  for (let round = 0; round < BURST_ROUNDS; round++) {
    const order = round % 2 === 0 ? plugins : [...plugins].reverse();
    for (const p of order) {
      const nets: TestNetns[] = [];
      try {
        for (let i = 0; i < size; i++) nets.push(await createTestNetns('mgbench'));
        await waitQuiet();
        const phase = async (cmd: 'ADD' | 'DEL'): Promise<PhaseFigures> => {
          const start = performance.now();
          const each = await Promise.all(nets.map((ns, i) => run(p, cmd, 200_000 + round * 1000 + i, ns)));
          return { all: performance.now() - start, p50: percentile(each, 50), p99: percentile(each, 99) };
        };
        const logged = logs().length;
        const add = await phase('ADD');
        const first = p === plugins[0] && round === 0;
        if (first) timeline = logs().slice(logged);
        const del = await phase('DEL');
        if (first) delTimeline = logs().slice(logged + timeline.length);
        figures.push({ plugin: p.name, round, add, del, load: load() });
      } finally {
        for (const ns of nets) await ns.delete();
      }
    }
  }
  printBursts(size, plugins, figures);
  printTimeline(timeline);
  printTimeline(delTimeline, 'DEL');
}

/** The rounds of one burst size, the medians per plugin and their ratio, and each round's ratios. */
function printBursts(size: number, plugins: Plugin[], figures: BurstFigures[]): void {
  const cells = (f: Pick<BurstFigures, 'add' | 'del'>): number[] => [f.add.all, f.add.p50, f.add.p99, f.del.all, f.del.p50, f.del.p99];
  console.log(`\n### ${size} containers at once (all ADDs together, then all DELs), Margay through the agent, ${BURST_ROUNDS} rounds (the plugins' order flipped every round)\n`);
  console.log('| plugin | round | all ADDs done | ADD p50 | ADD p99 | all DELs done | DEL p50 | DEL p99 | measured at |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const f of figures) console.log(row([f.plugin, String(f.round + 1), ...cells(f), f.load]));
  const medians = plugins.map((p) => {
    const mine = figures.filter((f) => f.plugin === p.name).map(cells);
    return mine[0]!.map((_, k) => median(mine.map((c) => c[k]!)));
  });
  for (const [k, p] of plugins.entries()) console.log(row([`**${p.name}, median**`, '', ...medians[k]!, '']));
  const [mine, base] = medians;
  if (!mine || !base) return;
  console.log(row(['**ratio margay / ptp (medians)**', '', ...mine.map((m, k) => `${(m / base[k]!).toFixed(2)}×`), '']));
  const perRound = (k: number): string =>
    Array.from({ length: BURST_ROUNDS }, (_, r) => {
      const [a, b] = plugins.map((p) => figures.find((f) => f.plugin === p.name && f.round === r)!);
      return (cells(a!)[k]! / cells(b!)[k]!).toFixed(2);
    }).join(' / ');
  console.log(`each round's ratio: all ADDs done ${perRound(0)}; all DELs done ${perRound(3)}`);
}

ensureClient();
const dir = mkdtempSync(join(tmpdir(), 'margay-bench-cni-'));
try {
  console.log(`load average at start: ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  if (PHASES.includes('client')) await clientForms(dir);
  if (PHASES.includes('agent')) await attachments(dir, 'agent');
  if (PHASES.includes('service')) await attachments(dir, 'service-only');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
