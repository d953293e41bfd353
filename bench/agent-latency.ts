/**
 * Change → enforced: how long after a write to etcd the kernel enforces it, seen by a workload
 * probing every few milliseconds, on a host at production scale (BENCH_ENDPOINTS local endpoints,
 * default 1,000, and BENCH_POLICIES NetworkPolicies, default 5,000; 0 and 0 for an empty host).
 * Three changes, each BENCH_FLIPS times (default 20) in both directions:
 *
 * - a policy change: a GlobalNetworkPolicy denying a → b is created, then deleted (b's policy
 *   list changes: new list chains);
 * - a policy edit: the rule of an existing policy on b is switched between Deny and Allow for a
 *   (that policy's chain is rewritten, nothing else);
 * - a label change: b gets, then loses, the label a deny policy selects;
 * - a new endpoint on another host: a WorkloadEndpoint of `host2` whose address is the source of
 *   the probe is written (its IP joins the set an allow rule of b matches, which holds another
 *   endpoint's address already), then deleted.
 *
 * The floor, measured in the same run on the same host: an etcd write → its watch event at a
 * client, plus one minimal `nft` transaction (an element into a set of a scratch table in the same
 * namespace) through a resident `nft -i`, as the agent's dataplane uses. Then a burst of 1,000
 * policy writes: how many nft transactions the agent made for it.
 * Prints percentiles, ratios to the floor and the load average; asserts nothing.
 * Run (root): npx tsx bench/agent-latency.ts
 */
import { decodeResources } from '../src/api/decode.ts';
import type { Resource } from '../src/api/resource.ts';
import { validateResource } from '../src/api/validate.ts';
import { NftSession } from '../src/dataplane/nftables/session.ts';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { addPod, createHost, startAgent, type TestPod } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { createTestNetns, run } from '../test/harness/netns.ts';
import { eventually } from '../test/harness/wait.ts';
import { createScaleInterfaces, writeScaleResources } from './fixtures/scale.ts';
import { loadAverage } from './fixtures/proc-times.ts';

const FLIPS = Number(process.env.BENCH_FLIPS ?? 20);
const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const BURST_POLICIES = Number(process.env.BENCH_BURST_POLICIES ?? 1000);
const PROBE_TIMEOUT_MS = 60;
const PROBE_STEP_MS = 2;
const REMOTE_IP = '10.66.0.9';
const OTHER_REMOTE_IP = '10.66.0.10';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const gnp = (name: string, spec: Record<string, unknown>): Resource =>
  validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name }, spec });

/**
 * The policy change: deny a → b (and allow the rest, so that it decides nothing else); a new
 * policy each time, so that its chains are new too (as when someone writes a policy).
 */
const denyAB = (n: number): Resource => gnp(`latency-deny-${n}`, { order: 1, selector: "app == 'b'", types: ['Ingress'], ingress: [{ action: 'Deny', protocol: 'TCP', source: { selector: "app == 'a'" } }, { action: 'Allow' }] });
/** The policy edit: one rule for a → b whose action flips (no catch-all: other traffic goes on to the next policy). */
const gateAB = (action: 'Allow' | 'Deny'): Resource =>
  gnp('latency-edit', { order: 3, selector: "app == 'b'", types: ['Ingress'], ingress: [{ action, protocol: 'TCP', source: { selector: "app == 'a'" } }] });
/** Selects b only while it carries `blocked: yes` (the label change). */
const denyBlocked = gnp('latency-blocked', { order: 2, selector: "blocked == 'yes'", types: ['Ingress'], ingress: [{ action: 'Deny', protocol: 'TCP', source: { selector: "app == 'a'" } }, { action: 'Allow' }] });
/** b accepts the remote client's address only while an endpoint with role rclient has it (the remote endpoint). */
const remoteGate = gnp('latency-remote', {
  order: 50,
  selector: "app == 'b'",
  types: ['Ingress'],
  ingress: [{ action: 'Allow', source: { selector: "role == 'rclient'" } }, { action: 'Deny', source: { nets: [`${REMOTE_IP}/32`] } }, { action: 'Allow' }],
});

function wepYaml(name: string, labels: string, iface: string, ip: string, node = 'host1'): string {
  return `apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata: {name: ${node}-k8s-${name}-eth0, namespace: lat, labels: {${labels}}}
spec: {orchestrator: k8s, node: ${node}, pod: ${name}, endpoint: eth0, interfaceName: ${iface}, ipNetworks: [${ip}/32], profiles: [kns.lat]}
`;
}

