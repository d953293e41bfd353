/**
 * Profile of one change's nft transaction at production scale (root): the agent over the
 * in-memory datastore with a real Dataplane in a fresh namespace (BENCH_ENDPOINTS, BENCH_POLICIES),
 * then a policy change, a label change and a remote endpoint, each applied and timed; prints
 * each transaction's text size, command count and apply time. BENCH_DUMP=<dir> writes the texts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, type AgentDataplane } from '../src/agent/agent.ts';
import { environmentLayers, flagLayers } from '../src/agent/config.ts';
import type { Resource } from '../src/api/resource.ts';
import { Dataplane } from '../src/dataplane/mod.ts';
import { resourceKey } from '../src/datastore/keys.ts';
import { MemoryDatastore } from '../src/datastore/memory.ts';
import { silentLogger } from '../src/log/mod.ts';
import { createHost } from '../test/agent/lab.ts';
import { NAMESPACES, createScaleInterfaces, policy, profile, wep } from './fixtures/scale.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const DUMP = process.env.BENCH_DUMP;
const PLURAL: Record<string, string> = { Profile: 'profiles', WorkloadEndpoint: 'workloadendpoints', NetworkPolicy: 'networkpolicies', GlobalNetworkPolicy: 'globalnetworkpolicies', Tier: 'tiers' };
const keyOf = (r: Resource): string => resourceKey(PLURAL[r.kind]!, r.metadata.name, r.metadata.namespace);

const host = await createHost();
const dp = new Dataplane({ netns: host.name });
let label = '';
const log: Array<{ label: string; ms: number; bytes: number; commands: number; text: string }> = [];
let applied: (() => void) | undefined;
const dataplane: AgentDataplane = {
  apply: async (u) => {
    const t = performance.now();
    const r = await dp.apply(u);
    const ms = performance.now() - t;
    const text = dp.lastTransaction;
    log.push({ label, ms, bytes: text.length, commands: r.nft.commands, text });
    applied?.();
    return { ok: r.ok };
  },
  resync: async () => ({ ok: (await dp.resync()).ok }),
};
const ds = new MemoryDatastore();
const all: Resource[] = [
  { apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'default' }, spec: { order: 1_000_000 } },
  ...Array.from({ length: NAMESPACES }, (_, n) => profile(`ns-${n}`)),
  ...Array.from({ length: ENDPOINTS }, (_, i) => wep(i)),
  ...Array.from({ length: POLICIES }, (_, i) => policy(i)),
];
for (let i = 0; i < all.length; i += 128) await ds.txn(all.slice(i, i + 128).map((r) => ({ op: 'put' as const, key: keyOf(r), value: JSON.stringify(r) })));
await createScaleInterfaces(host.name, ENDPOINTS);
const agent = new Agent({
  datastore: ds.peer(),
  local: { layers: [...environmentLayers({ MARGAY_HEALTHPORT: '0', MARGAY_PROMETHEUSMETRICSPORT: '0' }).layers, ...flagLayers({ hostname: 'host1' })], warnings: [] },
  dataplane: () => dataplane,
  logger: silentLogger(),
  servers: false,
});
try {
  label = 'cold';
  await agent.start();
  while (!agent.inSync) await new Promise((r) => setTimeout(r, 10));
  await agent.whenIdle();
  const time = async (name: string, write: (i: number) => Promise<unknown>): Promise<void> => {
    label = name;
    for (let i = 0; i < RUNS; i++) {
      await agent.whenIdle();
      const told = new Promise<void>((resolve) => (applied = resolve));
      await write(i);
      await told;
    }
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
  await time('policy', (i) => (i % 2 ? ds.delete(keyOf(gnp)) : ds.put(keyOf(gnp), JSON.stringify(gnp))));
  await time('label', (i) => {
    local.metadata.labels = { ...local.metadata.labels, app: i % 2 ? 'app-5' : 'app-3' };
    return ds.put(keyOf(local), JSON.stringify(local));
  });
  await time('remote', (i) => (i % 2 ? ds.delete(keyOf(remote)) : ds.put(keyOf(remote), JSON.stringify(remote))));
  await agent.whenIdle();
  console.log(`load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  for (const [i, e] of log.entries()) {
    console.log(`${e.label}\t${e.ms.toFixed(1)} ms\t${e.commands} commands\t${e.bytes} bytes`);
    if (DUMP) {
      mkdirSync(DUMP, { recursive: true });
      writeFileSync(`${DUMP}/${i}-${e.label}.nft`, e.text);
    }
  }
} finally {
  await agent.stop();
  await ds.close();
  dp.close();
  await host.delete();
}
