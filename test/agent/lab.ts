/**
 * A small test bed for the agent: a host namespace, workloads plumbed into it the way the CNI
 * plugin does (veth with the `cali…` end in the host, MAC ee:ee:ee:ee:ee:ee, proxy ARP, the
 * workload's /32 and its default route via 169.254.1.1), a pod process in each workload
 * (TCP/UDP echo servers plus a prober, see fixtures/pod.mjs), and the agent as a real process
 * (`margay agent --netns <host>`), killed by PID however the test ends.
 *
 * Nothing here touches the machine's own namespace: links are created with `ip -n`, and the
 * agent programs only the host namespace it is given.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { configureWorkloadInterface } from '../../src/dataplane/mod.ts';
import { agentNodeOptions } from '../../src/lab/entry.ts';
import { createRunner } from '../../src/os/mod.ts';
import { registerCleanup } from '../harness/cleanup.ts';
import { createTestNetns, run, type TestNetns } from '../harness/netns.ts';
import { freePorts } from '../harness/ports.ts';
import { eventually } from '../harness/wait.ts';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const REPO_ROOT = join(here, '..', '..');
const POD_SCRIPT = join(here, 'fixtures', 'pod.mjs');

/**
 * Creates the host namespace the agent programs. It gets an uplink (a veth pair inside it) and a
 * default route through it, as a real host has: proxy ARP answers for 169.254.1.1 only when
 * that address is routable through another interface than the workload's.
 */
export async function createHost(): Promise<TestNetns> {
  const host = await createTestNetns('mga');
  try {
    await run('ip', ['-n', host.name, 'link', 'add', 'uplink0', 'type', 'veth', 'peer', 'name', 'uplink1']);
    await run('ip', ['-n', host.name, 'link', 'set', 'uplink0', 'up']);
    await run('ip', ['-n', host.name, 'link', 'set', 'uplink1', 'up']);
    await run('ip', ['-n', host.name, 'addr', 'add', '192.0.2.1/24', 'dev', 'uplink0']);
    await run('ip', ['-n', host.name, 'route', 'add', 'default', 'via', '192.0.2.254', 'dev', 'uplink0', 'onlink']);
  } catch (err) {
    await host.delete();
    throw err;
  }
  return host;
}

/** What a probe asks for. */
export interface ProbeTarget {
  ip: string;
  port: number;
  proto: 'tcp' | 'udp';
  /** Source address to send from (default: the kernel's choice). */
  src?: string;
}

/** A workload: its namespace, veth, address and pod process. */
export class TestPod {
  readonly #pending = new Map<number, (res: Record<string, unknown>) => void>();
  #seq = 0;
  exited = false;

  constructor(
    readonly name: string,
    readonly netns: TestNetns,
    readonly ip: string,
    readonly hostInterface: string,
    readonly child: ChildProcess,
  ) {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      try {
        const res = JSON.parse(line) as { id: number };
        this.#pending.get(res.id)?.(res as Record<string, unknown>);
        this.#pending.delete(res.id);
      } catch {
        // not ours
      }
    });
    child.once('exit', () => {
      this.exited = true;
      for (const resolve of this.#pending.values()) resolve({ error: 'pod process exited' });
      this.#pending.clear();
    });
  }

  /** Sends one request to the pod process. */
  request(req: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      if (this.exited) {
        reject(new Error(`pod ${this.name} has exited`));
        return;
      }
      this.#pending.set(id, resolve);
      this.child.stdin!.write(`${JSON.stringify({ id, ...req })}\n`);
    });
  }

  /** Probes targets in parallel; true = connected (TCP) or echoed (UDP) within the timeout. */
  async probe(targets: ProbeTarget[], timeoutMs = 300): Promise<boolean[]> {
    const res = await this.request({ cmd: 'probe', probes: targets, timeoutMs });
    if (!Array.isArray(res.results)) throw new Error(`probe from ${this.name} failed: ${JSON.stringify(res)}`);
    return res.results as boolean[];
  }

  /** Runs a shell-free command inside the workload namespace. */
  exec(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
    return this.netns.exec(cmd, args, { allowFail: true });
  }
}

/** Options of {@link addPod}. */
export interface PodOptions {
  name: string;
  /** Host-side interface name (`cali…`, at most 15 characters). */
  hostInterface: string;
  ip: string;
  /** Ports served over TCP and UDP (default 80, 81). */
  ports?: number[];
}

