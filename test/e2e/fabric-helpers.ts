/**
 * Helpers of the lab-fabric tests and bench/bgp-fabric.ts: a flow of pings between pods while
 * something fails, the routes of a namespace, and whether every router of the fabric is up.
 */
import { readFileSync } from 'node:fs';
import { exec } from '../../src/os/mod.ts';
import type { FabricPlan } from '../../src/lab/fabric/plan.ts';
import type { LabPod } from '../../src/lab/state.ts';

/** A route as `ip -j route show` prints it. */
export interface Route {
  dst: string;
  protocol?: string;
  gateway?: string;
  via?: { family: string; host: string };
  dev?: string;
  nexthops?: { via?: { family: string; host: string }; dev?: string }[];
}

/** The routes of a namespace in one family. */
export async function routes(netns: string, family: 4 | 6): Promise<Route[]> {
  return JSON.parse((await exec('ip', [`-${family}`, '-j', 'route', 'show'], { netns })).stdout || '[]') as Route[];
}

/** The uplinks a route leaves by (one, or several for ECMP). */
export function devicesOf(route: Route): string[] {
  return route.nexthops ? route.nexthops.map((n) => n.dev ?? '?').sort() : [route.dev ?? '?'];
}

/** A pod's IPv4 address. */
export const v4 = (pod: LabPod): string => pod.addresses.find((a) => !a.includes(':'))!;

/** The machine's load averages (1, 5, 15 min), for figures. */
export const loadavg = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/**
 * Pings `to` from a pod at 100 per second for `seconds`; after `afterMs`, runs `during` (a
 * failure, a restart). Returns the packets sent and lost (a reply later than 1 s is lost).
 */
export async function flowLoss(from: LabPod, to: string, options: { seconds: number; afterMs?: number; during?: () => Promise<unknown> }): Promise<{ sent: number; lost: number }> {
  const { seconds } = options;
  const ping = exec('ping', ['-n', '-q', '-i', '0.01', '-w', String(seconds), '-W', '1', to], { netns: from.netns, allowFail: true, timeoutMs: (seconds + 10) * 1000 });
  if (options.during) {
    await new Promise((r) => setTimeout(r, options.afterMs ?? 0));
    await options.during();
  }
  const res = await ping;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(res.stdout);
  if (!m) throw new Error(`ping output: ${res.stdout} ${res.stderr}`);
  return { sent: Number(m[1]), lost: Number(m[1]) - Number(m[2]) };
}

/** `all up` when every router runs FRR with every session Established; else the rows that are not. */
export function fabricStatus(rows: string[][]): string {
  const bad = rows.filter((r) => r[3] !== 'running' || !/^(\d+)\/\1 up/.test(r[4]!));
  return bad.length === 0 ? 'all up' : JSON.stringify(bad);
}

/** Every end of a fabric link that has an IPv4 address (`node iface`): none, when the fabric is unnumbered. */
export async function ipv4OnLinks(fabric: FabricPlan): Promise<string[]> {
  const found: string[] = [];
  for (const link of fabric.links) {
    for (const end of [link.a, link.b]) {
      const addrs = JSON.parse((await exec('ip', ['-4', '-j', 'addr', 'show', 'dev', end.iface], { netns: end.netns })).stdout) as { addr_info?: unknown[] }[];
      if ((addrs[0]?.addr_info ?? []).length > 0) found.push(`${end.node} ${end.iface}`);
    }
  }
  return found;
}
