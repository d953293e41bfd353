/**
 * Change → enforced on every host of a 10-host lab (issue 14: "p99 ≤ 100 ms from the write to
 * enforced on every host"). `margay lab up --hosts 10` (etcd, an agent with BIRD and the CNI
 * service per host, pods made through the real CNI plugin), BENCH_PODS pods per host (default
 * 2, labelled `role=bench`), a GlobalNetworkPolicy on them whose rule admits TCP to one port
 * from `access == 'yes'` (so every host has that peer set), a client pod on host-1 and an anchor
 * pod with `access=yes` on host-2 (the set is never empty). Then, one at a time, BENCH_CHANGES of
 * each kind (default 20, so 80 changes), timed from the start of the etcd write (a raw put or
 * delete of the resource's key, as any writer's last step) to the moment the change is in the
 * kernel of the last of the 10 hosts:
 *
 * - policy: the rule's port moves to a new one (every host's policy rules change);
 * - label: the client pod's `access` flips (its address enters or leaves every host's set);
 * - remote endpoint added / deleted: a WorkloadEndpoint of a host outside the lab with
 *   `access=yes` (its address enters or leaves every host's set).
 *
 * How "enforced" is seen: an `nft monitor` in each host's namespace, which reports each
 * transaction once the kernel has committed it (`# new generation N by process P`). The lab is
 * otherwise idle, so a host's first transaction after the write is the one carrying the change;
 * after each change the bench lists every host's chain or set and fails unless the change is
 * there. (The monitor's own rendering of rules and elements is not used: it prints them from a
 * cache that misses the agent's sets, so element lines never came and rules lost their set
 * match.) A probe from pods would see the same moment plus the probe's period, with a dozen more
 * processes on a 2-vCPU machine.
 *
 * The floor, same lab, same run: an etcd put → the watch event at 10 watchers (10 clients, as
 * the 10 agents), the last of them; and one minimal transaction through a resident `nft -i` in a
 * host's namespace → its monitor event. Prints p50/p90/p99 per kind and overall, the ratios,
 * and the load average. Run (root): flock /tmp/margay-int.lock npx tsx bench/agent-cluster.ts
 * The lab is taken down afterwards, also on failure.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { validateResource } from '../src/api/validate.ts';
import { createDatastore, resourceKey, resourcePrefix, watchPrefix, type Datastore } from '../src/datastore/mod.ts';
import { labDown, labUp, podAdd, withStore, type LabContext } from '../src/lab/lab.ts';
import type { LabState } from '../src/lab/state.ts';
import { NftMonitor, nftFloor } from './fixtures/nft-monitor.ts';
import { loadAverage } from './fixtures/proc-times.ts';

const execFileAsync = promisify(execFile);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 10);
const PODS = Number(process.env.BENCH_PODS ?? 2);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 20);
const WATCHERS = HOSTS;

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const row = (name: string, xs: number[], floor?: number[]): string =>
  `| ${name} | ${xs.length} | ${[50, 90, 99].map((p) => pct(xs, p).toFixed(1)).join(' | ')} | ${floor ? `${(pct(xs, 50) / pct(floor, 50)).toFixed(2)}× / ${(pct(xs, 99) / pct(floor, 99)).toFixed(2)}×` : ''} |`;

const POLICY_PORT = 40_000;
const policy = (port: number) =>
  validateResource({
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'bench-cluster' },
    spec: {
      selector: "role == 'bench'",
      types: ['Ingress'],
      ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: "access == 'yes'" }, destination: { ports: [port] } }],
    },
  });
const ghost = (i: number) =>
  validateResource({
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: { name: `ghost-k8s-g${i}-eth0`, namespace: 'bench', labels: { access: 'yes', 'projectcalico.org/namespace': 'bench', 'projectcalico.org/orchestrator': 'k8s' } },
    spec: { orchestrator: 'k8s', node: 'ghost', pod: `g${i}`, endpoint: 'eth0', interfaceName: `caligh${i}`, ipNetworks: [`10.250.${i >> 8}.${i & 255}/32`], profiles: ['kns.bench'] },
  });

/**
 * The time the change is in the kernel of every host: on each host the first transaction
 * committed after the write (`# new generation …`; the lab is otherwise idle, and the caller
 * checks afterwards that the change is in every host's table), the last of them.
 */
