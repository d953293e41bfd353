/**
 * Policy programming latency: one policy change written to etcd → enforced in the kernel, seen
 * by a workload probing every few milliseconds. Percentiles over repeated deny/allow flips,
 * against the floor of the same run: etcd write → watch event delivered to a client.
 * Prints figures and ratios; asserts nothing. Run: npx tsx bench/agent-latency.ts  (root)
 */
import { decodeResources } from '../src/api/decode.ts';
import type { Resource } from '../src/api/resource.ts';
import { validateResource } from '../src/api/validate.ts';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { addPod, createHost, startAgent, type TestPod } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { eventually } from '../test/harness/wait.ts';

const FLIPS = Number(process.env.BENCH_FLIPS ?? 20);
const PROBE_TIMEOUT_MS = 25;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const deny: Resource = validateResource({
  apiVersion: 'projectcalico.org/v3',
  kind: 'GlobalNetworkPolicy',
  metadata: { name: 'latency-deny' },
  spec: { order: 1, selector: "app == 'b'", types: ['Ingress'], ingress: [{ action: 'Deny', protocol: 'TCP', source: { selector: "app == 'a'" } }, { action: 'Allow' }] },
});

const etcd = await startEtcd();
const host = await createHost();
const pods: TestPod[] = [];
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
const ds = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
const watcher = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
try {
  const store = new ResourceStore(ds);
  pods.push(await addPod(host, { name: 'a', hostInterface: 'calilata', ip: '10.65.0.1', ports: [80] }));
  pods.push(await addPod(host, { name: 'b', hostInterface: 'calilatb', ip: '10.65.0.2', ports: [80] }));
  const [a, b] = pods as [TestPod, TestPod];
  await store.batch(
    'apply',
    decodeResources(
      `apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.lat}
spec: {ingress: [{action: Allow}], egress: [{action: Allow}]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: host1-k8s-a-eth0, namespace: lat, labels: {app: a}}
spec: {orchestrator: k8s, node: host1, pod: a, endpoint: eth0, interfaceName: calilata, ipNetworks: [10.65.0.1/32], profiles: [kns.lat]}
---
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: host1-k8s-b-eth0, namespace: lat, labels: {app: b}}
spec: {orchestrator: k8s, node: host1, pod: b, endpoint: eth0, interfaceName: calilatb, ipNetworks: [10.65.0.2/32], profiles: [kns.lat]}
`,
      'lat.yaml',
    ).map((d) => d.resource),
  );
  // A tier default must exist for the policy (the store creates it with the first policy).
  agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: 'host1', netns: host.name, env: { MARGAY_LOGSEVERITYSCREEN: 'warning' } });
  await agent.waitReady(120_000);
  const probe = async (): Promise<boolean> => (await a.probe([{ ip: b.ip, port: 80, proto: 'tcp' }], PROBE_TIMEOUT_MS))[0]!;
  await eventually(probe);

  // Floor: etcd write → watch event at a client, same store, same run.
  const floor: number[] = [];
  {
    const pending = new Map<string, number>();
    const watch = watcher.watch('/bench/latency/', 0);
    const seen = (async () => {
      for await (const batch of watch.events) {
        for (const ev of batch) {
          const t = pending.get(ev.key);
          if (t !== undefined) floor.push(performance.now() - t);
        }
        if (floor.length >= FLIPS * 2) return;
      }
    })();
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < FLIPS * 2; i++) {
      const key = `/bench/latency/${i}`;
      pending.set(key, performance.now());
      await ds.put(key, JSON.stringify(deny));
      await new Promise((r) => setTimeout(r, 20));
    }
    await seen;
    await watch.cancel();
  }

  const toDeny: number[] = [];
  const toAllow: number[] = [];
  for (let i = 0; i < FLIPS; i++) {
    let t0 = performance.now();
    await store.apply(deny);
    while (await probe()) {
      /* poll until the kernel drops */
    }
    toDeny.push(performance.now() - t0);
    t0 = performance.now();
    await store.delete(deny);
    while (!(await probe())) {
      /* poll until allowed again */
    }
    toAllow.push(performance.now() - t0);
  }
  const metrics = await agent.metrics();
  const sum = Number(/^margay_policy_programming_latency_seconds_sum (\S+)$/m.exec(metrics)?.[1]);
  const count = Number(/^margay_policy_programming_latency_seconds_count (\S+)$/m.exec(metrics)?.[1]);

  const row = (name: string, v: number[]) =>
    `| ${name} | ${percentile(v, 50).toFixed(1)} | ${percentile(v, 90).toFixed(1)} | ${percentile(v, 99).toFixed(1)} | ${Math.max(...v).toFixed(1)} |`;
  console.log(`${FLIPS} flips of one GlobalNetworkPolicy (deny a → b, then delete it), probed every ≤${PROBE_TIMEOUT_MS} ms; milliseconds`);
  console.log('| measure | p50 | p90 | p99 | max |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(row('floor: etcd put → watch event', floor));
  console.log(row('policy written → deny enforced', toDeny));
  console.log(row('policy deleted → allow enforced', toAllow));
  console.log(`ratio p50 deny enforced / floor: ${(percentile(toDeny, 50) / percentile(floor, 50)).toFixed(1)}×; p50 allow / floor: ${(percentile(toAllow, 50) / percentile(floor, 50)).toFixed(1)}×`);
  console.log(`agent's own margay_policy_programming_latency_seconds (received → kernel programmed): mean ${((sum / count) * 1000).toFixed(1)} ms over ${count} flushes`);
} finally {
  await agent?.destroy();
  for (const p of pods) await p.netns.delete();
  await host.delete();
  await ds.close();
  await watcher.close();
  await etcd.destroy();
}
