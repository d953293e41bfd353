/**
 * IPAM against a real etcd, with real allocating processes:
 *   (a) 10 processes allocate concurrently for 5 hosts, 1,000 addresses in all: no duplicate, every
 *       address in its host's affine block (none borrowed: the pool has room), then 10 processes
 *       release everything and `margay ipam check` is clean;
 *   (b) rounds of allocating processes killed with SIGKILL at random moments, then the garbage
 *       collector (short grace period; a few addresses kept in use by workload endpoints, one host
 *       without a Node resource): no leaked address, no corrupt block, `ipam check` clean;
 *   (c) the same with each pod's WorkloadEndpoint written in its addresses' transaction (as a CNI
 *       ADD does) and deleted before the release (as a DEL does): at every kill, each endpoint's
 *       addresses are held by its handle and by no one else; after GC exactly the endpoints'
 *       addresses remain.
 */
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { IpamGarbageCollector } from '../../src/controllers/ipam-gc/collector.ts';
import { ManualClock } from '../../src/os/mod.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { blockProblems } from '../../src/ipam/block.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { allocationsOf } from '../../src/ipam/ownership.ts';
import { cidrContainsIp, parseIp } from '../../src/net/mod.ts';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { eventually } from '../harness/wait.ts';
import { margay } from '../cli/helpers.ts';
import { apply, node, pool, wep } from './helpers.ts';
import { killAll, startWorker, type Worker, type WorkerOptions } from './workers.ts';

interface Line {
  ip?: string;
  block?: string;
  borrowed?: boolean;
  handle?: string;
  node?: string;
  done?: boolean;
  error?: string;
}

function suiteEtcd(): { etcd: () => EtcdHandle; ds: () => Datastore } {
  let etcd: EtcdHandle | undefined;
  let ds: Datastore | undefined;
  before(async () => {
    etcd = await startEtcd();
    ds = new EtcdDatastore({ endpoints: etcd.endpoints });
  });
  after(async () => {
    await ds?.close();
    await etcd?.destroy();
  });
  return { etcd: () => etcd!, ds: () => ds! };
}

/**
 * Starts a worker per options (added to `workers`), lets them all work, and kills each with
 * SIGKILL at its own random moment `minMs` to `minMs` + 900 ms later; fails on a worker's error.
 */
async function churnThenKill(workers: Worker[], options: WorkerOptions[], minMs: number): Promise<void> {
  const batch = options.map((o) => startWorker(o));
  workers.push(...batch);
  await Promise.all(batch.map((w) => w.ready));
  for (const w of batch) w.go();
  await Promise.all(
    batch.map(async (w) => {
      await delay(minMs + Math.floor(Math.random() * 900));
      w.kill('SIGKILL');
      await w.exited;
    }),
  );
  for (const w of batch) assert.ok(!(w.lines as Line[]).some((l) => l.error), w.stderr + JSON.stringify(w.lines.filter((l) => (l as Line).error)));
}

/**
 * Runs GC passes (short grace periods, one clock step each) until two in a row decide nothing:
 * GC is periodic and each step waits its grace period (leaks released, then an emptied block's
 * affinity, then the unaffine empty block), so a waiting item is decided the next pass.
 */
async function gcUntilQuiet(ds: Datastore): Promise<void> {
  const clock = new ManualClock();
  const gc = new IpamGarbageCollector({ datastore: ds, clock, leakGraceMs: 1000, staleRecordGraceMs: 1000 });
  let quiet = 0;
  for (let pass = 0; pass < 12 && quiet < 2; pass++) {
    const { plan } = await gc.runPass();
    const decided = [plan.releases, plan.coolBlocks, plan.releaseAffinities, plan.confirmAffinities, plan.deleteAffinities, plan.deleteBlocks, plan.deleteHandles, plan.fixHandles].some((l) => l.length > 0);
    quiet = decided ? 0 : quiet + 1;
    clock.advance(1000);
  }
  assert.equal(quiet, 2, 'GC converged within 12 passes');
}