const etcd = await startEtcd();
const host = await createHost();
const pods: TestPod[] = [];
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
let nft: NftSession | undefined;
const ds = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
const watcher = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
try {
  const store = new ResourceStore(ds);
  pods.push(await addPod(host, { name: 'a', hostInterface: 'calilata', ip: '10.65.0.1', ports: [80] }));
  pods.push(await addPod(host, { name: 'b', hostInterface: 'calilatb', ip: '10.65.0.2', ports: [80] }));
  // The "remote" client: a namespace behind a non-workload interface, with the address a
  // WorkloadEndpoint of another host will claim (the host routes it back through that interface).
  pods.push(await addPod(host, { name: 'r', hostInterface: 'remlatr', ip: REMOTE_IP, ports: [80] }));
  await run('ip', ['-n', host.name, 'route', 'add', `${REMOTE_IP}/32`, 'dev', 'remlatr']);
  const [a, b, r] = pods as [TestPod, TestPod, TestPod];
  const weps = decodeResources(
    `apiVersion: projectcalico.org/v3\nkind: Profile\nmetadata: {name: kns.lat}\nspec: {ingress: [{action: Allow}], egress: [{action: Allow}]}\n---\n${wepYaml('a', 'app: a', 'calilata', a.ip)}---\n${wepYaml('b', 'app: b', 'calilatb', b.ip)}`,
    'lat.yaml',
  ).map((d) => d.resource);
  await store.batch('apply', [...weps, denyBlocked, remoteGate, gateAB('Allow')]);
  const bWep = weps[2]!;
  const remoteWep = decodeResources(wepYaml('r', 'role: rclient', 'calir', REMOTE_IP, 'host2'), 'r.yaml')[0]!.resource;
  // Another client of host2 is always there: the measured endpoint's address joins a set in use.
  await store.apply(decodeResources(wepYaml('r0', 'role: rclient', 'calir0', OTHER_REMOTE_IP, 'host2'), 'r0.yaml')[0]!.resource);
  await createScaleInterfaces(host.name, ENDPOINTS);
  const writeMs = await writeScaleResources(store, ENDPOINTS, POLICIES);

  const t0 = performance.now();
  agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: 'host1', netns: host.name, env: { MARGAY_LOGSEVERITYSCREEN: 'warning' } });
  await agent.waitReady(1_800_000);
  const readyMs = performance.now() - t0;
  const probe = async (from: TestPod): Promise<boolean> => (await from.probe([{ ip: b.ip, port: 80, proto: 'tcp' }], PROBE_TIMEOUT_MS))[0]!;
  await eventually(() => probe(a), { timeoutMs: 60_000, what: 'a → b allowed' });
  await eventually(async () => !(await probe(r)), { timeoutMs: 60_000, what: 'r → b denied' });

  // Floor, part 1: etcd write → watch event at a client, same etcd, same run.
  const watchMs: number[] = [];
  {
    const pending = new Map<string, number>();
    const watch = watcher.watch('/bench/latency/', 0);
    const seen = (async () => {
      for await (const batch of watch.events) {
        for (const ev of batch) {
          const t = pending.get(ev.key);
          if (t !== undefined) watchMs.push(performance.now() - t);
        }
        if (watchMs.length >= FLIPS * 2) return;
      }
    })();
    await new Promise((res) => setTimeout(res, 200));
    for (let i = 0; i < FLIPS * 2; i++) {
      const key = `/bench/latency/${i}`;
      pending.set(key, performance.now());
      await ds.put(key, JSON.stringify(denyAB(0)));
      await new Promise((res) => setTimeout(res, 20));
    }
    await seen;
    await watch.cancel();
  }
  // Floor, part 2: one minimal transaction through a resident `nft -i` in the same namespace.
  const nftMs: number[] = [];
  nft = new NftSession({ netns: `/run/netns/${host.name}` });
  await nft.apply('add table inet margaybench\nadd set inet margaybench s { type ipv4_addr; }');
  for (let i = 0; i < FLIPS * 2; i++) {
    const t = performance.now();
    await nft.apply(`${i % 2 ? 'delete' : 'add'} element inet margaybench s { 10.99.0.1 }`);
    nftMs.push(performance.now() - t);
  }
  const floor = watchMs.map((w, i) => w + nftMs[i % nftMs.length]!);
  /** The same minimal transaction while a probe runs every PROBE_STEP_MS, as during the changes (not part of the floor). */
  const nftProbingMs: number[] = [];
  {
    let probing = true;
    const prober = (async () => {
      const inflight: Promise<unknown>[] = [];
      while (probing) {
        inflight.push(probe(a));
        await new Promise((res) => setTimeout(res, PROBE_STEP_MS));
      }
      await Promise.all(inflight);
    })();
    for (let i = 0; i < FLIPS * 2; i++) {
      const t = performance.now();
      await nft.apply(`${i % 2 ? 'delete' : 'add'} element inet margaybench s { 10.99.0.1 }`);
      nftProbingMs.push(performance.now() - t);
      await new Promise((res) => setTimeout(res, 20));
    }
    probing = false;
    await prober;
  }
  await nft.apply('delete table inet margaybench');
  /** The same minimal transaction in a namespace without the agent's table (what its size costs every transaction). */
  const nftEmptyMs: number[] = [];
  {
    const empty = await createTestNetns('mgle');
    const session = new NftSession({ netns: `/run/netns/${empty.name}` });
    try {
      await session.apply('add table inet margaybench\nadd set inet margaybench s { type ipv4_addr; }');
      for (let i = 0; i < FLIPS * 2; i++) {
        const t = performance.now();
        await session.apply(`${i % 2 ? 'delete' : 'add'} element inet margaybench s { 10.99.0.1 }`);
        nftEmptyMs.push(performance.now() - t);
      }
    } finally {
      session.close();
      await empty.delete();
    }
  }

  /**
   * From the start of `write`, when the kernel first gave `from` → b the wanted verdict: a new
   * connection attempt every PROBE_STEP_MS (each a new conntrack entry, so the ruleset decides
   * it), the answer being the send time of the first attempt with that verdict. Staggered
   * attempts give a resolution of the step, not of the probe's timeout (a dropped SYN is only
   * known to be dropped when the timeout passes).
   */
  const timeToVerdict = async (from: TestPod, write: () => Promise<unknown>, want: boolean): Promise<number> => {
    const attempts: Array<{ at: number; ok?: boolean }> = [];
    const inflight: Promise<void>[] = [];
    let seen = false;
    const t0 = performance.now();
    const written = write();
    while (!seen) {
      const attempt: { at: number; ok?: boolean } = { at: performance.now() - t0 };
      attempts.push(attempt);
      inflight.push(
        probe(from).then((ok) => {
          attempt.ok = ok;
          if (ok === want) seen = true;
        }),
      );
      await new Promise((res) => setTimeout(res, PROBE_STEP_MS));
    }
    await Promise.all([written, ...inflight]);
    return attempts.find((x) => x.ok === want)!.at;
  };
  /** `on` then `off`, FLIPS times, each timed until enforced. */
  const measure = async (from: TestPod, on: () => Promise<unknown>, onAllowed: boolean, off: () => Promise<unknown>): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < FLIPS; i++) {
      out.push(await timeToVerdict(from, on, onAllowed));
      out.push(await timeToVerdict(from, off, !onAllowed));
    }
    return out;
  };
  const gauge = async (name: string): Promise<number> => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await agent!.metrics())?.[1]);
  const applyCost = async (): Promise<{ sum: number; count: number }> => ({ sum: await gauge('margay_dataplane_apply_seconds_sum'), count: await gauge('margay_dataplane_apply_seconds_count') });
  const loadBefore = loadAverage();
  const appliesBefore = await applyCost();
  /** The agent's mean dataplane apply (ms) during `fn`. */
  const meanApply = async <T,>(fn: () => Promise<T>): Promise<[T, number]> => {
    const before = await applyCost();
    const out = await fn();
    const after = await applyCost();
    return [out, ((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 1000];
  };
  const viaCount = async (via: string): Promise<number> => Number(new RegExp(`^margay_dataplane_transactions_total\\{via="${via}"\\} (\\S+)$`, 'm').exec(await agent!.metrics())?.[1] ?? 0);
  /** How the agent's transactions went during `fn`: `netlink N, nft M`. */
  const vias = async <T,>(fn: () => Promise<T>): Promise<[T, string]> => {
    const [n0, f0] = [await viaCount('netlink'), await viaCount('nft')];
    const out = await fn();
    return [out, `netlink ${(await viaCount('netlink')) - n0}, nft ${(await viaCount('nft')) - f0}`];
  };
  let denials = 0;
  const [[policyMs, policyApplyMs], policyVia] = await vias(() => meanApply(() => measure(a, () => store.apply(denyAB(++denials)), false, () => store.delete(denyAB(denials)))));
  const [[editMs, editApplyMs], editVia] = await vias(() => meanApply(() => measure(a, () => store.apply(gateAB('Deny')), false, () => store.apply(gateAB('Allow')))));
  const blocked = structuredClone(bWep);
  blocked.metadata.labels = { ...blocked.metadata.labels, blocked: 'yes' };
  const [[labelMs, labelApplyMs], labelVia] = await vias(() => meanApply(() => measure(a, () => store.apply(blocked), false, () => store.apply(bWep))));
  const [[remoteMs, remoteApplyMs], remoteVia] = await vias(() => meanApply(() => measure(r, () => store.apply(remoteWep), true, () => store.delete(remoteWep))));
  const loadAfter = loadAverage();
  const appliesAfter = await applyCost();
  const meanApplyMs = ((appliesAfter.sum - appliesBefore.sum) / (appliesAfter.count - appliesBefore.count)) * 1000;

  // 1,000 policy writes in one burst: how many dataplane transactions apply them.
  const applies = (): Promise<number> => gauge('margay_dataplane_apply_seconds_count');
  const before = await applies();
  const policiesBefore = await gauge('margay_active_local_policies');
  const burst = Array.from({ length: BURST_POLICIES }, (_, i) =>
    gnp(`burst-${i}`, { order: 1000 + i, selector: `app == 'app-${i % 50}'`, types: ['Ingress'], ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: `app == 'app-${(i + 7) % 50}'` }, destination: { ports: [9000 + (i % 100)] } }] }),
  );
  const tb = performance.now();
  await store.batch('apply', burst);
  const written = performance.now() - tb;
  await eventually(async () => (await gauge('margay_active_local_policies')) >= policiesBefore + BURST_POLICIES, { timeoutMs: 600_000, intervalMs: 100, what: 'burst applied' });
  const appliedMs = performance.now() - tb;
  const burstApplies = (await applies()) - before;

  const p = (v: number[], q: number): string => percentile(v, q).toFixed(1);
  const ratio = (v: number[], q: number): string => `${(percentile(v, q) / percentile(floor, q)).toFixed(2)}×`;
  console.log(`host: ${ENDPOINTS} local endpoints + 2 probing pods, ${POLICIES} NetworkPolicies (written in ${(writeMs / 1000).toFixed(1)} s; agent ready in ${(readyMs / 1000).toFixed(1)} s)`);
  console.log(`${FLIPS} changes each way, a new connection attempt every ${PROBE_STEP_MS} ms; load average ${loadBefore} before, ${loadAfter} after; milliseconds`);
  console.log('| measure | p50 | p90 | p99 | max | p50 / floor | p99 / floor |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(`| floor part: etcd put → watch event | ${p(watchMs, 50)} | ${p(watchMs, 90)} | ${p(watchMs, 99)} | ${Math.max(...watchMs).toFixed(1)} | | |`);
  console.log(`| floor part: one minimal transaction through \`nft -i\` | ${p(nftMs, 50)} | ${p(nftMs, 90)} | ${p(nftMs, 99)} | ${Math.max(...nftMs).toFixed(1)} | | |`);
  console.log(`| **floor** (the two, paired) | ${p(floor, 50)} | ${p(floor, 90)} | ${p(floor, 99)} | ${Math.max(...floor).toFixed(1)} | 1.00× | 1.00× |`);
  for (const [name, v] of [['policy written/deleted → enforced', policyMs], ['policy edited → enforced', editMs], ['label changed → enforced', labelMs], ['remote endpoint written/deleted → its IP in the set here', remoteMs]] as const) {
    console.log(`| ${name} | ${p(v, 50)} | ${p(v, 90)} | ${p(v, 99)} | ${Math.max(...v).toFixed(1)} | ${ratio(v, 50)} | ${ratio(v, 99)} |`);
  }
  console.log(`the agent's dataplane applies during these changes (its \`margay_dataplane_apply_seconds\`): ${appliesAfter.count - appliesBefore.count}, mean ${meanApplyMs.toFixed(1)} ms each`);
  console.log(`mean apply per change kind: policy ${policyApplyMs.toFixed(1)} ms, edit ${editApplyMs.toFixed(1)} ms, label ${labelApplyMs.toFixed(1)} ms, remote endpoint ${remoteApplyMs.toFixed(1)} ms`);
  console.log(`transactions per change kind: policy ${policyVia}; edit ${editVia}; label ${labelVia}; remote endpoint ${remoteVia}`);
  console.log(`not in the floor: the minimal transaction while probing as during the changes p50 ${p(nftProbingMs, 50)} / p99 ${p(nftProbingMs, 99)} ms; in a namespace without the agent's table p50 ${p(nftEmptyMs, 50)} / p99 ${p(nftEmptyMs, 99)} ms`);
  console.log(`${BURST_POLICIES} GlobalNetworkPolicies written in one burst (${(written / 1000).toFixed(2)} s of writes, all applied after ${(appliedMs / 1000).toFixed(2)} s): ${burstApplies} dataplane transaction(s); load average ${loadAverage()}`);
} finally {
  nft?.close();
  await agent?.destroy();
  for (const pod of pods) await pod.netns.delete();
  await host.delete();
  await ds.close();
  await watcher.close();
  await etcd.destroy();
}
