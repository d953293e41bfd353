/**
 * A separate allocating process for the IPAM integration tests and the benchmark.
 *
 *   node --import tsx test/ipam/alloc-worker.ts <json options>
 *
 * Options (`WorkerOptions` in workers.ts): { endpoints: string[], mode: 'alloc' | 'release' | 'churn',
 *            node: string, tag: string, count?: number, concurrency?: number, waitGo?: boolean,
 *            num6?: number, thenRelease?: boolean }
 *   alloc    assigns `count` addresses, handles `k8s-pod-network.<tag>-<i>`, `concurrency` at a time
 *   release  releases those handles
 *   churn    allocates forever (and releases some), until killed
 * Prints `ready` when connected; with `waitGo`, waits for a line `go` on stdin before working.
 * With `thenRelease` (alloc mode), prints `{"allocated":true}`, waits for another `go`, then
 * releases its handles, `concurrency` at a time. With `withEndpoint`, each allocation writes its
 * pod's WorkloadEndpoint in the same transaction (as a CNI ADD does), and a release deletes the
 * endpoint first (as a CNI DEL does).
 * Then one JSON line per address (`{"ip","block","borrowed","handle","node"}`) and finally
 * `{"done":true,"ms":…,"count":…}`. Errors end the process with status 1 and a JSON line.
 */
import { createInterface } from 'node:readline';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { validateResource } from '../../src/api/validate.ts';
import { resourceKey } from '../../src/datastore/keys.ts';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { wep } from './helpers.ts';
import type { WorkerOptions } from './workers.ts';

const opts = JSON.parse(process.argv[2] ?? '{}') as WorkerOptions;
const ds = new EtcdDatastore({ endpoints: opts.endpoints });
const ipam = new Ipam(ds);
const store = new ResourceStore(ds);
const out = (v: unknown): void => {
  process.stdout.write(`${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x))}\n`);
};

async function pool<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

/** The pod's WorkloadEndpoint with these addresses. */
function endpointOf(i: number, ips: string[]) {
  const pod = `${opts.tag}-${i}`;
  return validateResource(wep({ node: opts.node, namespace: 'ns', pod, containerID: pod, ips }));
}

async function alloc(i: number): Promise<void> {
  const handle = `k8s-pod-network.${opts.tag}-${i}`;
  const r = await ipam.autoAssign({
    handle,
    node: opts.node,
    num4: 1,
    num6: opts.num6 ?? 0,
    attrs: { namespace: 'ns', pod: `${opts.tag}-${i}` },
    ...(opts.withEndpoint ? { alongside: (ips: string[]) => store.putOp(endpointOf(i, ips)).op } : {}),
  });
  const ips = [...r.ipv4, ...r.ipv6];
  if (opts.withEndpoint && r.alongsideRevision === undefined) await store.apply(endpointOf(i, ips.map((a) => a.address)));
  for (const a of ips) out({ ip: a.address, block: a.block, borrowed: a.borrowed, handle, node: opts.node });
}

async function release(i: number): Promise<void> {
  if (opts.withEndpoint) {
    const name = endpointOf(i, []).metadata.name;
    await ds.delete(resourceKey(workloadEndpointKind.plural, name, 'ns')).catch(() => undefined); // absent: fine
  }
  await ipam.releaseByHandle(`k8s-pod-network.${opts.tag}-${i}`);
}

async function main(): Promise<void> {
  await ds.currentRevision(); // connected
  out('ready');
  const gos: (() => void)[] = [];
  const waits = [new Promise<void>((r) => gos.push(r)), new Promise<void>((r) => gos.push(r))];
  let seen = 0;
  if (opts.waitGo) createInterface({ input: process.stdin }).on('line', (l) => l.trim() === 'go' && gos[seen++]?.());
  if (opts.waitGo) await waits[0];
  const start = performance.now();
  const count = opts.count ?? 100;
  const concurrency = opts.concurrency ?? 1;
  switch (opts.mode) {
    case 'alloc':
      await pool(count, concurrency, alloc);
      if (opts.thenRelease) {
        out({ allocated: true, ms: performance.now() - start });
        await waits[1];
        await pool(count, concurrency, release);
      }
      break;
    case 'release':
      await pool(count, concurrency, release);
      break;
    case 'churn': {
      let i = 0;
      const live: number[] = [];
      await pool(Number.MAX_SAFE_INTEGER, concurrency, async () => {
        const me = i++;
        await alloc(me);
        live.push(me);
        if (Math.random() < 0.3 && live.length > 2) {
          const victim = live.splice(Math.floor(Math.random() * live.length), 1)[0]!;
          await release(victim);
          out({ released: `k8s-pod-network.${opts.tag}-${victim}` });
        }
      });
      break;
    }
  }
  const cpu = process.cpuUsage();
  out({ done: true, ms: performance.now() - start, count, cpuMs: (cpu.user + cpu.system) / 1000 });
}

main()
  .then(async () => {
    await ds.close();
    process.exit(0);
  })
  .catch((err: unknown) => {
    out({ error: (err as Error).message, code: (err as { code?: string }).code });
    process.exit(1);
  });
