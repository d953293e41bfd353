/**
 * Convergence of the lab's BGP designs, measured on the real lab (run under the lab lock: the
 * namespace names are fixed): `flock /tmp/margay-int.lock npx tsx bench/bgp-fabric.ts`.
 *
 * 1. The leaf–spine fabric (`lab up --fabric leaf-spine --racks 2 --hosts-per-rack 3
 *    --dual-homed`: FRR leaves and spines, hosts peering unnumbered with both leaves, BFD
 *    100 ms × 3, the mesh off):
 *    - a new block (BENCH_BLOCKS, default 24): an IPAM assignment from a pool of /32 blocks on one
 *      host → the route in every other host's kernel (ip monitor);
 *    - failures under a flow between racks (100 pings/s), BENCH_FAILURES (default 5) of each: a leaf
 *      failing silently, a host's uplink cut, a host failing (its block withdrawn from every other
 *      host), BIRD killed (its agent restarts it with graceful restart), an agent killed;
 *      packets lost, as time and as a ratio to BFD's detection time.
 * 2. A flat lab of BENCH_RR_HOSTS (default 20; 0 skips) hosts with two route reflectors, mesh
 *    off, BFD on the reflector sessions: new blocks, and hosts failing (their block withdrawn).
 * Prints p50/p90 with the machine's load; asserts nothing.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ipam } from '../src/ipam/ipam.ts';
import { failRouter, recoverRouter, setLink } from '../src/lab/fabric/failures.ts';
import { fabricRows } from '../src/lab/fabric/status.ts';
import { failHost, recoverHost, restartAgent } from '../src/lab/hosts.ts';
import { applyManifests, labDown, labUp, podAdd, withStore, type LabContext } from '../src/lab/lab.ts';
import { POOL4_CANDIDATES } from '../src/lab/ranges.ts';
import { routeReflectorResources } from '../src/lab/route-reflectors.ts';
import { BFD_ANNOTATION } from '../src/bgp/mod.ts';
import { readState, writeState, type LabPod, type LabState } from '../src/lab/state.ts';
import { RouteWatch } from '../test/bgp/route-watch.ts';
import { fabricStatus, flowLoss, loadavg, v4 } from '../test/e2e/fabric-helpers.ts';
import { eventually } from '../test/harness/wait.ts';
import { exec } from '../src/os/mod.ts';

const BLOCKS = Number(process.env.BENCH_BLOCKS ?? 24);
const FAILURES = Number(process.env.BENCH_FAILURES ?? 5);
const RR_HOSTS = Number(process.env.BENCH_RR_HOSTS ?? 20);

/** `p50 X, p90 Y, min–max (n)` of a list of figures. */
function summary(values: number[], unit: string): string {
  const sorted = [...values].sort((x, y) => x - y);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
  return `p50 ${at(50)} ${unit}, p90 ${at(90)} ${unit}, ${sorted[0]}–${sorted[sorted.length - 1]} ${unit} (n=${values.length})`;
}

/** Prints measurement rows as a markdown table under a title. */
function printTable(title: string, rows: string[][]): void {
  console.log(`\n${title}\n\n| measurement | result | load (1/5/15 min) |\n|---|---|---|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

/** Rows that print themselves as they come (a later failure keeps the earlier figures). */
function liveRows(): string[][] {
  const rows: string[][] = [];
  const push = rows.push.bind(rows);
  rows.push = (...items: string[][]) => {
    for (const r of items) console.error(`# ${r.join(' | ')}`);
    return push(...items);
  };
  return rows;
}

/** Waits until every watch saw `dst` added (or deleted) at or after `t0`; the latest arrival − t0. */
async function seenEverywhere(watches: RouteWatch[], dst: string, t0: number, deleted: boolean): Promise<number> {
  const bare = dst.replace(/\/32$/, '');
  const latest = await eventually<number | false>(() => {
    const times = watches.map((w) => w.events.find((e) => e.deleted === deleted && (e.dst === dst || e.dst === bare) && e.at >= t0)?.at);
    return times.every((t) => t !== undefined) ? Math.max(...(times as number[])) - t0 : false;
  }, { timeoutMs: 30_000, intervalMs: 2, what: `${dst} ${deleted ? 'withdrawn' : 'routed'} everywhere` });
  return latest as number;
}

/**
 * New blocks: a pool of /32 blocks (every assignment is a new block, as bench/bgp.ts), then
 * `count` assignments on the hosts in turn; each the time until every other host routes it.
 */
