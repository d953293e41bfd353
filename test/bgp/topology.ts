/**
 * Test topologies for BGP: host namespaces on one L2 fabric (a bridge inside its own fabric
 * namespace, 192.0.2.0/24), each host "owning" a block whose first address sits on its loopback
 * so that pings between blocks exercise the routes BIRD learned. Every namespace, process and
 * state directory is removed afterwards, also when a test fails.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateResource } from '../../src/api/validate.ts';
import type { Resource } from '../../src/api/resource.ts';
import { BirdController, type BirdEvent } from '../../src/bgp/bird-process.ts';
import { renderBirdConfig } from '../../src/bgp/bird-config.ts';
import { type BgpPeerStatus, bgpPeers, parseProtocols } from '../../src/bgp/bird-status.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { environmentLayers, flagLayers } from '../../src/agent/config.ts';
import { createLogger, silentLogger } from '../../src/log/mod.ts';
import { type NodeBgpOptions, NodeProcess } from '../../src/agent/node.ts';
import type { BirdConfigInput, BirdRenderOptions } from '../../src/bgp/types.ts';
import { registerCleanup } from '../harness/cleanup.ts';
import { createTestNetns, run, type TestNetns, vethPair } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';

/** Fast BGP timers for tests (BIRD's defaults wait 5 s before connecting). */
export const TEST_RENDER_OPTIONS: BirdRenderOptions = {
  connectTimers: { connectDelay: 1, connectRetry: 2, errorWaitMin: 1, errorWaitMax: 5 },
  gracefulRestartWait: 20,
};

/** One host namespace of a fabric. */
export interface TestHost {
  name: string;
  ns: TestNetns;
  /** Fabric address (`192.0.2.11`). */
  ip: string;
  /** The block this host owns (`10.244.1.0/26`) and its first address (on lo). */
  block: string;
  podIp: string;
  /** Fabric interface (in the host) and its bridge port (in the fabric namespace). */
  iface: string;
  port: string;
  stateDir: string;
  bird?: BirdController;
  events: BirdEvent[];
}

/** A fabric with its hosts. */
export interface Fabric {
  fabric: TestNetns;
  hosts: TestHost[];
  /** Stops every BIRD, deletes every namespace and state directory. */
  destroy(): Promise<void>;
}

