/**
 * A test bed for CNI integration tests: a real etcd, a "host" network namespace (with an uplink
 * and a default route, as test/agent/lab.ts builds it, so proxy ARP answers for 169.254.1.1), the
 * CNI service listening on a unix socket in a temporary folder and programming that host, the
 * plugin binaries (dist/cni) and the stock plugins (/usr/lib/cni) on CNI_PATH, and a folder of
 * network configurations for runtimes. By default the CNI service runs in the test process with
 * no dataplane (ADD's wait resolves at once); with `agent: true` the real agent process
 * (`margay agent --netns <host> --cni-socket <socket>`) hosts it and programs policy, and ADD
 * answers once the endpoint's policy is in the host's nftables.
 *
 * Nothing touches the machine's own namespace, /etc/cni or /opt/cni. Everything is removed by
 * `close()`, and by the exit hooks of the harness when a test dies.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Resource } from '../../src/api/resource.ts';
import { validateResource } from '../../src/api/validate.ts';
import { startCniService, type CniServer } from '../../src/cni/server.ts';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { createHost, startAgent, type AgentProcess } from '../agent/lab.ts';
import { registerCleanup } from '../harness/cleanup.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { createTestNetns, run, type TestNetns } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { ensureClient, REPO } from './binary.ts';

/** The node name of the bed's host. */
export const NODE = 'cni-node1';

/** Options of {@link startBed}. */
export interface BedOptions {
  /** The real agent hosts the CNI service and programs policy (default false: in-process service, no dataplane). */
  agent?: boolean;
  /** IP pools (default: 10.244.0.0/16 with /26 blocks and fd00:10:244::/48 with /122 blocks). */
  pools?: unknown[];
  /** Extra resources to apply before anything starts (policies, profiles). */
  resources?: unknown[];
}

/** A running bed. */
export interface Bed {
  readonly etcd: EtcdHandle;
  readonly datastore: EtcdDatastore;
  readonly store: ResourceStore;
  readonly ipam: Ipam;
  readonly host: TestNetns;
  readonly dir: string;
  readonly socket: string;
  /** Network configurations (NETCONFPATH). */
  readonly netconfDir: string;
  /** CNI_PATH: the Margay binaries first, then the stock plugins. */
  readonly cniPath: string;
  readonly agent: AgentProcess | undefined;
  /** The in-process CNI service (undefined while stopped, and in agent mode). */
  cni: CniServer | undefined;
  /** Starts the CNI service (again): in agent mode, the agent process. */
  startCni(): Promise<void>;
  /** Stops the CNI service: in agent mode, kills the agent process (SIGKILL). */
  stopCni(): Promise<void>;
  /** Writes `<name>.conflist` with these plugins (each gets agent_socket) and returns its text. */
  network(name: string, plugins: Record<string, unknown>[], cniVersion?: string): string;
  /** A fresh container namespace (removed by close()). */
  container(): Promise<TestNetns>;
  /** Applies resources through the ResourceStore. */
  apply(...resources: unknown[]): Promise<Resource[]>;
  /** Host-side interfaces with the workload prefix. */
  hostVeths(): Promise<string[]>;
  /** Stops everything and removes it. */
  close(): Promise<void>;
}

const DEFAULT_POOLS = [
  { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'pool-v4' }, spec: { cidr: '10.244.0.0/16', blockSize: 26 } },
  { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'pool-v6' }, spec: { cidr: 'fd00:10:244::/48', blockSize: 122 } },
];