async function newBlocks(state: LabState, watches: RouteWatch[], count: number): Promise<number[]> {
  const cidr = POOL4_CANDIDATES.find((c) => c !== state.plan.ranges.pool4)!;
  await applyManifests(state, JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'bench-blocks' }, spec: { cidr, blockSize: 32, vxlanMode: 'Never', natOutgoing: false } }));
  await new Promise((r) => setTimeout(r, 2000)); // every BIRD has the new pool in its filters
  const hosts = state.plan.hosts;
  return withStore(state, async (store) => {
    const ipam = new Ipam(store.datastore);
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const owner = i % hosts.length;
      const t0 = Date.now();
      const ip = (await ipam.autoAssign({ handle: `bench-block-${i}`, node: hosts[owner]!.name, num4: 1, pools4: ['bench-blocks'] })).ipv4[0]!;
      times.push(await seenEverywhere(watches.filter((_, j) => j !== owner), `${ip.address}/32`, t0, false));
    }
    return times;
  });
}

/** Fails and recovers a host `count` times; each the time until every other host withdrew its block (a round that times out is left out). */
async function hostFailures(ctx: LabContext, watches: RouteWatch[], pod: LabPod, count: number): Promise<number[]> {
  const state = readState(ctx.dir)!;
  const owner = state.plan.hosts.findIndex((h) => h.name === pod.host);
  const others = state.plan.hosts.filter((_, j) => j !== owner);
  const block = blockOf(v4(pod));
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    // Every other host routes the block again before it fails (recoverHost only waits a while).
    await eventually(async () => {
      for (const h of others) if (!(await exec('ip', ['-4', 'route', 'show', block, 'proto', 'bird'], { netns: h.netns })).stdout.trim()) return false;
      return true;
    }, { timeoutMs: 60_000, intervalMs: 200, what: `${block} routed everywhere again` });
    const t0 = Date.now();
    await failHost(ctx, pod.host);
    try {
      times.push(await seenEverywhere(watches.filter((_, j) => j !== owner), block, t0, true));
    } catch (err) {
      console.error(`# host failure ${i + 1}: ${(err as Error).message}`);
    }
    await recoverHost(ctx, pod.host);
  }
  return times;
}

/** Waits until every router of the fabric runs with all its sessions up, plus BFD's start. */
async function fabricUp(ctx: LabContext): Promise<void> {
  await eventually(async () => fabricStatus(await fabricRows(ctx.dir, readState(ctx.dir)!)) === 'all up', { timeoutMs: 90_000, intervalMs: 500, what: 'fabric all up' });
  await new Promise((r) => setTimeout(r, 1000));
}

/** Runs `fail`/`recover` `count` times under a 4 s flow; the packets lost each time. */
async function lossUnder(ctx: LabContext, from: LabPod, to: LabPod, count: number, fail: (i: number) => Promise<unknown>, recover?: (i: number) => Promise<unknown>): Promise<number[]> {
  const lost: number[] = [];
  for (let i = 0; i < count; i++) {
    lost.push((await flowLoss(from, v4(to), { seconds: 4, afterMs: 1000, during: () => fail(i) })).lost);
    if (recover) await recover(i);
    await fabricUp(ctx);
  }
  return lost;
}