/** A validated resource (defaults applied), as the datastore would hold it. */
export function resource(kind: string, name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Resource {
  return validateResource({ apiVersion: 'projectcalico.org/v3', kind, metadata: { name, ...metadata }, spec });
}

/**
 * Builds `count` hosts named h1..hN at 192.0.2.11.. with blocks 10.244.N.0/26 (`blocks: false`:
 * no block or pod address; the test takes them from IPAM).
 */
export async function createFabric(count: number, options: { ipv6?: boolean; blocks?: boolean } = {}): Promise<Fabric> {
  const fabric = await createTestNetns('mgb');
  const hosts: TestHost[] = [];
  const stateRoot = mkdtempSync(join(tmpdir(), 'margay-bgp-'));
  const undoState = registerCleanup(() => rmSync(stateRoot, { recursive: true, force: true }));
  const destroy = async () => {
    for (const h of hosts) {
      await h.bird?.stop({ timeoutMs: 3000 }).catch(() => undefined);
      await h.ns.delete();
    }
    await fabric.delete();
    undoState();
  };
  try {
    await run('ip', ['-n', fabric.name, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', fabric.name, 'link', 'set', 'br0', 'up']);
    for (let i = 1; i <= count; i++) {
      const ns = await createTestNetns('mgb');
      const host: TestHost = {
        name: `h${i}`,
        ns,
        ip: `192.0.2.${10 + i}`,
        block: `10.244.${i}.0/26`,
        podIp: `10.244.${i}.1`,
        iface: 'eth0',
        port: `p${i}`,
        stateDir: join(stateRoot, `h${i}`),
        events: [],
      };
      hosts.push(host);
      await vethPair(ns, fabric, { nameA: 'eth0', nameB: host.port, addressA: `${host.ip}/24` });
      await run('ip', ['-n', fabric.name, 'link', 'set', host.port, 'master', 'br0']);
      await ns.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
      if (options.blocks !== false) {
        await run('ip', ['-n', ns.name, 'addr', 'add', `${host.podIp}/32`, 'dev', 'lo']);
        // What the agent's route manager does for an affine block.
        await run('ip', ['-n', ns.name, 'route', 'add', 'blackhole', host.block]);
      }
      if (options.ipv6) {
        await run('ip', ['-n', ns.name, 'addr', 'add', `fd00:192::${10 + i}/64`, 'dev', 'eth0', 'nodad']);
        await run('ip', ['-n', ns.name, 'addr', 'add', `fd00:10:244:${i}::1/128`, 'dev', 'lo']);
        await run('ip', ['-n', ns.name, '-6', 'route', 'add', 'blackhole', `fd00:10:244:${i}::/122`]);
      }
    }
  } catch (err) {
    await destroy();
    throw err;
  }
  return { fabric, hosts, destroy };
}

/** The Node resources of the hosts (optionally with extra spec.bgp fields and labels per host). */
export function nodesOf(hosts: TestHost[], extra: (h: TestHost) => { bgp?: Record<string, unknown>; labels?: Record<string, string> } = () => ({}), ipv6 = false): Resource[] {
  return hosts.map((h, i) => {
    const e = extra(h);
    return resource(
      'Node',
      h.name,
      { bgp: { ipv4Address: `${h.ip}/24`, ...(ipv6 ? { ipv6Address: `fd00:192::${11 + i}/64` } : {}), ...(e.bgp ?? {}) } },
      e.labels ? { labels: e.labels } : {},
    );
  });
}

/** What every host's configuration is rendered from: the datastore's view, less the host's own name (and blocks, by default its own). */
export type Snapshot = Omit<BirdConfigInput, 'nodeName' | 'affineBlocks'> & { affineBlocks?: string[] };

/** Renders a host's configuration from a shared snapshot. */
export function configFor(host: TestHost, snapshot: Snapshot): string {
  const result = renderBirdConfig({
    ...snapshot,
    nodeName: host.name,
    affineBlocks: snapshot.affineBlocks ?? [host.block],
    options: { ...TEST_RENDER_OPTIONS, ...(snapshot.options ?? {}) },
  });
  if (result.warnings.length > 0) throw new Error(`renderer warnings for ${host.name}: ${result.warnings.join('; ')}`);
  return result.text;
}

/** Starts (or reconfigures) BIRD on a host with a configuration. */
export async function startBird(host: TestHost, config: string): Promise<void> {
  if (!host.bird) {
    host.bird = new BirdController({
      stateDir: host.stateDir,
      netns: host.ns.name,
      backoff: { initialMs: 100, maxMs: 1000 },
      onEvent: (e) => host.events.push(e),
    });
  }
  await host.bird.start(config);
  const pid = host.bird.pid;
  if (pid !== undefined) killBirdAtExit(pid);
}

/** Registers a cleanup that SIGKILLs the BIRD with this PID when the test process ends, whatever happens. */
export function killBirdAtExit(pid: number): void {
  registerCleanup(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already stopped
    }
  });
}

/** The BGP peers BIRD reports on a host (`show protocols all`). */
export async function birdPeers(host: TestHost): Promise<BgpPeerStatus[]> {
  return bgpPeers(parseProtocols((await host.bird!.command('show protocols all')).text));
}

/**
 * Starts BIRD on every host with its configuration from `snapshot`, then waits (20 s at most) until
 * each host has `sessions(host)` BGP sessions Established; returns how long that took, in ms.
 */
export async function startBirdsUntilEstablished(hosts: TestHost[], snapshot: Snapshot, sessions: (host: TestHost) => number): Promise<number> {
  const t0 = Date.now();
  await Promise.all(hosts.map((h) => startBird(h, configFor(h, snapshot))));
  await eventually(
    async () => {
      for (const h of hosts) {
        const peers = await birdPeers(h);
        assert.equal(peers.filter((p) => p.info === 'Established').length, sessions(h), `${h.name}: ${JSON.stringify(peers)}`);
      }
    },
    { timeoutMs: 20_000, intervalMs: 50 },
  );
  return Date.now() - t0;
}

/** A host's kernel routes (`ip -j route show`), IPv4 or IPv6. */
export async function kernelRoutes(host: TestHost, family: 4 | 6 = 4): Promise<{ dst: string; gateway?: string; protocol?: string; metric?: number; dev?: string; type?: string; flags?: string[]; via?: { family: string; host: string } }[]> {
  const res = await run('ip', ['-n', host.ns.name, '-j', `-${family}`, 'route', 'show']);
  return JSON.parse(res.stdout || '[]') as never;
}

/** The route to `dst` in a host's table, if any. */
export async function routeTo(host: TestHost, dst: string, family: 4 | 6 = 4) {
  return (await kernelRoutes(host, family)).find((r) => r.dst === dst);
}

/** What the agent does for a new pod: its address on the host (here on lo, standing for the veth) and its block's blackhole. */
export async function addPod(host: TestHost, address: string, block: string): Promise<void> {
  const family = address.includes(':') ? 6 : 4;
  await run('ip', ['-n', host.ns.name, 'addr', 'add', `${address}/${family === 4 ? 32 : 128}`, 'dev', 'lo']);
  await run('ip', ['-n', host.ns.name, `-${family}`, 'route', 'replace', 'blackhole', block]);
}

/**
 * One host's node process (`margay agent --bgp`: agent, dataplane, BGP) in this process, on the
 * host's namespace and state directory, without health or metrics servers: no default pools,
 * fast BGP timers, a 50 ms debounce. `onLog` gets every log line (parsed). Stop it with `stop()`.
 */
export async function startLabNode(
  datastore: Datastore,
  host: TestHost,
  bgp: NodeBgpOptions = {},
  onLog?: (line: { level: string; component?: string; msg: string }) => void,
): Promise<NodeProcess> {
  const node = new NodeProcess({
    datastore,
    local: {
      layers: [...environmentLayers({ MARGAY_DATAPLANEFLUSHDELAY: '0.02' }).layers, ...flagLayers({ hostname: host.name, netns: host.ns.name, stateDir: host.stateDir })],
      warnings: [],
    },
    bgp: { defaultPools: false, render: TEST_RENDER_OPTIONS, debounceMs: 50, ...bgp },
    logger: onLog ? createLogger({ level: 'debug', destination: { write: (line: string) => void onLog(JSON.parse(line)) } }) : silentLogger(),
    servers: false,
  });
  await node.start();
  return node;
}
