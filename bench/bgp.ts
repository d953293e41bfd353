/**
 * BGP propagation: time from a new pod on one host to a route to it on every other host, for 4
 * and 10 hosts (host namespaces on one fabric, the node process, `margay agent --bgp` in-process,
 * and BIRD on each, one etcd).
 *
 * Each pod gets a new block (the pool has blockSize 32), so every pod is a real BGP change:
 *   margay:   IPAM assign (etcd) → watch → BgpView → render → bird -p → birdc configure → BGP → kernel
 *   baseline: the same BIRD configuration change written straight to bird.conf + birdc configure
 *             (BGP and kernel only: what BIRD alone costs, measured in the same run)
 * The time for one pod is the moment the last other host's kernel got the route (ip monitor).
 * Then the leaf–spine lab fabric and a 20-host route-reflector lab (bench/bgp-fabric.ts: new
 * blocks, failures of each kind, p50/p90; BENCH_BGP_FABRIC=0 skips them; it uses the lab's fixed namespace
 * names, so run the whole file under the lab lock).
 * Prints figures and ratios; asserts nothing. Run: npx tsx bench/bgp.ts  (root; bird, etcd, FRR)
 */
import { writeFileSync } from 'node:fs';
import { birdCommand } from '../src/bgp/bird-client.ts';
import { renderBirdConfig } from '../src/bgp/bird-config.ts';
import { environmentLayers, flagLayers } from '../src/agent/config.ts';
import { silentLogger } from '../src/log/mod.ts';
import { NodeProcess } from '../src/agent/node.ts';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { Ipam } from '../src/ipam/ipam.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { eventually } from '../test/harness/wait.ts';
import { RouteWatch } from '../test/bgp/route-watch.ts';
import { createFabric, type Fabric, resource, TEST_RENDER_OPTIONS } from '../test/bgp/topology.ts';
import { benchFabric, benchRouteReflectors } from './bgp-fabric.ts';

const TRIALS = Number(process.env.BENCH_TRIALS ?? 12);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Waits until every watch saw `dst` added at or after `t0`; returns the latest arrival - t0. */
async function arrival(watches: RouteWatch[], dst: string, t0: number): Promise<number> {
  const bare = dst.replace(/\/32$/, '');
  const latest = await eventually(
    () => {
      const times = watches.map((w) => w.events.find((e) => !e.deleted && (e.dst === dst || e.dst === bare) && e.at >= t0)?.at);
      if (times.some((t) => t === undefined)) return false;
      return Math.max(...(times as number[]));
    },
    { timeoutMs: 20_000, intervalMs: 2, what: `route ${dst} on every host` },
  );
  return (latest as number) - t0;
}

interface Row {
  hosts: number;
  margay: number[];
  /** Of which: the IPAM assignment (etcd transactions) and the owner's render + bird -p + configure. */
  assign: number[];
  apply: number[];
  baseline: number[];
  meshMs: number;
}