/** The leaf–spine measurements. */
export async function benchFabric(): Promise<void> {
  const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-bench-fabric-')), progress: () => undefined };
  const rows = liveRows();
  try {
    const t0 = Date.now();
    const state = await labUp({ hosts: 6, router: false, ipv6: false, fabric: { topology: 'leaf-spine', racks: 2, hostsPerRack: 3, dualHomed: true, asModel: 'rack' } }, ctx);
    rows.push(['lab up (6 hosts, 6 FRR routers, agents in sync)', `${Date.now() - t0} ms`, loadavg()]);
    const detection = state.plan.fabric!.bfd.intervalMs * state.plan.fabric!.bfd.multiplier;
    const asLoss = (lost: number[]) => `${summary(lost, 'packets')}; ${summary(lost.map((l) => l * 10), 'ms')}; p90 ${((Math.max(...lost.slice().sort((a, b) => a - b).slice(0, Math.ceil(lost.length * 0.9))) * 10) / detection).toFixed(2)} × BFD detection (${detection} ms)`;
    const watches = await Promise.all(state.plan.hosts.map((h) => RouteWatch.start(h.netns)));
    try {
      // The flow's pods first: afterwards a second pool (of /32 blocks) could serve them.
      const pods: LabPod[] = [];
      for (const n of [1, 4, 5, 6]) pods.push(await podAdd(ctx, { namespace: 'b', name: `p${n}`, host: `host-${n}`, labels: {}, serve: [] }));
      const blocks = await newBlocks(state, watches, BLOCKS);
      rows.push(['new block → route on all 5 other hosts', summary(blocks, 'ms'), loadavg()]);
      const [p1, p4, p5, p6] = pods as [LabPod, LabPod, LabPod, LabPod];
      const leafName = (i: number) => (i % 2 === 0 ? 'leaf-2a' : 'leaf-2b');
      const leaf = await lossUnder(ctx, p1, p4, FAILURES, async (i) => {
        const s = readState(ctx.dir)!;
        await failRouter(s, leafName(i));
        writeState(ctx.dir, s);
      }, async (i) => {
        const s = readState(ctx.dir)!;
        await recoverRouter(ctx.dir, s, leafName(i));
        writeState(ctx.dir, s);
      });
      rows.push(['a leaf of rack 2 fails silently, flow host-1 → host-4 (100 pps): lost', asLoss(leaf), loadavg()]);
      const link = await lossUnder(ctx, p1, p4, FAILURES, (i) => setLink(readState(ctx.dir)!, 'host-4', leafName(i), false), (i) => setLink(readState(ctx.dir)!, 'host-4', leafName(i), true));
      rows.push(['host-4\'s uplink to a leaf cut, flow host-1 → host-4: lost', asLoss(link), loadavg()]);
      const bird = await lossUnder(ctx, p1, p4, FAILURES, async (i) => {
        const host = i % 2 === 0 ? 'host-4' : 'host-1';
        process.kill(birdPid(ctx, host), 'SIGKILL');
      });
      rows.push(['BIRD killed (host-4 / host-1 in turn), restarted by its agent with graceful restart, flow host-1 → host-4: lost', `${bird.join(', ')} packets`, loadavg()]);
      const agent = await lossUnder(ctx, p1, p5, FAILURES, () => restartAgent(ctx, 'host-5', { kill: true }));
      rows.push(['agent of host-5 killed and started again (BIRD adopted), flow host-1 → host-5: lost', `${agent.join(', ')} packets`, loadavg()]);
      const hostFail = await hostFailures(ctx, watches, p6, FAILURES);
      rows.push(['host-6 fails → its block withdrawn from all 5 other hosts', summary(hostFail, 'ms'), loadavg()]);
    } finally {
      for (const w of watches) w.stop();
    }
  } finally {
    await labDown(ctx);
  }
  printTable('Leaf–spine fabric (2 racks × 3 dual-homed hosts, unnumbered, BFD 100 ms × 3, mesh off)', rows);
}

/** The PID of a lab host's BIRD. */
function birdPid(ctx: LabContext, host: string): number {
  return Number(readFileSync(join(ctx.dir, 'hosts', host, 'bird', 'bird.pid'), 'utf8'));
}

/** The block (/26) of a pod address. */
function blockOf(address: string): string {
  const octets = address.split('.');
  return `${octets.slice(0, 3).join('.')}.${Number(octets[3]) & ~63}/26`;
}

/**
 * A larger flat lab with two route reflectors and the mesh off (`lab up --hosts N
 * --route-reflectors 2`, BFD on the reflector sessions): time to come up, new blocks, and hosts
 * failing (their block withdrawn from every other host, through the reflectors).
 */
export async function benchRouteReflectors(hosts: number): Promise<void> {
  const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-bench-rr-')), progress: () => undefined };
  const rows = liveRows();
  try {
    const t0 = Date.now();
    const state = await labUp({ hosts, router: false, ipv6: false, routeReflectors: 2 }, ctx);
    rows.push([`lab up (${hosts} hosts, 2 route reflectors, mesh off; agents in sync)`, `${Date.now() - t0} ms`, loadavg()]);
    // BFD on the reflector sessions (the lab's peer, annotated): a failed client is noticed in 300 ms.
    const peer = routeReflectorResources(state.plan).find((d) => (d as { kind: string }).kind === 'BGPPeer') as { metadata: Record<string, unknown> };
    await applyManifests(state, JSON.stringify({ apiVersion: 'projectcalico.org/v3', ...peer, metadata: { ...peer.metadata, annotations: { [BFD_ANNOTATION]: 'true' } } }));
    await new Promise((r) => setTimeout(r, 5000)); // the sessions restart with BFD
    const watches = await Promise.all(state.plan.hosts.map((h) => RouteWatch.start(h.netns)));
    try {
      const victim = await podAdd(ctx, { namespace: 'b', name: 'victim', host: `host-${hosts}`, labels: {}, serve: [] });
      rows.push([`new block → route on all ${hosts - 1} other hosts`, summary(await newBlocks(state, watches, BLOCKS), 'ms'), loadavg()]);
      rows.push([`host-${hosts} (a client) fails → its block withdrawn from all ${hosts - 1} other hosts`, summary(await hostFailures(ctx, watches, victim, FAILURES), 'ms'), loadavg()]);
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
  if (RR_HOSTS > 0) await benchRouteReflectors(RR_HOSTS);
}
