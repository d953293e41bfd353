/**
 * Test plumbing for dataplane integration tests: a "host" namespace with workloads behind veths,
 * plumbed the way Margay's CNI will plumb them (host side `cali…` with MAC ee:ee:ee:ee:ee:ee and no
 * address, proxy ARP, the workload's /32 behind the 169.254.1.1 gateway, a /128 behind the host
 * veth's link-local address), plus an optional "external" namespace on a routed link, and a
 * prober in each namespace that serves and probes TCP/UDP for real.
 *
 * Everything lives in throwaway namespaces from test/harness/netns.ts; nothing touches the root
 * namespace.
 */
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createRunner, type CommandRunner } from '../../src/os/mod.ts';
import { configureHostForwarding, configureWorkloadInterface, prepareHostVeth, WORKLOAD_HOST_LINK_LOCAL_V6 } from '../../src/dataplane/links/links.ts';
import { createTestNetns, run, vethPair, type TestNetns } from '../harness/netns.ts';

const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'probe.mjs');

/** The answer to a probe. */
export interface ProbeResult {
  ok: boolean;
  /** The source address the server saw (when ok). */
  from?: string;
  error?: string;
}

/** A long-running prober process inside one namespace. */
export class Prober {
  private nextId = 1;
  private readonly pending = new Map<number, (r: ProbeResult & { ready?: boolean }) => void>();
  private readonly ready: Promise<void>;

  constructor(private readonly child: ChildProcess) {
    let markReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (markReady = resolve));
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const msg = JSON.parse(line) as ProbeResult & { id: number; ready?: boolean };
      if (msg.id === 0 && msg.ready) {
        markReady();
        return;
      }
      const cb = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      cb?.(msg);
    });
  }

  static start(ns: TestNetns): Prober {
    const child = ns.spawn(process.execPath, [PROBE], { stdio: ['pipe', 'pipe', 'inherit'] });
    return new Prober(child);
  }

  private async request(req: Record<string, unknown>): Promise<ProbeResult> {
    await this.ready;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.child.stdin!.write(JSON.stringify({ ...req, id }) + '\n');
    });
  }

  /** Serves TCP or UDP on `port` (all addresses, IPv4 and IPv6). */
  async listen(proto: 'tcp' | 'udp', port: number): Promise<void> {
    const r = await this.request({ op: 'listen', proto, port });
    if (!r.ok) throw new Error(`listen ${proto}/${port} failed: ${r.error}`);
  }

  /** Connects (TCP) or sends a datagram (UDP) and waits for the server's answer. */
  probe(proto: 'tcp' | 'udp', host: string, port: number, options: { bind?: string; timeoutMs?: number } = {}): Promise<ProbeResult> {
    return this.request({ op: 'probe', proto, host, port, timeoutMs: options.timeoutMs ?? 700, ...(options.bind ? { bind: options.bind } : {}) });
  }

  stop(): void {
    this.child.stdin?.end();
    if (this.child.pid !== undefined && this.child.exitCode === null) this.child.kill('SIGKILL');
  }
}

/** A workload namespace behind a `cali…` veth. */
export interface TestWorkload {
  ns: TestNetns;
  /** Host-side interface name. */
  hostIf: string;
  addr4: string;
  addr6: string;
  prober: Prober;
}

/** The host namespace, its workloads and an optional external peer. */
export interface TestLab {
  host: TestNetns;
  /** Runs commands inside the host namespace. */
  hostRunner: CommandRunner;
  hostProber: Prober;
  workloads: TestWorkload[];
  /** A namespace on the host's `hep0` link (192.0.2.2 ↔ host 192.0.2.1), when asked for. */
  external?: { ns: TestNetns; prober: Prober; addr4: string; hostAddr4: string };
  /** Adds one more workload (plumbed, not programmed). */
  addWorkload(spec: WorkloadSpec): Promise<TestWorkload>;
  destroy(): Promise<void>;
}

