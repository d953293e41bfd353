/**
 * Convergence of the lab's leaf–spine fabric (`lab up --fabric leaf-spine --racks 2
 * --hosts-per-rack 3 --dual-homed`, src/lab/fabric): FRR leaves and spines, hosts peering
 * unnumbered with both leaves, BFD 100 ms × 3, the mesh off. Measures, on the real lab:
 *  - a new block: the first pod on each host (a new /26) → its route in every other host's kernel;
 *  - a host failing (uplinks cut, processes killed) → its block gone from every other host;
 *  - a leaf failing silently under a flow between racks (100 pings/s) → packets lost, as time and
 *    as a ratio to BFD's detection time;
 *  - an agent restart (BIRD kept and adopted) under the same flow → packets lost.
 * Prints figures with the machine's load; asserts nothing. Run under the lab lock (fixed
 * namespace names): flock /tmp/margay-int.lock npx tsx bench/bgp-fabric.ts
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from '../src/os/mod.ts';
import { failRouter } from '../src/lab/fabric/failures.ts';
import { failHost, restartAgent } from '../src/lab/hosts.ts';
import { labDown, labUp, podAdd, type LabContext } from '../src/lab/lab.ts';
import { readState, writeState, type LabPod } from '../src/lab/state.ts';
import { RouteWatch } from '../test/bgp/route-watch.ts';
import { eventually } from '../test/harness/wait.ts';

const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

/** Prints measurement rows as a markdown table under a title. */
function printTable(title: string, rows: string[][]): void {
  console.log(`\n${title}\n\n| measurement | result | load (1/5/15 min) |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

/** Pings at 100/s for `seconds` from a pod while `during` runs after `afterMs`; packets sent and lost. */
async function flowLoss(from: LabPod, to: string, seconds: number, afterMs: number, during: () => Promise<unknown>): Promise<{ sent: number; lost: number }> {
  const ping = exec('ping', ['-n', '-q', '-i', '0.01', '-w', String(seconds), '-W', '1', to], { netns: from.netns, allowFail: true, timeoutMs: (seconds + 10) * 1000 });
  await new Promise((r) => setTimeout(r, afterMs));
  await during();
  const m = /(\d+) packets transmitted, (\d+) received/.exec((await ping).stdout);
  return m ? { sent: Number(m[1]), lost: Number(m[1]) - Number(m[2]) } : { sent: 0, lost: -1 };
}

/** Waits until every watch saw `dst` added (or deleted) at or after `t0`; the latest arrival − t0. */
async function seenEverywhere(watches: RouteWatch[], dst: string, t0: number, deleted: boolean): Promise<number> {
  const latest = await eventually<number | false>(() => {
    const times = watches.map((w) => w.events.find((e) => e.deleted === deleted && e.dst === dst && e.at >= t0)?.at);
    return times.every((t) => t !== undefined) ? Math.max(...(times as number[])) - t0 : false;
  }, { timeoutMs: 30_000, intervalMs: 2, what: `${dst} ${deleted ? 'withdrawn' : 'routed'} everywhere` });
  return latest as number;
}

/** Runs the fabric measurements and prints a table. */
export async function benchFabric(): Promise<void> {
  const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-bench-fabric-')), progress: () => undefined };
  const rows: string[][] = [];
  try {
    const t0 = Date.now();
    const state = await labUp({ hosts: 6, router: false, ipv6: false, fabric: { topology: 'leaf-spine', racks: 2, hostsPerRack: 3, dualHomed: true, asModel: 'rack' } }, ctx);
    rows.push(['lab up (6 hosts, 6 FRR routers, agents in sync)', `${Date.now() - t0} ms`, load()]);
    const detection = state.plan.fabric!.bfd.intervalMs * state.plan.fabric!.bfd.multiplier;
    const watches = await Promise.all(state.plan.hosts.map((h) => RouteWatch.start(h.netns)));
    const pods: LabPod[] = [];
    const newBlock: number[] = [];
    try {
      for (let n = 1; n <= 6; n++) {
        const start = Date.now();
        const pod = await podAdd(ctx, { namespace: 'b', name: `p${n}`, host: `host-${n}`, labels: {}, serve: [] });
        pods.push(pod);
        newBlock.push(await seenEverywhere(watches.filter((_, i) => i !== n - 1), blockOf(pod.addresses[0]!), start, false));
      }
      rows.push(['new block (first pod on a host) → route on all 5 other hosts, per host', `${newBlock.join(', ')} ms`, load()]);

      const to = pods[3]!.addresses[0]!;
      const leaf = await flowLoss(pods[0]!, to, 5, 1500, async () => {
        const s = readState(ctx.dir)!;
        await failRouter(s, 'leaf-2a');
        writeState(ctx.dir, s);
      });
      rows.push([`leaf-2a fails silently, flow host-1 → host-4 (100 pps): lost`, `${leaf.lost} of ${leaf.sent} (~${leaf.lost * 10} ms; ${((leaf.lost * 10) / detection).toFixed(2)} × BFD detection ${detection} ms)`, load()]);

      const agent = await flowLoss(pods[0]!, pods[4]!.addresses[0]!, 8, 1000, () => restartAgent(ctx, 'host-5', { kill: false }));
      rows.push(['agent of host-5 restarted (BIRD adopted), flow host-1 → host-5: lost', `${agent.lost} of ${agent.sent}`, load()]);

      const block6 = blockOf(pods[5]!.addresses[0]!);
      const failedAt = Date.now();
      await failHost(ctx, 'host-6');
      const withdrawn = await seenEverywhere(watches.slice(0, 5), block6, failedAt, true);
      rows.push(['host-6 fails → its block withdrawn from all 5 other hosts', `${withdrawn} ms`, load()]);
    } finally {
      for (const w of watches) w.stop();
    }
  } finally {
    await labDown(ctx);
  }
  printTable('Leaf–spine fabric (2 racks × 3 dual-homed hosts, unnumbered, BFD 100 ms × 3, mesh off)', rows);
}

/** The block (/26) of a pod address. */
function blockOf(address: string): string {
  const octets = address.split('.');
  return `${octets.slice(0, 3).join('.')}.${Number(octets[3]) & ~63}/26`;
}

/**
 * A larger flat lab with two route reflectors and the mesh off (`lab up --hosts N
 * --route-reflectors 2`): time to come up, and from a new block on a host to its route on every
 * other host (through the reflectors).
 */
export async function benchRouteReflectors(hosts: number): Promise<void> {
  const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-bench-rr-')), progress: () => undefined };
  const rows: string[][] = [];
  try {
    const t0 = Date.now();
    const state = await labUp({ hosts, router: false, ipv6: false, routeReflectors: 2 }, ctx);
    rows.push([`lab up (${hosts} hosts, 2 route reflectors, mesh off; agents in sync)`, `${Date.now() - t0} ms`, load()]);
    const watches = await Promise.all(state.plan.hosts.map((h) => RouteWatch.start(h.netns)));
    try {
      const times: number[] = [];
      for (const n of [3, 8, 13, hosts]) {
        const start = Date.now();
        const pod = await podAdd(ctx, { namespace: 'b', name: `r${n}`, host: `host-${n}`, labels: {}, serve: [] });
        times.push(await seenEverywhere(watches.filter((_, i) => i !== n - 1), blockOf(pod.addresses[0]!), start, false));
      }
      rows.push([`new block → route on all ${hosts - 1} other hosts (hosts 3, 8, 13, ${hosts})`, `${times.join(', ')} ms`, load()]);
    } finally {
      for (const w of watches) w.stop();
    }
  } finally {
    await labDown(ctx);
  }
  printTable('Route reflectors', rows);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await benchFabric();
  if (process.env.BENCH_RR_HOSTS) await benchRouteReflectors(Number(process.env.BENCH_RR_HOSTS));
}