async function everyHost(what: string, monitors: NftMonitor[], write: () => Promise<unknown>): Promise<number> {
  const seen = monitors.map((m, i) => m.next((line) => line.startsWith('# new generation'), 30_000, `${what} on host ${i + 1}`));
  for (const p of seen) p.catch(() => undefined); // the first failure is reported below, the others not left unhandled
  const start = performance.now();
  await write();
  const at = await Promise.all(seen);
  return Math.max(...at) - start;
}

/** `nft list <kind> inet margay <name>` in a host's namespace. */
async function list(netns: string, kind: 'chain' | 'set', name: string): Promise<string> {
  const { stdout } = await execFileAsync('ip', ['netns', 'exec', netns, 'nft', 'list', kind, 'inet', 'margay', name], { encoding: 'utf8' });
  return stdout;
}

/** etcd put → its watch event at each of `n` clients of their own; the last of them, `changes` times. */
async function etcdFloor(state: LabState, n: number, changes: number): Promise<number[]> {
  const prefix = '/margay-bench/cluster-floor/';
  const clients: Datastore[] = Array.from({ length: n }, () => createDatastore({ type: 'etcdv3', etcdEndpoints: state.etcdEndpoint.split(',') }));
  const seen = clients.map(() => new Map<string, number>());
  const syncers = clients.map((ds, c) =>
    watchPrefix(ds, prefix, (events) => {
      const now = performance.now();
      for (const e of events) if (e.type === 'update' && !seen[c]!.has(e.kv.value)) seen[c]!.set(e.kv.value, now);
    }),
  );
  const out: number[] = [];
  try {
    await sleep(1000);
    for (let i = 0; i < changes; i++) {
      const value = `v${i}`;
      const start = performance.now();
      await clients[0]!.put(`${prefix}k`, value);
      while (!seen.every((m) => m.has(value))) await sleep(1);
      out.push(Math.max(...seen.map((m) => m.get(value)!)) - start);
      await sleep(20);
    }
  } finally {
    await Promise.all(syncers.map((s) => s.stop()));
    await clients[0]!.delete(`${prefix}k`).catch(() => undefined);
    await Promise.all(clients.map((c) => c.close()));
  }
  return out;
}

