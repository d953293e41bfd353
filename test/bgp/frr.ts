/**
 * FRR inside a test namespace (the runner is src/lab/frr.ts, shared with the lab's router), in a
 * fresh folder under the system temp dir. Stopped by PID; the folder is removed, also when a test
 * fails; the namespace's deletion kills whatever is left.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startFrr as startFrrIn, type Frr as FrrDaemons } from '../../src/lab/frr.ts';
import { registerCleanup } from '../harness/cleanup.ts';
import { createTestNetns, run, type TestNetns, vethPair } from '../harness/netns.ts';

export { FRR_BIN, frrAvailable } from '../../src/lab/frr.ts';

/** A running FRR of a test. */
export interface Frr extends Omit<FrrDaemons, 'pids'> {
  stop(): Promise<void>;
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone
    }
  }
}

/** Starts zebra, staticd and bgpd (and bfdd, given its configuration) in `ns` with the given configuration texts. */
export async function startFrr(ns: TestNetns, config: { bgpd: string; staticd?: string; zebra?: string; bfdd?: string }): Promise<Frr> {
  const dir = mkdtempSync(join(tmpdir(), 'margay-frr-'));
  let daemons: FrrDaemons | undefined;
  const undo = registerCleanup(() => {
    signalAll(daemons?.pids() ?? [], 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    daemons = await startFrrIn({ netns: ns.name, dir, ...config });
  } catch (err) {
    undo();
    throw err;
  }
  const running = daemons;
  return {
    dir,
    vtysh: (...commands) => running.vtysh(...commands),
    json: (command) => running.json(command),
    async stop() {
      signalAll(running.pids(), 'SIGTERM');
      await sleep(200);
      undo();
    },
  };
}

/** A kernel route as `ip -j route` prints it. */
export interface JsonRoute {
  dst: string;
  gateway?: string;
  protocol?: string;
  dev?: string;
  via?: { family: string; host: string };
  nexthops?: { gateway?: string; dev?: string }[];
}

/** The gateways of a route: its one gateway, or those of its ECMP next hops. */
export function gatewaysOf(route: JsonRoute | undefined): string[] {
  if (!route) return [];
  if (route.gateway) return [route.gateway];
  return (route.nexthops ?? []).map((n) => n.gateway ?? '').filter(Boolean);
}

/** The kernel routes of a namespace as `ip -j route` objects. */
export async function nsRoutes(ns: TestNetns, family: 4 | 6 = 4): Promise<JsonRoute[]> {
  return JSON.parse((await run('ip', ['-n', ns.name, '-j', `-${family}`, 'route', 'show'])).stdout || '[]') as never;
}

/** The head of bgpd's configuration for the router {@link createUplinkRouter} makes: AS 65001, the unnumbered neighbour on `swp1`. */
export const UPLINK_ROUTER_BGPD = [
  'frr defaults datacenter',
  'router bgp 65001',
  ' bgp router-id 10.8.8.8',
  ' no bgp ebgp-requires-policy',
  ' neighbor swp1 interface remote-as external',
];

/**
 * A data-centre router for a host over a link without IPv4 addresses (BGP unnumbered): a new
 * namespace joined to the host by `uplink0` (host side) – `swp1` (router side), forwarding on,
 * router id address 10.8.8.8 on its loopback. The caller starts FRR in it.
 */
export async function createUplinkRouter(host: TestNetns): Promise<TestNetns> {
  const router = await createTestNetns('mgb');
  await vethPair(host, router, { nameA: 'uplink0', nameB: 'swp1' });
  await router.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  await run('ip', ['-n', router.name, 'addr', 'add', '10.8.8.8/32', 'dev', 'lo']);
  return router;
}