describe('ipam (etcd) - 10 processes, 5 hosts, 1,000 addresses', () => {
  const env = suiteEtcd();
  const workers: Worker[] = [];
  after(() => killAll(workers));

  test('no duplicate, every address in its host\'s affine block, released and consistent', async () => {
    const ds = env.ds();
    const endpoints = env.etcd().endpoints;
    const hosts = ['host-0', 'host-1', 'host-2', 'host-3', 'host-4'];
    await apply(ds, pool('pods', '10.20.0.0/16'), ...hosts.map((h) => node(h)));
    for (let i = 0; i < 10; i++) {
      workers.push(startWorker({ endpoints, mode: 'alloc', node: hosts[i % 5]!, tag: `w${i}`, count: 100, concurrency: 10, waitGo: true, thenRelease: true }));
    }
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const failed = () => workers.map((w) => w.stderr + JSON.stringify(w.lines.filter((l) => (l as Line).error))).join('\n');
    await Promise.race([
      Promise.all(workers.map((w) => eventually(() => w.lines.some((l) => (l as { allocated?: boolean }).allocated), { timeoutMs: 120_000 }))),
      Promise.any(workers.map((w) => w.exited)).then(() => assert.fail(`a worker exited early: ${failed()}`)),
    ]);

    const allocations = workers.flatMap((w) => w.lines as Line[]).filter((l) => l.ip);
    assert.equal(allocations.length, 1000);
    assert.equal(new Set(allocations.map((a) => a.ip)).size, 1000, 'no address handed out twice');
    assert.equal(allocations.filter((a) => a.borrowed).length, 0, 'the pool has room: nothing borrowed');

    const snapshot = await new Ipam(ds).snapshot();
    const blocks = [...snapshot.blocks.values()];
    for (const a of allocations) {
      const block = blocks.find((b) => cidrContainsIp(b.cidr, parseIp(a.ip!)!))!;
      assert.ok(block, `${a.ip} is in a block`);
      assert.equal(block.block.affinity, `host:${a.node}`, `${a.ip} of ${a.node} is in ${block.block.cidr}, affine to ${block.block.affinity}`);
      const stored = allocationsOf(block).find((x) => x.address === a.ip)!;
      assert.equal(stored.handle, a.handle);
      assert.equal(stored.attrs.node, a.node);
    }
    for (const b of blocks) assert.deepEqual(blockProblems(b.block, b.cidr), [], b.block.cidr);
    const perHost = new Map<string, number>();
    for (const b of blocks) perHost.set(b.block.affinity!, (perHost.get(b.block.affinity!) ?? 0) + 1);
    for (const h of hosts) assert.ok((perHost.get(`host:${h}`) ?? 0) >= 4, `${h} needs at least 4 /26 blocks for 200 addresses`);
    assert.equal(snapshot.handles.size, 1000);

    for (const w of workers) w.go(); // the same 10 processes now release everything, concurrently
    assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), Array(10).fill(0), failed());
    const after = await new Ipam(ds).snapshot();
    assert.equal(after.handles.size, 0);
    for (const b of after.blocks.values()) assert.equal(allocationsOf(b).length, 0, b.block.cidr);
    const check = await margay(['ipam', 'check'], { datastore: ds });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /IPAM is consistent\./);
  });
});