/** Starts a bed. */
export async function startBed(options: BedOptions = {}): Promise<Bed> {
  ensureClient();
  const dir = mkdtempSync(join(tmpdir(), 'margay-cni-bed-'));
  const removeDir = registerCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const netconfDir = join(dir, 'net.d');
  mkdirSync(netconfDir);
  const socket = join(dir, 'run', 'cni.sock');
  const containers: TestNetns[] = [];
  let etcd: EtcdHandle | undefined;
  let datastore: EtcdDatastore | undefined;
  let host: TestNetns | undefined;
  let agent: AgentProcess | undefined;
  let bed: Bed | undefined;
  try {
    etcd = await startEtcd();
    datastore = new EtcdDatastore({ endpoints: etcd.endpoints });
    const store = new ResourceStore(datastore);
    const ipam = new Ipam(datastore);
    host = await createHost();
    await run('ip', ['netns', 'exec', host.name, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    for (const r of [...(options.pools ?? DEFAULT_POOLS), { apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: NODE }, spec: {} }, ...(options.resources ?? [])]) {
      await store.apply(validateResource(r));
    }
    if (options.agent) {
      mkdirSync(join(dir, 'run'), { recursive: true });
      agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: NODE, netns: host.name, args: ['--cni-socket', socket] });
      await agent.waitReady();
    }
    const hostName = host.name;
    const b: Bed = {
      etcd,
      datastore,
      store,
      ipam,
      host,
      dir,
      socket,
      netconfDir,
      cniPath: `${join(REPO, 'dist/cni')}:/usr/lib/cni`,
      agent,
      cni: undefined,
      async startCni() {
        if (agent) {
          if (!agent.running) await agent.restart();
          await agent.waitReady();
          await eventually(() => existsSync(socket), { timeoutMs: 30_000, what: 'the agent CNI socket' });
          return;
        }
        if (b.cni) return;
        b.cni = await startCniService({ store, ipam, hostname: NODE, hostNetns: hostName, socketPath: socket, waitForEndpointProgrammed: async () => undefined });
      },
      async stopCni() {
        if (agent) {
          await agent.kill('SIGKILL');
          return;
        }
        const c = b.cni;
        b.cni = undefined;
        await c?.close();
      },
      network(name, plugins, cniVersion = '1.0.0') {
        const text = JSON.stringify({ cniVersion, name, plugins: plugins.map((p) => ({ agent_socket: socket, ...p })) }, null, 1);
        writeFileSync(join(netconfDir, `${name}.conflist`), text);
        return text;
      },
      async container() {
        const ns = await createTestNetns('mgc');
        await run('ip', ['-n', ns.name, 'link', 'set', 'lo', 'up']);
        containers.push(ns);
        return ns;
      },
      async apply(...resources) {
        const out: Resource[] = [];
        for (const r of resources) out.push((await store.apply(validateResource(r))).resource);
        return out;
      },
      async hostVeths() {
        const res = await run('ip', ['-n', hostName, '-j', 'link', 'show']);
        return (JSON.parse(res.stdout) as { ifname: string }[]).map((l) => l.ifname).filter((n) => n.startsWith('cali'));
      },
      async close() {
        await b.stopCni().catch(() => undefined);
        await agent?.destroy();
        for (const c of containers.splice(0)) await c.delete();
        await host?.delete();
        await datastore?.close();
        await etcd?.destroy();
        removeDir();
      },
    };
    bed = b;
    await b.startCni();
    return b;
  } catch (err) {
    if (bed) await bed.close();
    else {
      await agent?.destroy();
      for (const c of containers) await c.delete();
      await host?.delete();
      await datastore?.close();
      await etcd?.destroy();
      removeDir();
    }
    throw err;
  }
}

/** Builds test/cni/tools/cnitool.go on Debian's libcni into dist/cni-test (when missing or stale). */
export function ensureCnitool(): string {
  const src = join(REPO, 'test/cni/tools/cnitool.go');
  const out = join(REPO, 'dist/cni-test/cnitool');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(REPO, 'dist/cni-test'), { recursive: true });
    execFileSync('go', ['build', '-o', out, src], {
      env: { ...process.env, GO111MODULE: 'off', GOPATH: '/usr/share/gocode', GOCACHE: join(REPO, 'dist/cni-test/gocache') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }
  return out;
}