async function run(hostCount: number, endpoints: string[], poolIndex: number): Promise<Row> {
  const fab: Fabric = await createFabric(hostCount, { blocks: false });
  const clients: EtcdDatastore[] = [];
  const nodes: NodeProcess[] = [];
  const watches: RouteWatch[] = [];
  try {
    const admin = new EtcdDatastore({ endpoints });
    clients.push(admin);
    const pool = `10.${200 + poolIndex}.0.0/22`;
    await new ResourceStore(admin).create(resource('IPPool', `bench-${hostCount}`, { cidr: pool, blockSize: 32 }));
    const t0 = Date.now();
    const onApplied: ((ms: number) => void)[] = [];
    for (const [index, h] of fab.hosts.entries()) {
      const ds = new EtcdDatastore({ endpoints });
      clients.push(ds);
      nodes.push(
        new NodeProcess({
          datastore: ds,
          local: {
            layers: [...environmentLayers({ MARGAY_DATAPLANEFLUSHDELAY: '0.02' }).layers, ...flagLayers({ hostname: `b${hostCount}-${h.name}`, netns: h.ns.name, stateDir: h.stateDir })],
            warnings: [],
          },
          bgp: {
            defaultPools: false,
            render: TEST_RENDER_OPTIONS,
            debounceMs: 20,
            onApplied: (info) => {
              if (info.outcome === 'reconfigured') onApplied[index]?.(info.latencyMs);
            },
          },
          logger: silentLogger(),
          servers: false,
        }),
      );
    }
    await Promise.all(nodes.map((n) => n.start()));
    const controllers = nodes.map((n) => n.bgp!);
    await Promise.all(controllers.map((c) => c.ready));
    await eventually(
      async () => {
        for (const c of controllers) {
          const up = (await c.status()).peers.filter((p) => p.info === 'Established').length;
          if (up !== hostCount - 1) return false;
        }
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'full mesh' },
    );
    const meshMs = Date.now() - t0;
    for (const h of fab.hosts) watches.push(await RouteWatch.start(h.ns.name));

    const ipam = new Ipam(admin);
    const margay: number[] = [];
    const assign: number[] = [];
    const apply: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const owner = i % hostCount;
      const others = watches.filter((_, j) => j !== owner);
      const applied = new Promise<number>((resolve) => (onApplied[owner] = (ms) => resolve(ms)));
      const start = Date.now();
      const a = (await ipam.autoAssign({ handle: `bench-${hostCount}-${i}`, node: `b${hostCount}-${fab.hosts[owner]!.name}`, num4: 1 })).ipv4[0]!;
      assign.push(Date.now() - start);
      margay.push(await arrival(others, a.block, start));
      apply.push(await applied);
    }

    // Baseline: BIRD alone. Stop the controllers (BIRD keeps running), then change each owner's
    // configuration by hand the same way: one more static /32, written and reloaded.
    await Promise.all(nodes.map((n) => n.stop({ bird: 'leave' })));
    const baseline: number[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const owner = i % hostCount;
      const c = controllers[owner]!;
      const others = watches.filter((_, j) => j !== owner);
      const name = `b${hostCount}-${fab.hosts[owner]!.name}`;
      const input = c.view.birdInput(name, { options: TEST_RENDER_OPTIONS });
      const extra = `10.${200 + poolIndex}.3.${i + 1}/32`;
      const text = renderBirdConfig({ ...input, affineBlocks: [...input.affineBlocks, extra] }).text;
      const start = Date.now();
      writeFileSync(c.bird.configPath, text);
      await birdCommand(c.bird.socketPath, 'configure');
      baseline.push(await arrival(others, extra, start));
    }
    return { hosts: hostCount, margay, assign, apply, baseline, meshMs };
  } finally {
    for (const w of watches) w.stop();
    for (const n of nodes) {
      await n.stop({ bird: 'stop' }).catch(() => undefined);
      await n.bgp?.bird.stop().catch(() => undefined);
    }
    for (const ds of clients) await ds.close().catch(() => undefined);
    await fab.destroy();
  }
}

const rows: Row[] = [];
for (const [i, n] of [4, 10].entries()) {
  // A fresh etcd per size: the Nodes of one run would hold the fabric addresses of the next.
  const etcd = await startEtcd();
  try {
    rows.push(await run(n, etcd.endpoints, i));
  } finally {
    await etcd.destroy();
  }
}
{
  console.log(`\nNew pod (new /32 block) on one host → route in every other host's kernel; ${TRIALS} pods per size, owners round-robin.\n`);
  console.log('| hosts | mesh up (ms) | margay p50 (ms) | p90 | max | of which IPAM assign p50 | watch→BIRD configured p50 | BIRD-alone p50 (ms) | p90 | ratio p50 |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const m50 = percentile(r.margay, 50);
    const b50 = percentile(r.baseline, 50);
    console.log(
      `| ${r.hosts} | ${r.meshMs} | ${m50} | ${percentile(r.margay, 90)} | ${Math.max(...r.margay)} | ${percentile(r.assign, 50)} | ${percentile(r.apply, 50)} | ${b50} | ${percentile(r.baseline, 90)} | ${(m50 / Math.max(1, b50)).toFixed(2)} |`,
    );
  }
}
if (process.env.BENCH_BGP_FABRIC !== '0') {
  await benchFabric();
  const rrHosts = Number(process.env.BENCH_RR_HOSTS ?? 20);
  if (rrHosts > 0) await benchRouteReflectors(rrHosts);
}