const ctx: LabContext = { dir: mkdtempSync(join(tmpdir(), 'margay-bench-cluster-')), progress: () => undefined };
const monitors: NftMonitor[] = [];
try {
  const t0 = performance.now();
  const state = await labUp({ hosts: HOSTS, router: false, ipv6: false }, ctx);
  console.log(`lab up --hosts ${HOSTS}: ${((performance.now() - t0) / 1000).toFixed(1)} s (load average ${loadAverage()})`);
  await withStore(state, (store) => store.apply(policy(POLICY_PORT)));
  const t1 = performance.now();
  for (const host of state.plan.hosts) {
    for (let p = 0; p < PODS; p++) await podAdd(ctx, { namespace: 'bench', name: `${host.name}-p${p}`, host: host.name, labels: { role: 'bench' }, serve: [] });
  }
  const client = await podAdd(ctx, { namespace: 'bench', name: 'client', host: state.plan.hosts[0]!.name, labels: { role: 'client', access: 'no' }, serve: [] });
  await podAdd(ctx, { namespace: 'bench', name: 'anchor', host: state.plan.hosts[1]!.name, labels: { role: 'anchor', access: 'yes' }, serve: [] });
  console.log(`${HOSTS * PODS + 2} pods added through the CNI in ${((performance.now() - t1) / 1000).toFixed(1)} s`);
  const debug = process.env.BENCH_DEBUG ? (line: string) => console.log(`[host-1 nft] ${line}`) : undefined;
  for (const [i, host] of state.plan.hosts.entries()) monitors.push(new NftMonitor(host.netns, i === 0 && debug ? { debug } : {}));
  await sleep(3000); // the monitors listen, the agents are idle

  const times = { policy: [] as number[], label: [] as number[], remoteAdd: [] as number[], remoteDelete: [] as number[] };
  // The set of `access == 'yes'` (its name derives from the selector: the same on every host).
  const chain = await list(state.plan.hosts[0]!.netns, 'chain', 'pi-gnp/bench-cluster');
  const setName = /@(v4-\S+)/.exec(chain)?.[1];
  if (setName === undefined) throw new Error(`no peer set in the policy's chain:\n${chain}`);
  const hostsHave = async (what: string, kind: 'chain' | 'set', name: string, test: (text: string) => boolean): Promise<void> => {
    const texts = await Promise.all(state.plan.hosts.map((h) => list(h.netns, kind, name)));
    const wrong = state.plan.hosts.filter((_, i) => !test(texts[i]!)).map((h) => h.name);
    if (wrong.length > 0) throw new Error(`${what}: not in the kernel of ${wrong.join(', ')} after its transaction`);
  };
  const hasAddress = (address: string) => (text: string) => new RegExp(`[{ ,]${address.replaceAll('.', '\\.')}[ ,}]`).test(text);
  await withStore(state, async (store) => {
    const ds = store.datastore;
    const policyKey = resourceKey('globalnetworkpolicies', 'bench-cluster');
    const policyValue = JSON.parse((await ds.get(policyKey))!.value) as ReturnType<typeof policy>;
    const weps = await ds.list(resourcePrefix('workloadendpoints', 'bench'));
    const clientKv = weps.items.find((kv) => (JSON.parse(kv.value) as { spec: { pod: string } }).spec.pod === 'client')!;
    const clientWep = JSON.parse(clientKv.value) as { metadata: { labels: Record<string, string> } };
    const address = client.addresses[0]!;
    for (let i = 0; i < CHANGES; i++) {
      // Policy: the rule's port moves.
      const port = POLICY_PORT + 1 + i;
      (policyValue.spec as { ingress: [{ destination: { ports: number[] } }] }).ingress[0].destination.ports = [port];
      times.policy.push(await everyHost(`policy port ${port}`, monitors, () => ds.put(policyKey, JSON.stringify(policyValue))));
      await hostsHave(`policy port ${port}`, 'chain', 'pi-gnp/bench-cluster', (t) => t.includes(`dport ${port} `));
      await sleep(100);
      // Label: the client's address enters or leaves every host's set.
      const yes = i % 2 === 0;
      clientWep.metadata.labels.access = yes ? 'yes' : 'no';
      times.label.push(await everyHost(`label access=${yes}`, monitors, () => ds.put(clientKv.key, JSON.stringify(clientWep))));
      await hostsHave(`label access=${yes}`, 'set', setName, (t) => hasAddress(address)(t) === yes);
      await sleep(100);
      // A remote endpoint (of a host outside the lab) added, then deleted.
      const g = ghost(i + 1);
      const gKey = resourceKey('workloadendpoints', g.metadata.name, 'bench');
      const gAddress = (g.spec as { ipNetworks: string[] }).ipNetworks[0]!.split('/')[0]!;
      times.remoteAdd.push(await everyHost(`remote endpoint ${gAddress} added`, monitors, () => ds.put(gKey, JSON.stringify(g))));
      await hostsHave(`remote endpoint ${gAddress} added`, 'set', setName, hasAddress(gAddress));
      await sleep(100);
      times.remoteDelete.push(await everyHost(`remote endpoint ${gAddress} deleted`, monitors, () => ds.delete(gKey)));
      await hostsHave(`remote endpoint ${gAddress} deleted`, 'set', setName, (t) => !hasAddress(gAddress)(t));
      await sleep(100);
    }
  });
  const loadChanges = loadAverage();
  const etcd = await etcdFloor(state, WATCHERS, CHANGES * 2);
  const nft = await nftFloor(state.plan.hosts[0]!.netns, monitors[0]!, CHANGES * 2);
  const all = [...times.policy, ...times.label, ...times.remoteAdd, ...times.remoteDelete];
  console.log(`\n${HOSTS} hosts, ${PODS} pods each + 2; change → in the kernel of all ${HOSTS} hosts (nft monitor), ms; load average ${loadChanges} (changes), ${loadAverage()} (floor)`);
  console.log('| measure | n | p50 | p90 | p99 | p50 / p99 against the etcd floor |');
  console.log('|---|---:|---:|---:|---:|---:|');
  console.log(row(`floor: etcd put → watch event at all ${WATCHERS} watchers`, etcd));
  console.log(row('floor: one minimal `nft -i` transaction → monitor (one host)', nft));
  console.log(row('policy rule changed', times.policy, etcd));
  console.log(row('label changed (address into/out of a set)', times.label, etcd));
  console.log(row('remote endpoint added', times.remoteAdd, etcd));
  console.log(row('remote endpoint deleted', times.remoteDelete, etcd));
  console.log(row('**all changes**', all, etcd));
  console.log(`\ngoal: p99 ≤ 100 ms on every host — ${pct(all, 99) <= 100 ? 'met' : 'not met'} (p99 ${pct(all, 99).toFixed(1)} ms over ${all.length} changes)`);
} finally {
  for (const m of monitors) m.close();
  await labDown(ctx);
}
