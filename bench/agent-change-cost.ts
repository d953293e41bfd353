/**
 * The agent's own share of a change at production scale, in-process (no etcd, no kernel, no
 * root): the agent over the in-memory datastore with BENCH_ENDPOINTS local endpoints (default
 * 1,000) and BENCH_POLICIES NetworkPolicies (default 5,000), and a dataplane that only records;
 * the time from a datastore write to the dataplane's apply being called (syncer, calculation
 * graph, flush scheduler), for a policy change, a label change and a remote endpoint, 40 each.
 * What bench/agent-latency.ts measures beyond this is etcd's watch and the kernel transaction.
 * Prints percentiles and the load average; asserts nothing. Run: npx tsx bench/agent-change-cost.ts
 */
import { readFileSync } from 'node:fs';
import { Agent, type AgentDataplane } from '../src/agent/agent.ts';
import { environmentLayers, flagLayers } from '../src/agent/config.ts';
import type { Resource } from '../src/api/resource.ts';
import { resourceKey } from '../src/datastore/keys.ts';
import { MemoryDatastore } from '../src/datastore/memory.ts';
import { silentLogger } from '../src/log/mod.ts';
import { NAMESPACES, policy, profile, wep } from './fixtures/scale.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const RUNS = 40;
const PLURAL: Record<string, string> = { Profile: 'profiles', WorkloadEndpoint: 'workloadendpoints', NetworkPolicy: 'networkpolicies', GlobalNetworkPolicy: 'globalnetworkpolicies', Tier: 'tiers' };
const keyOf = (r: Resource): string => resourceKey(PLURAL[r.kind]!, r.metadata.name, r.metadata.namespace);

let applied: (() => void) | undefined;
const dataplane: AgentDataplane = {
  apply: async () => {
    applied?.();
    return { ok: true };
  },
  resync: async () => ({ ok: true }),
};
const ds = new MemoryDatastore();
const all: Resource[] = [
  { apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'default' }, spec: { order: 1_000_000 } },
  ...Array.from({ length: NAMESPACES }, (_, n) => profile(`ns-${n}`)),
  ...Array.from({ length: ENDPOINTS }, (_, i) => wep(i)),
  ...Array.from({ length: POLICIES }, (_, i) => policy(i)),
];
for (let i = 0; i < all.length; i += 128) await ds.txn(all.slice(i, i + 128).map((r) => ({ op: 'put' as const, key: keyOf(r), value: JSON.stringify(r) })));
const agent = new Agent({
  datastore: ds.peer(),
  local: { layers: [...environmentLayers({ MARGAY_HEALTHPORT: '0', MARGAY_PROMETHEUSMETRICSPORT: '0' }).layers, ...flagLayers({ hostname: 'host1' })], warnings: [] },
  dataplane: () => dataplane,
  logger: silentLogger(),
  servers: false,
});
try {
  const t0 = performance.now();
  await agent.start();
  while (!agent.inSync) await new Promise((r) => setTimeout(r, 10));
  await agent.whenIdle();
  const syncMs = performance.now() - t0;

  /** RUNS writes, each timed until the dataplane is told. */
  const time = async (write: (i: number) => Promise<unknown>): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await agent.whenIdle();
      const told = new Promise<void>((resolve) => (applied = resolve));
      const t = performance.now();
      await write(i);
      await told;
      out.push(performance.now() - t);
    }
    return out.sort((a, b) => a - b);
  };
  const gnp: Resource = {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'change' },
    spec: { order: 1, selector: "app == 'app-3'", types: ['Ingress'], ingress: [{ action: 'Deny', protocol: 'TCP', source: { selector: "app == 'app-4'" } }, { action: 'Allow' }] },
  };
  const local = wep(5);
  const remote = wep(ENDPOINTS + 1, 'host2');
  remote.metadata.labels = { ...remote.metadata.labels, app: 'app-4' };
  const rows: Array<[string, number[]]> = [
    ['policy created/deleted', await time((i) => (i % 2 ? ds.delete(keyOf(gnp)) : ds.put(keyOf(gnp), JSON.stringify(gnp))))],
    [
      'local endpoint label changed',
      await time((i) => {
        local.metadata.labels = { ...local.metadata.labels, app: i % 2 ? 'app-5' : 'app-3' };
        return ds.put(keyOf(local), JSON.stringify(local));
      }),
    ],
    ['remote endpoint created/deleted', await time((i) => (i % 2 ? ds.delete(keyOf(remote)) : ds.put(keyOf(remote), JSON.stringify(remote))))],
  ];
  const q = (v: number[], p: number): string => v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))]!.toFixed(2);
  console.log(`${ENDPOINTS} local endpoints, ${POLICIES} policies; in sync (snapshot through the graph, first apply called) after ${(syncMs / 1000).toFixed(2)} s; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
  console.log('| change (write → dataplane told), ms | p50 | p90 | p99 | max |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, v] of rows) console.log(`| ${name} | ${q(v, 50)} | ${q(v, 90)} | ${q(v, 99)} | ${v[v.length - 1]!.toFixed(2)} |`);
} finally {
  await agent.stop();
  await ds.close();
}
