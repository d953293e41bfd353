/**
 * IPAM against a real etcd (fsync on, as in production):
 *   1. allocation rate with 1, 5 and 10 concurrent allocators, each a separate process assigning
 *      addresses one after another (like successive CNI ADDs), each for its own host and then all
 *      for one host (contention on the same blocks); ratio to one allocator;
 *   2. 100 pods arriving at once on one host (100 concurrent autoAssign through one Ipam, as the
 *      agent serves its CNI requests): time until all have addresses, on a fresh host (blocks to
 *      claim) and a warm one; against 100 one-after-another and against no group commit.
 * Prints tables; asserts nothing. Run: npx tsx bench/ipam.ts
 */
import { performance } from 'node:perf_hooks';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { Ipam } from '../src/ipam/ipam.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { apply, node, pool } from '../test/ipam/helpers.ts';
import { killAll, startWorker, type Worker } from '../test/ipam/workers.ts';

/** Addresses per allocator: each for its own host, and (a contention stress) all for one host. */
const PER_ALLOCATOR = { own: 200, shared: 50 };

function perAllocator(sameHost: boolean): number {
  return sameHost ? PER_ALLOCATOR.shared : PER_ALLOCATOR.own;
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('   ');
  return [line(headers), ...rows.map(line)].join('\n');
}

const etcd = await startEtcd();
const ds = new EtcdDatastore({ endpoints: etcd.endpoints });
const workers: Worker[] = [];
try {
  await apply(ds, pool('bench', '10.64.0.0/12'));

  async function rate(allocators: number, sameHost: boolean, tag: string): Promise<{ seconds: number; perSecond: number }> {
    const batch = Array.from({ length: allocators }, (_, i) =>
      startWorker({ endpoints: etcd.endpoints, mode: 'alloc', node: sameHost ? `${tag}-host` : `${tag}-host-${i}`, tag: `${tag}-${i}`, count: perAllocator(sameHost), concurrency: 1, waitGo: true }),
    );
    workers.push(...batch);
    await Promise.all(batch.map((w) => w.ready));
    const start = performance.now();
    for (const w of batch) w.go();
    const codes = await Promise.all(batch.map((w) => w.exited));
    const seconds = (performance.now() - start) / 1000;
    if (codes.some((c) => c !== 0)) throw new Error(`an allocator failed: ${batch.map((w) => w.stderr + JSON.stringify(w.lines.slice(-1))).join('\n')}`);
    return { seconds, perSecond: (allocators * perAllocator(sameHost)) / seconds };
  }

  const rows: string[][] = [];
  for (const sameHost of [false, true]) {
    let base = 0;
    for (const n of [1, 5, 10]) {
      const r = await rate(n, sameHost, `r${sameHost ? 's' : 'o'}${n}`);
      if (n === 1) base = r.perSecond;
      rows.push([`${n} allocator(s), ${sameHost ? 'one shared host' : 'a host each'}`, String(n * perAllocator(sameHost)), r.seconds.toFixed(2), r.perSecond.toFixed(0), (r.perSecond / base).toFixed(2)]);
    }
  }
  console.log('\nAllocation rate: separate processes, each assigning addresses one after another');
  console.log(table(['allocators', 'addresses', 'seconds', 'addresses/s', 'ratio to 1'], rows));
  console.log('(one shared host: every allocator writes the same block, a contention stress; Margay runs one allocator per host, the agent)');

  async function burst(ipam: Ipam, host: string, concurrent: boolean): Promise<number> {
    const start = performance.now();
    if (concurrent) {
      await Promise.all(Array.from({ length: 100 }, (_, i) => ipam.autoAssign({ handle: `k8s-pod-network.${host}-${i}`, node: host, num4: 1, attrs: { namespace: 'bench', pod: `${host}-${i}` } })));
    } else {
      for (let i = 0; i < 100; i++) await ipam.autoAssign({ handle: `k8s-pod-network.${host}-${i}`, node: host, num4: 1, attrs: { namespace: 'bench', pod: `${host}-${i}` } });
    }
    return performance.now() - start;
  }
  async function release(ipam: Ipam, host: string): Promise<void> {
    await Promise.all(Array.from({ length: 100 }, (_, i) => ipam.releaseByHandle(`k8s-pod-network.${host}-${i}`)));
  }

  await apply(ds, node('burst-a'), node('burst-b'), node('burst-c'));
  const ipam = new Ipam(ds);
  const unbatched = new Ipam(ds, { maxBatch: 1 });
  const fresh = await burst(ipam, 'burst-a', true);
  await release(ipam, 'burst-a');
  const warm = await burst(ipam, 'burst-a', true);
  const sequential = await burst(ipam, 'burst-b', false);
  await release(ipam, 'burst-b');
  const sequentialWarm = await burst(ipam, 'burst-b', false);
  const noBatchFresh = await burst(unbatched, 'burst-c', true);
  await release(unbatched, 'burst-c');
  const noBatchWarm = await burst(unbatched, 'burst-c', true);
  console.log('\n100 pods arriving at once on one host (one Ipam, as the agent serves CNI ADDs)');
  console.log(
    table(
      ['how', 'fresh host (ms)', 'warm host (ms)', 'ratio to 100 at once (warm)'],
      [
        ['100 at once, group commit (Margay)', fresh.toFixed(0), warm.toFixed(0), '1.00'],
        ['100 at once, one write per request', noBatchFresh.toFixed(0), noBatchWarm.toFixed(0), (noBatchWarm / warm).toFixed(2)],
        ['100 one after another', sequential.toFixed(0), sequentialWarm.toFixed(0), (sequentialWarm / warm).toFixed(2)],
      ],
    ),
  );
  console.log('\nfresh: the host has no block yet (two /26 blocks are claimed); warm: its blocks exist, emptied by releases.');
} finally {
  await killAll(workers);
  await ds.close();
  await etcd.destroy();
}