/** Where a workload goes. */
export interface WorkloadSpec {
  hostIf: string;
  addr4: string;
  addr6: string;
}

async function sysctl(ns: TestNetns, path: string, value: string): Promise<void> {
  await ns.exec('tee', [`/proc/sys/${path}`], { input: `${value}\n` });
}

/** Builds the lab. Workloads listen on nothing yet; call `prober.listen`. */
export async function createLab(options: { workloads: WorkloadSpec[]; external?: boolean }): Promise<TestLab> {
  const made: TestNetns[] = [];
  const probers: Prober[] = [];
  const host = await createTestNetns();
  made.push(host);
  try {
    const hostRunner = createRunner({ netns: host.name });
    await sysctl(host, 'net/ipv6/conf/default/accept_dad', '0');
    await sysctl(host, 'net/ipv6/conf/all/accept_dad', '0');
    await configureHostForwarding(hostRunner, { ipv6: true });
    // Proxy ARP answers only for an address the host routes out of another interface; a real host
    // has a default route for that, this namespace gets a route for the gateway address instead.
    await run('ip', ['-n', host.name, 'route', 'add', '169.254.1.1/32', 'dev', 'lo']);
    const hostProber = Prober.start(host);
    probers.push(hostProber);

    const addWorkload = async (spec: WorkloadSpec): Promise<TestWorkload> => {
      const ns = await createTestNetns();
      made.push(ns);
      await sysctl(ns, 'net/ipv6/conf/default/accept_dad', '0');
      await sysctl(ns, 'net/ipv6/conf/all/accept_dad', '0');
      await vethPair(host, ns, { nameA: spec.hostIf, nameB: 'eth0', up: false });
      await prepareHostVeth(hostRunner, spec.hostIf);
      await configureWorkloadInterface(hostRunner, spec.hostIf, { ipv4: true, ipv6: true });
      await run('ip', ['-n', ns.name, 'link', 'set', 'eth0', 'up']);
      await run('ip', ['-n', ns.name, 'addr', 'add', `${spec.addr4}/32`, 'dev', 'eth0']);
      await run('ip', ['-n', ns.name, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
      await run('ip', ['-n', ns.name, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
      await run('ip', ['-n', ns.name, '-6', 'addr', 'add', `${spec.addr6}/128`, 'dev', 'eth0', 'nodad']);
      await run('ip', ['-n', ns.name, '-6', 'route', 'add', 'default', 'via', WORKLOAD_HOST_LINK_LOCAL_V6, 'dev', 'eth0']);
      const prober = Prober.start(ns);
      probers.push(prober);
      return { ns, hostIf: spec.hostIf, addr4: spec.addr4, addr6: spec.addr6, prober };
    };

    const workloads: TestWorkload[] = [];
    for (const spec of options.workloads) workloads.push(await addWorkload(spec));

    let external: TestLab['external'];
    if (options.external) {
      const ns = await createTestNetns();
      made.push(ns);
      await vethPair(host, ns, { nameA: 'hep0', nameB: 'eth0', addressA: '192.0.2.1/24', addressB: '192.0.2.2/24' });
      await run('ip', ['-n', ns.name, 'route', 'add', '10.244.0.0/16', 'via', '192.0.2.1']);
      const prober = Prober.start(ns);
      probers.push(prober);
      external = { ns, prober, addr4: '192.0.2.2', hostAddr4: '192.0.2.1' };
    }

    return {
      host,
      hostRunner,
      hostProber,
      workloads,
      ...(external ? { external } : {}),
      addWorkload: async (spec) => {
        const w = await addWorkload(spec);
        return w;
      },
      destroy: async () => {
        for (const p of probers) p.stop();
        for (const ns of made.reverse()) await ns.delete();
      },
    };
  } catch (err) {
    for (const p of probers) p.stop();
    for (const ns of made.reverse()) await ns.delete();
    throw err;
  }
}