/**
 * Plumbs a workload into `host` the way the CNI plugin would, and starts its pod process. The
 * workload namespace and the process are removed with the namespace's `delete()`.
 */
export async function addPod(host: TestNetns, options: PodOptions): Promise<TestPod> {
  const wl = await createTestNetns('mgw');
  const iface = options.hostInterface;
  await run('ip', ['-n', host.name, 'link', 'add', iface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', wl.name]);
  await run('ip', ['-n', host.name, 'link', 'set', iface, 'address', 'ee:ee:ee:ee:ee:ee']);
  await run('ip', ['-n', host.name, 'link', 'set', iface, 'up']);
  await configureWorkloadInterface(createRunner({ netns: host.name }), iface);
  await run('ip', ['-n', wl.name, 'addr', 'add', `${options.ip}/32`, 'dev', 'eth0']);
  await run('ip', ['-n', wl.name, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', wl.name, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
  await run('ip', ['-n', wl.name, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
  return startPodProcess(wl, options.name, options.ip, iface, options.ports ?? [80, 81]);
}

/**
 * Starts the pod process (servers on `ports`, prober) in any namespace: a workload's, the host's
 * (host services), or an outside client's. It dies with the namespace's `delete()`.
 */
export async function startPodProcess(netns: TestNetns, name: string, ip: string, iface: string, ports: number[]): Promise<TestPod> {
  const child = netns.spawn(process.execPath, [POD_SCRIPT, ...ports.map(String)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const pod = new TestPod(name, netns, ip, iface, child);
  await pod.request({ cmd: 'ready' });
  return pod;
}

/** Removes a pod's namespace (and its process). */
export async function removePod(pod: TestPod): Promise<void> {
  await pod.netns.delete();
}

/** The agent as a process. */
export interface AgentProcess {
  readonly pid: number | undefined;
  readonly healthPort: number;
  readonly metricsPort: number;
  readonly logFile: string;
  readonly running: boolean;
  /** GET /readiness (or /liveness): the HTTP status, 0 when nothing answers. */
  health(which?: 'readiness' | 'liveness'): Promise<number>;
  /** Waits until /readiness answers 200. */
  /** Resolves once /readiness answers 200, asked every `intervalMs` (default 100; benchmarks ask more often). */
  waitReady(timeoutMs?: number, intervalMs?: number): Promise<void>;
  metrics(): Promise<string>;
  /** Sends a signal and waits for the exit; resolves to the exit code (null after a signal). */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /** Starts the process again with the same arguments and ports. */
  restart(): Promise<void>;
  logs(): string;
  /** Kills it (if running) and removes its files. */
  destroy(): Promise<void>;
}

/** Options of {@link startAgent}. */
export interface StartAgentOptions {
  etcdEndpoints: string[];
  hostname: string;
  /** The host namespace to program. */
  netns: string;
  /** Extra environment (MARGAY_* parameters). */
  env?: Record<string, string>;
  /** Extra arguments after `agent`. */
  args?: string[];
  /** Run the compiled CLI (`bin/margay.js`, as installed) instead of the sources through tsx (benchmarks of memory). */
  built?: boolean;
  /** Extra Node options (`--heapsnapshot-signal=SIGUSR2`, `--cpu-prof`). */
  nodeArgs?: string[];
}

/** Starts `margay agent` as a process programming `netns`. */
export async function startAgent(options: StartAgentOptions): Promise<AgentProcess> {
  const [healthPort, metricsPort] = (await freePorts(2)) as [number, number];
  const dir = mkdtempSync(join(tmpdir(), 'margay-agent-'));
  const logFile = join(dir, 'agent.log');
  let child: ChildProcess | undefined;
  let exited: Promise<number | null> = Promise.resolve(null);
  const spawnAgent = (): void => {
    const log = openSync(logFile, 'a');
    try {
      child = spawn(
        process.execPath,
        [
          // As installed: the options of bin/margay.js's `#!` line, which `node bin/margay.js` does not read.
          ...(options.built ? agentNodeOptions() : []),
          ...(options.nodeArgs ?? []),
          ...(options.built ? [join(REPO_ROOT, 'bin/margay.js')] : ['--import', 'tsx', join(REPO_ROOT, 'src/cli/run.ts')]),
          'agent',
          '--hostname',
          options.hostname,
          '--netns',
          options.netns,
          '--state-dir',
          join(dir, 'state'),
          ...(options.args ?? []),
        ],
        {
          cwd: REPO_ROOT,
          stdio: ['ignore', log, log],
          env: {
            PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
            HOME: process.env.HOME ?? '/root',
            ETCD_ENDPOINTS: options.etcdEndpoints.join(','),
            MARGAY_HEALTHPORT: String(healthPort),
            MARGAY_PROMETHEUSMETRICSPORT: String(metricsPort),
            MARGAY_REPORTINGINTERVAL: '1',
            MARGAY_REPORTINGTTL: '5',
            MARGAY_ENDPOINTREPORTINGDELAY: '0.1',
            ...options.env,
          },
        },
      );
    } finally {
      closeSync(log);
    }
    const c = child;
    exited = new Promise((resolve) => c.once('exit', (code) => resolve(code)));
    c.once('exit', () => {
      if (child === c) child = undefined;
    });
  };
  const killNow = (): void => {
    if (child?.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  };
  const undo = registerCleanup(() => {
    killNow();
    rmSync(dir, { recursive: true, force: true });
  });
  spawnAgent();
  const health = async (which: 'readiness' | 'liveness' = 'readiness'): Promise<number> => {
    try {
      const res = await fetch(`http://127.0.0.1:${healthPort}/${which}`, { signal: AbortSignal.timeout(1000) });
      await res.text();
      return res.status;
    } catch {
      return 0;
    }
  };
  const agent: AgentProcess = {
    get pid() {
      return child?.pid;
    },
    healthPort,
    metricsPort,
    logFile,
    get running() {
      return child !== undefined;
    },
    health,
    async waitReady(timeoutMs = 60_000, intervalMs = 100) {
      await eventually(
        async () => {
          if (!child) throw new Error(`the agent exited:\n${agent.logs().split('\n').slice(-20).join('\n')}`);
          return (await health()) === 200;
        },
        { timeoutMs, intervalMs, what: 'agent readiness' },
      ).catch((err: Error) => {
        throw new Error(`${err.message}\n--- agent log (tail) ---\n${agent.logs().split('\n').slice(-30).join('\n')}`);
      });
    },
    async metrics() {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
      return res.text();
    },
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      const c = child;
      if (!c) return null;
      c.kill(signal);
      return exited;
    },
    async restart() {
      if (child) await agent.kill('SIGKILL');
      spawnAgent();
    },
    logs() {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    async destroy() {
      if (child) await agent.kill('SIGKILL');
      undo();
    },
  };
  return agent;
}

/** `nft list table inet margay` in `netns`, without handles and counter values (empty when the table is absent). */
export async function listRuleset(netns: string): Promise<string> {
  const res = await run('ip', ['netns', 'exec', netns, 'nft', 'list', 'table', 'inet', 'margay'], { allowFail: true });
  if (res.code !== 0) return '';
  return res.stdout
    .replace(/ # handle \d+/g, '')
    .replace(/counter packets \d+ bytes \d+/g, 'counter')
    .trimEnd();
}

/** Probes every (from, to, port, protocol) combination in parallel: result[i][j][k] for ports[k]. */
export async function probeAll(
  pods: readonly TestPod[],
  ports: ReadonlyArray<{ port: number; proto: 'tcp' | 'udp' }>,
  timeoutMs = 300,
): Promise<boolean[][][]> {
  return Promise.all(
    pods.map(async (from) => {
      const targets = pods.flatMap((to) => ports.map((p) => ({ ip: to.ip, port: p.port, proto: p.proto })));
      const flat = await from.probe(targets, timeoutMs);
      return pods.map((_, j) => ports.map((_, k) => flat[j * ports.length + k]!));
    }),
  );
}

/** The lines of `b` missing from `a` and vice versa (for failure messages). */
export function lineDiff(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  const sa = new Set(la);
  const sb = new Set(lb);
  return [...la.filter((l) => !sb.has(l)).map((l) => `- ${l}`), ...lb.filter((l) => !sa.has(l)).map((l) => `+ ${l}`)].join('\n');
}