describe('ipam (etcd) - processes killed with SIGKILL mid-allocation, then GC', () => {
  const env = suiteEtcd();
  const workers: Worker[] = [];
  after(() => killAll(workers));

  test('no leaked address, no corrupt block, ipam check clean', async () => {
    const ds = env.ds();
    const endpoints = env.etcd().endpoints;
    // Small blocks, so that kills often land in the middle of a block claim.
    await apply(ds, pool('pods', '10.30.0.0/20', { blockSize: 29 }), pool('pods6', 'fd00:30::/112', { blockSize: 125 }));
    // Killed workers leave their addresses until GC, and /29 blocks hold 8: lift the default limit of 20
    // blocks per host (a fast run would otherwise refuse allocations with MARGAY_ERR_POOL_EXHAUSTED).
    const configured = await margay(['ipam', 'configure', '--max-blocks-per-host', '512'], { datastore: ds });
    assert.equal(configured.code, 0, configured.stderr);
    const hosts = ['k-0', 'k-1', 'k-2'];
    for (let round = 0; round < 3; round++) {
      const options = [0, 1, 2, 3, 4].map((i): WorkerOptions => ({ endpoints, mode: 'churn', node: hosts[(i + round) % 3]!, tag: `r${round}w${i}`, concurrency: 4, waitGo: true, num6: i % 2 }));
      await churnThenKill(workers, options, 200);
    }
    assert.equal(workers.length, 15);

    const ipam = new Ipam(ds);
    const before = await ipam.snapshot();
    const live = [...before.blocks.values()].flatMap(allocationsOf);
    assert.ok(live.length > 20, `the workers allocated something (${live.length})`);
    for (const b of before.blocks.values()) assert.deepEqual(blockProblems(b.block, b.cidr), [], `after the kills: ${b.block.cidr}`);

    // Some addresses stay in use: workload endpoints for five pods on hosts that exist.
    await apply(ds, node('k-0'), node('k-1')); // k-2 has no Node: its addresses and blocks go at once
    const keep = live.filter((a) => a.attrs.node !== 'k-2' && a.handle?.startsWith('k8s-pod-network.')).slice(0, 5);
    for (const a of keep) {
      const siblings = live.filter((x) => x.handle === a.handle).map((x) => x.address);
      await apply(ds, wep({ node: a.attrs.node!, namespace: 'ns', pod: a.attrs.pod!, containerID: a.handle!.split('.')[1]!, ips: siblings }));
    }
    const kept = new Set(keep.flatMap((a) => live.filter((x) => x.handle === a.handle).map((x) => x.address)));

    await gcUntilQuiet(ds);

    const afterGc = await ipam.snapshot();
    const remaining = [...afterGc.blocks.values()].flatMap(allocationsOf);
    assert.deepEqual(new Set(remaining.map((a) => a.address)), kept, 'exactly the addresses in use remain');
    for (const b of afterGc.blocks.values()) assert.deepEqual(blockProblems(b.block, b.cidr), [], b.block.cidr);
    assert.equal(afterGc.affinities.filter((a) => a.state !== 'confirmed').length, 0, 'no half-claimed block left');
    assert.equal(afterGc.affinities.filter((a) => a.node === 'k-2').length, 0, 'the host without a Node lost its affinities');
    const check = await margay(['ipam', 'check'], { datastore: ds });
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });
});

describe('ipam (etcd) - endpoints written with their addresses, processes killed with SIGKILL, then GC', () => {
  const env = suiteEtcd();
  const workers: Worker[] = [];
  after(() => killAll(workers));

  test('every endpoint names addresses its handle holds; after GC exactly those remain', async () => {
    const ds = env.ds();
    const endpoints = env.etcd().endpoints;
    const hosts = ['e-0', 'e-1'];
    await apply(ds, pool('pods', '10.40.0.0/20', { blockSize: 28 }), pool('pods6', 'fd00:40::/112', { blockSize: 124 }), ...hosts.map((h) => node(h)));
    const configured = await margay(['ipam', 'configure', '--max-blocks-per-host', '256'], { datastore: ds });
    assert.equal(configured.code, 0, configured.stderr);
    const store = new ResourceStore(ds);
    const ipam = new Ipam(ds);
    const endpointsHeld = async (): Promise<Set<string>> => {
      const { items } = await store.list(workloadEndpointKind);
      const named = new Set<string>();
      for (const w of items) {
        const spec = w.spec as { containerID: string; ipNetworks: string[] };
        const ips = spec.ipNetworks.map((n) => n.replace(/\/\d+$/, '')).sort();
        assert.deepEqual((await ipam.ipsByHandle(`k8s-pod-network.${spec.containerID}`)).sort(), ips, `${w.metadata.name} names what its handle holds`);
        for (const ip of ips) named.add(ip);
      }
      assert.ok(items.length > 10, `endpoints were written (${items.length})`);
      return named;
    };
    for (let round = 0; round < 3; round++) {
      const options = [0, 1, 2, 3].map((i): WorkerOptions => ({ endpoints, mode: 'churn', node: hosts[(i + round) % 2]!, tag: `x${round}w${i}`, concurrency: 4, waitGo: true, num6: i % 2, withEndpoint: true }));
      await churnThenKill(workers, options, 300);
      await endpointsHeld();
    }
    const snapshot = await ipam.snapshot();
    const live = [...snapshot.blocks.values()].flatMap(allocationsOf);
    assert.equal(new Set(live.map((a) => a.address)).size, live.length, 'no address held twice');
    for (const b of snapshot.blocks.values()) assert.deepEqual(blockProblems(b.block, b.cidr), [], b.block.cidr);
    const named = await endpointsHeld();

    await gcUntilQuiet(ds);
    const remaining = [...(await ipam.snapshot()).blocks.values()].flatMap(allocationsOf);
    assert.deepEqual(new Set(remaining.map((a) => a.address)), named, 'exactly the addresses endpoints name remain: nothing leaked, nothing in use lost');
    const check = await margay(['ipam', 'check'], { datastore: ds });
    assert.equal(check.code, 0, check.stdout + check.stderr);
  });
});
