/**
 * The agent in-process against the in-memory datastore, with a recording fake dataplane: the
 * loop's rules (nothing before in-sync, coalescing, retries, outages, status, settings overlay).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Agent, type AgentDataplane, type DataplaneOutcome } from '../../src/agent/agent.ts';
import { TIDY_DELAY_MS } from '../../src/agent/flush-loop.ts';
import { environmentLayers, flagLayers } from '../../src/agent/config.ts';
import { createLogger, silentLogger } from '../../src/log/mod.ts';
import type { Resource } from '../../src/api/resource.ts';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { resourceKey } from '../../src/datastore/keys.ts';
import { MALLOC_THRESHOLD_BYTES, systemClock, type Clock, type MallocControl, type TimerHandle } from '../../src/os/mod.ts';
import { eventually } from '../harness/wait.ts';
import { deepFreeze } from '../calc/helpers.ts';

class FakeDataplane implements AgentDataplane {
  batches: DataplaneUpdate[][] = [];
  resyncs = 0;
  prepared = 0;
  fail = false;

  async prepare(): Promise<void> {
    this.prepared++;
  }

  /** While set, applies wait for it (a cold start's long first apply). */
  gate: Promise<void> | undefined;

  async apply(updates: readonly DataplaneUpdate[]): Promise<DataplaneOutcome> {
    for (const u of updates) deepFreeze(u); // handed over: never changed afterwards
    this.batches.push([...updates]);
    await this.gate;
    if (this.fail) {
      const failed = updates.flatMap((u) => (u.type === 'workload-update' ? [u.endpoint.key] : []));
      return { ok: false, failedEndpoints: failed, nft: { error: new Error('Error: Could not process rule: No such file or directory') } };
    }
    return { ok: true };
  }

  async resync(): Promise<DataplaneOutcome> {
    this.resyncs++;
    return this.fail ? { ok: false, nft: { error: new Error('still broken') } } : { ok: true };
  }

  /** True to say that applies left unused policy objects in the kernel. */
  leftovers = false;
  tidies = 0;

  untidy(): boolean {
    return this.leftovers;
  }

  async tidy(): Promise<DataplaneOutcome> {
    this.tidies++;
    this.leftovers = false;
    return { ok: true };
  }

  get updates(): DataplaneUpdate[] {
    return this.batches.flat();
  }
}

function wep(name: string, ip: string, labels: Record<string, string> = {}, node = 'h1'): [string, string] {
  return [
    resourceKey('workloadendpoints', `${node}-k8s-${name}-eth0`, 'ns1'),
    JSON.stringify({
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: `${node}-k8s-${name}-eth0`, namespace: 'ns1', labels: { 'projectcalico.org/namespace': 'ns1', ...labels } },
      spec: { orchestrator: 'k8s', node, pod: name, endpoint: 'eth0', interfaceName: `cali${name.padEnd(11, '0')}`, ipNetworks: [`${ip}/32`], profiles: ['kns.ns1'] },
    }),
  ];
}

function profile(): [string, string] {
  return [
    resourceKey('profiles', 'kns.ns1'),
    JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: 'kns.ns1' }, spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }] } }),
  ];
}

function gnp(name: string, selector: string): [string, string] {
  return [
    resourceKey('globalnetworkpolicies', name),
    JSON.stringify({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name },
      spec: { tier: 'default', order: 100, selector, types: ['Ingress'], ingress: [{ action: 'Allow', source: { selector: 'app == "x"' } }] },
    }),
  ];
}

function tier(): [string, string] {
  return [
    resourceKey('tiers', 'default'),
    JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 'default' }, spec: { order: 1_000_000, defaultAction: 'Deny' } }),
  ];
}

async function put(ds: MemoryDatastore, ...kvs: [string, string][]): Promise<void> {
  for (const [k, v] of kvs) await ds.put(k, v);
}

/**
 * The system clock, except that once `holding`, a wait of `holdMs` or more never ends by itself: a
 * test can then tell that something happened *without* waiting for such a delay, and without
 * reading the time.
 */
class HoldingClock implements Clock {
  /** The waits held, with their length. */
  readonly held = new Map<() => void, number>();
  holding = false;
  readonly #holdMs: number;

  constructor(holdMs: number) {
    this.#holdMs = holdMs;
  }

  now(): number {
    return systemClock.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    if (!this.holding || ms < this.#holdMs) return { real: systemClock.setTimeout(fn, ms) };
    this.held.set(fn, ms);
    return { fn };
  }

  clearTimeout(handle: TimerHandle): void {
    const h = handle as { real?: TimerHandle; fn?: () => void } | undefined;
    if (h?.real !== undefined) systemClock.clearTimeout(h.real);
    if (h?.fn) this.held.delete(h.fn);
  }
}

function makeAgent(ds: MemoryDatastore, dp: FakeDataplane, env: Record<string, string> = {}, logLines?: string[], clock?: Clock, malloc?: MallocControl | null): Agent {
  return new Agent({
    ...(clock ? { clock } : {}),
    ...(malloc !== undefined ? { malloc } : {}),
    datastore: ds.peer(),
    local: {
      layers: [
        ...environmentLayers({ MARGAY_HEALTHPORT: '0', MARGAY_PROMETHEUSMETRICSPORT: '0', MARGAY_ENDPOINTREPORTINGDELAY: '0.01', MARGAY_DATAPLANEFLUSHDELAY: '0.02', ...env }).layers,
        ...flagLayers({ hostname: 'h1' }),
      ],
      warnings: [],
    },
    dataplane: () => dp,
    logger: logLines ? createLogger({ destination: { write: (line: string) => void logLines.push(line) } }) : silentLogger(),
    syncerBackoff: { initialMs: 10, maxMs: 50 },
  });
}

/** Runs `fn` against an agent started on a datastore holding `kvs`, once it is in sync; stops it after. */
async function withSyncedAgent(
  kvs: [string, string][],
  env: Record<string, string>,
  fn: (t: { ds: MemoryDatastore; dp: FakeDataplane; agent: Agent }) => Promise<void>,
  clock?: Clock,
): Promise<void> {
  const ds = new MemoryDatastore();
  await put(ds, ...kvs);
  const dp = new FakeDataplane();
  const agent = makeAgent(ds, dp, env, undefined, clock);
  try {
    await agent.start();
    await eventually(() => agent.inSync, { timeoutMs: 10_000 });
    await fn({ ds, dp, agent });
  } finally {
    await agent.stop();
    await ds.close();
  }
}

async function readiness(agent: Agent): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${agent.healthAddress!.port}/readiness`);
  await res.text();
  return res.status;
}

describe('agent loop', () => {
  it('writes the host status once the first apply has ended (applied or failed), not while it runs', async () => {
    for (const fail of [false, true]) {
      const ds = new MemoryDatastore();
      await put(ds, profile(), wep('a', '10.65.0.1'));
      const dp = new FakeDataplane();
      dp.fail = fail;
      let open!: () => void;
      dp.gate = new Promise((resolve) => (open = resolve));
      const agent = makeAgent(ds, dp);
      const hostKey = '/calico/felix/v2/no-region/host/h1/status';
      try {
        await agent.start();
        await eventually(() => dp.batches.length === 1, { what: 'the first apply started' });
        await new Promise((resolve) => setTimeout(resolve, 50));
        assert.equal(await ds.get(hostKey), undefined, 'no host status write during the first apply');
        open();
        await eventually(async () => (await ds.get(hostKey)) !== undefined, { what: 'host status' });
        assert.equal((JSON.parse((await ds.get(hostKey))!.value) as { in_sync: boolean }).in_sync, !fail);
      } finally {
        open();
        await agent.stop();
        await ds.close();
      }
    }
  });

  it('programs nothing before in-sync, then the full state, reports ready, metrics and status', async () => {
    const ds = new MemoryDatastore();
    await put(ds, profile(), wep('a', '10.65.0.1'), wep('b', '10.65.0.2'), wep('r', '10.65.1.1', {}, 'h2'));
    const dp = new FakeDataplane();
    const agent = makeAgent(ds, dp);
    try {
      assert.equal(dp.batches.length, 0);
      await agent.start();
      await eventually(() => agent.inSync, { what: 'in sync' });
      assert.equal(dp.prepared, 1, 'host sysctls once, with the first apply');
      const first = dp.batches[0]!;
      assert.equal(first.at(-1)!.type, 'in-sync');
      assert.deepEqual(
        first.filter((u) => u.type === 'workload-update').map((u) => (u as { endpoint: { key: string } }).endpoint.key),
        ['ns1/h1-k8s-a-eth0', 'ns1/h1-k8s-b-eth0'],
      );
      assert.equal(await readiness(agent), 200);
      const metrics = await agent.metrics.text();
      assert.match(metrics, /^margay_active_local_endpoints 2$/m);
      assert.match(metrics, /^margay_active_local_policies 1$/m);
      assert.match(metrics, /^margay_in_sync 1$/m);
      assert.match(metrics, /^margay_resync_state 3$/m);
      const metricsRes = await fetch(`http://127.0.0.1:${agent.metricsAddress!.port}/metrics`);
      assert.match(await metricsRes.text(), /margay_dataplane_apply_seconds_count 1/);
      await eventually(async () => (await ds.list('/calico/felix/v2/no-region/host/h1/workload/')).items.length === 2, { what: 'endpoint status' });
      const status = await ds.get('/calico/felix/v2/no-region/host/h1/workload/k8s/ns1%2fa/endpoint/eth0');
      assert.deepEqual(JSON.parse(status!.value), { status: 'up' });
      await eventually(async () => (await ds.get('/calico/felix/v2/no-region/host/h1/status')) !== undefined, { what: 'host status' });
      const host = JSON.parse((await ds.get('/calico/felix/v2/no-region/host/h1/status'))!.value) as Record<string, unknown>;
      assert.equal(host.in_sync, true);
      assert.equal(typeof host.last_in_sync, 'string');
      assert.equal(typeof host.uptime, 'number');
    } finally {
      await agent.stop();
    }
    // The host status key had a lease: revoked on stop.
    assert.equal(await ds.get('/calico/felix/v2/no-region/host/h1/status'), undefined);
    assert.notEqual(await ds.get('/calico/felix/v2/no-region/host/h1/last_reported_status'), undefined);
    await ds.close();
  });

  it('a burst of changes becomes few applies, and deltas follow', async () => {
    await withSyncedAgent([profile(), tier()], {}, async ({ ds, dp, agent }) => {
      const before = dp.batches.length;
      const writes: [string, string][] = [];
      for (let i = 0; i < 40; i++) writes.push(wep(`w${i}`, `10.65.0.${i + 1}`, { app: i % 2 ? 'x' : 'y' }));
      writes.push(gnp('allow-x', 'app == "y"'));
      await ds.txn(writes.map(([key, value]) => ({ op: 'put', key, value })));
      await eventually(() => dp.updates.filter((u) => u.type === 'workload-update').length === 40, { what: '40 workloads' });
      await agent.whenIdle();
      assert.ok(dp.batches.length - before <= 2, `one transaction became ${dp.batches.length - before} applies`);
      // A policy change: one more small apply.
      const mark = dp.batches.length;
      await ds.delete(gnp('allow-x', '')[0]);
      await eventually(() => dp.batches.length > mark);
      await agent.whenIdle();
      const after = dp.batches.slice(mark).flat();
      assert.ok(after.some((u) => u.type === 'policy-remove'));
      assert.ok(after.every((u) => u.type !== 'in-sync'));
      assert.match(await agent.metrics.text(), /margay_policy_programming_latency_seconds_count [1-9]/);
    });
  });

  it('a failed apply makes it not ready, marks endpoints error, and is retried as a resync', async () => {
    await withSyncedAgent([profile(), wep('a', '10.65.0.1')], {}, async ({ ds, dp, agent }) => {
      await eventually(async () => (await readiness(agent)) === 200);
      dp.fail = true;
      await put(ds, wep('b', '10.65.0.2'));
      await eventually(async () => (await readiness(agent)) === 503, { what: 'not ready after a failure' });
      await eventually(() => dp.resyncs >= 1, { what: 'a retry' });
      assert.match(await agent.metrics.text(), /margay_dataplane_errors_total\{operation="apply"\} 1/);
      await eventually(async () => {
        const kv = await ds.get('/calico/felix/v2/no-region/host/h1/workload/k8s/ns1%2fb/endpoint/eth0');
        return kv !== undefined && JSON.parse(kv.value).status === 'error';
      }, { what: 'error status' });
      dp.fail = false;
      await eventually(async () => (await readiness(agent)) === 200, { timeoutMs: 15_000, what: 'ready after recovery' });
      await eventually(async () => {
        const kv = await ds.get('/calico/felix/v2/no-region/host/h1/workload/k8s/ns1%2fb/endpoint/eth0');
        return kv !== undefined && JSON.parse(kv.value).status === 'up';
      });
    });
  });

  it('keeps the dataplane during a datastore outage, reports not ready, resyncs after', async () => {
    const ds = new MemoryDatastore();
    await put(ds, profile(), wep('a', '10.65.0.1'));
    const dp = new FakeDataplane();
    const client = ds.peer();
    const agent = new Agent({
      datastore: client,
      local: { layers: [...environmentLayers({ MARGAY_HEALTHPORT: '0', MARGAY_PROMETHEUSMETRICSPORT: '0' }).layers, ...flagLayers({ hostname: 'h1' })], warnings: [] },
      dataplane: () => dp,
      logger: silentLogger(),
      syncerBackoff: { initialMs: 10, maxMs: 50 },
    });
    try {
      await agent.start();
      await eventually(() => agent.inSync);
      const applies = dp.batches.length;
      const resyncs = dp.resyncs;
      client.setReachable(false);
      await eventually(async () => (await readiness(agent)) === 503, { what: 'not ready while unreachable' });
      assert.equal(dp.prepared, 1);
      assert.equal(agent.inSync, false);
      assert.match(await agent.metrics.text(), /^margay_resync_state 1$/m);
      assert.equal(dp.batches.length, applies, 'nothing is removed from the dataplane');
      await put(ds, wep('b', '10.65.0.2')); // a change made meanwhile
      client.setReachable(true);
      await eventually(async () => (await readiness(agent)) === 200, { what: 'ready again' });
      await eventually(() => dp.resyncs > resyncs, { what: 'a resync after the outage' });
      await eventually(() => dp.updates.some((u) => u.type === 'workload-update' && u.endpoint.key === 'ns1/h1-k8s-b-eth0'));
    } finally {
      await agent.stop();
      await ds.close();
    }
  });

  it('logs and reports the settings it programs (defaults included)', async () => {
    const ds = new MemoryDatastore();
    const dp = new FakeDataplane();
    const lines: string[] = [];
    const agent = makeAgent(ds, dp, {}, lines);
    try {
      await agent.start();
      await eventually(() => agent.inSync, { timeoutMs: 10_000 });
      const logged = lines.map((l) => JSON.parse(l) as { msg: string; config?: Record<string, unknown> }).find((l) => l.msg === 'agent starting');
      const programmed = dp.updates.find((u) => u.type === 'settings');
      assert.ok(logged?.config && programmed?.type === 'settings');
      const s = programmed.settings;
      assert.deepEqual(logged.config.failsafeInboundHostPorts, s.failsafeInbound);
      assert.deepEqual(logged.config.failsafeOutboundHostPorts, s.failsafeOutbound);
      assert.equal(logged.config.interfacePrefix, s.interfacePrefixes.join(','));
      assert.deepEqual(agent.config.failsafeInboundHostPorts, s.failsafeInbound);
      assert.ok(s.failsafeInbound.some((p) => p.protocol === 'tcp' && p.port === 22), "Felix's defaults, not an empty list");
    } finally {
      await agent.stop();
      await ds.close();
    }
  });

  it('fixes glibc’s malloc thresholds when it starts, and says so', async () => {
    for (const fixed of [true, false]) {
      const ds = new MemoryDatastore();
      const lines: string[] = [];
      const calls: Array<[number, number]> = [];
      const malloc: MallocControl = { setThresholds: (t, m) => (calls.push([t, m]), fixed), trim: () => true };
      const agent = makeAgent(ds, new FakeDataplane(), {}, lines, undefined, malloc);
      try {
        await agent.start();
        await eventually(() => agent.inSync, { timeoutMs: 10_000 });
        assert.deepEqual(calls, [[MALLOC_THRESHOLD_BYTES, MALLOC_THRESHOLD_BYTES]]);
        const logged = lines.map((l) => JSON.parse(l) as { msg: string; malloc?: string }).find((l) => l.msg === 'agent starting');
        assert.equal(logged?.malloc, fixed ? 'thresholds fixed' : 'default');
      } finally {
        await agent.stop();
        await ds.close();
      }
    }
  });

  it('overlays dataplane settings from the environment on the datastore ones', async () => {
    const felixDefault: [string, string] = [
      resourceKey('felixconfigurations', 'default'),
      JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'FelixConfiguration', metadata: { name: 'default' }, spec: { defaultEndpointToHostAction: 'Accept', logPrefix: 'ds' } }),
    ];
    await withSyncedAgent([felixDefault], { MARGAY_FAILSAFEINBOUNDHOSTPORTS: 'tcp:22', FELIX_LOGPREFIX: 'env' }, async ({ dp, agent }) => {
      const settings = dp.updates.find((u) => u.type === 'settings');
      assert.ok(settings && settings.type === 'settings');
      assert.deepEqual(settings.settings.failsafeInbound, [{ protocol: 'tcp', port: 22 }]);
      assert.equal(settings.settings.logPrefix, 'env');
      assert.equal(settings.settings.defaultEndpointToHostAction, 'Accept');
      assert.equal(agent.config.defaultEndpointToHostAction, 'Accept', 'the agent reports what it programs');
      assert.equal(agent.config.logPrefix, 'env');
    });
  });

  it('applies FelixConfiguration changes live (node.<host> over default) and cleans up status of removed endpoints', async () => {
    await withSyncedAgent([profile(), wep('a', '10.65.0.1')], {}, async ({ ds, agent }) => {
      const fc = (name: string, spec: Record<string, unknown>): [string, string] => [
        resourceKey('felixconfigurations', name),
        JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'FelixConfiguration', metadata: { name }, spec }),
      ];
      await put(ds, fc('default', { logSeverityScreen: 'Debug', nftablesRefreshInterval: '30s' }), fc('node.h1', { nftablesRefreshInterval: '20s' }));
      await eventually(() => agent.config.nftablesRefreshInterval === 20_000 && agent.config.logSeverityScreen === 'debug');
      assert.equal(agent.configSources.nftablesRefreshInterval, 'felixconfiguration/node.h1');
      const statusKey = '/calico/felix/v2/no-region/host/h1/workload/k8s/ns1%2fa/endpoint/eth0';
      await eventually(async () => (await ds.get(statusKey)) !== undefined);
      await ds.delete(wep('a', '')[0]);
      await eventually(async () => (await ds.get(statusKey)) === undefined, { what: 'status removed with the endpoint' });
    });
  });

  it('deletes stale endpoint status left by a previous run', async () => {
    const ds = new MemoryDatastore();
    await put(ds, profile(), wep('a', '10.65.0.1'));
    await ds.put('/calico/felix/v2/no-region/host/h1/workload/k8s/ns1%2fgone/endpoint/eth0', '{"status":"up"}');
    await ds.put('/calico/felix/v2/no-region/host/h2/workload/k8s/ns1%2fother/endpoint/eth0', '{"status":"up"}');
    const dp = new FakeDataplane();
    const agent = makeAgent(ds, dp);
    try {
      await agent.start();
      await eventually(async () => (await ds.get('/calico/felix/v2/no-region/host/h1/workload/k8s/ns1%2fgone/endpoint/eth0')) === undefined);
      assert.notEqual(await ds.get('/calico/felix/v2/no-region/host/h1/workload/k8s/ns1%2fa/endpoint/eth0'), undefined);
      assert.notEqual(await ds.get('/calico/felix/v2/no-region/host/h2/workload/k8s/ns1%2fother/endpoint/eth0'), undefined, 'other hosts are not touched');
    } finally {
      await agent.stop();
      await ds.close();
    }
  });

  it('touches nothing (not even sysctls) while the datastore has never been reached', async () => {
    const ds = new MemoryDatastore();
    const client = ds.peer();
    client.setReachable(false);
    const dp = new FakeDataplane();
    const agent = new Agent({
      datastore: client,
      local: { layers: [...environmentLayers({ MARGAY_HEALTHPORT: '0', MARGAY_PROMETHEUSMETRICSPORT: '0' }).layers, ...flagLayers({ hostname: 'h1' })], warnings: [] },
      dataplane: () => dp,
      logger: silentLogger(),
      syncerBackoff: { initialMs: 10, maxMs: 20 },
    });
    try {
      await agent.start();
      await eventually(async () => /^margay_resync_state 1$/m.test(await agent.metrics.text()), { what: 'waiting for the datastore' });
      assert.equal(await readiness(agent), 503);
      assert.deepEqual([dp.prepared, dp.batches.length, dp.resyncs], [0, 0, 0]);
      client.setReachable(true);
      await eventually(() => agent.inSync);
      assert.deepEqual([dp.prepared, dp.batches.length], [1, 1]);
    } finally {
      await agent.stop();
      await ds.close();
    }
  });

  it('a new local endpoint is flushed at once; other changes wait for the coalescing delay', async () => {
    // The 3 s coalescing delay never passes here: whatever reaches the dataplane did not wait for it.
    const clock = new HoldingClock(3000);
    await withSyncedAgent([profile(), tier()], { MARGAY_DATAPLANEFLUSHDELAY: '3' }, async ({ ds, dp, agent }) => {
      clock.holding = true;
      const mark = dp.batches.length;
      await put(ds, gnp('allow-x', 'app == "y"'));
      await eventually(() => [...clock.held.values()].some((ms) => ms > 2000 && ms <= 3000), { what: 'the policy change scheduled behind the delay' });
      assert.equal(dp.batches.length, mark, 'a policy change waits for the delay');
      await put(ds, wep('a', '10.65.0.1'));
      const key = 'ns1/h1-k8s-a-eth0';
      const revision = (await ds.get(wep('a', '')[0]))!.modRevision;
      await agent.waitForEndpointProgrammed(key, revision, 30_000);
      const flushed = dp.batches.slice(mark).flat();
      assert.ok(flushed.some((u) => u.type === 'workload-update' && u.endpoint.key === key));
      assert.ok(flushed.some((u) => u.type === 'policy-update'), 'what was pending joins the expedited flush');
    }, clock);
  });

  it('changes that find the flush loop idle are flushed at once, however many: the throttle is for storms', async () => {
    // No wait of 50 ms or more ever ends here, and the bucket (2 runs, then one per second) would
    // hold the third flush: every change below reaching the dataplane proves it was not throttled.
    const clock = new HoldingClock(50);
    await withSyncedAgent([profile(), tier(), wep('a', '10.65.0.1', { app: 'y' })], { MARGAY_DATAPLANEFLUSHDELAY: '0', MARGAY_DATAPLANEFLUSHBURST: '2', MARGAY_DATAPLANEFLUSHINTERVAL: '1' }, async ({ ds, dp, agent }) => {
      await agent.whenIdle();
      clock.holding = true;
      for (let i = 0; i < 12; i++) {
        const mark = dp.batches.length;
        await put(ds, gnp(`p${i}`, 'app == "y"'));
        await eventually(() => dp.batches.slice(mark).flat().some((u) => u.type === 'policy-update' && u.policy.key.endsWith(`p${i}`)), { what: `policy p${i} flushed` });
        await agent.whenIdle();
        assert.equal(dp.batches.length - mark, 1, `change ${i}: one flush`);
      }
    }, clock);
  });

  it('deletes what changes left unused in the kernel once changes pause, not while they go on', async () => {
    // Waits of TIDY_DELAY_MS never end by themselves here: the test fires them.
    const clock = new HoldingClock(TIDY_DELAY_MS);
    const tidyTimers = () => [...clock.held].filter(([, ms]) => ms === TIDY_DELAY_MS).map(([fn]) => fn);
    await withSyncedAgent([profile(), tier(), wep('a', '10.65.0.1', { app: 'y' })], { MARGAY_DATAPLANEFLUSHDELAY: '0' }, async ({ ds, dp, agent }) => {
      await agent.whenIdle();
      clock.holding = true;
      assert.equal(tidyTimers().length, 0, 'nothing left over, nothing to wait for');
      dp.leftovers = true;
      for (let i = 0; i < 3; i++) {
        await put(ds, gnp(`p${i}`, 'app == "y"'));
        await agent.whenIdle();
        await eventually(() => tidyTimers().length === 1, { what: `one tidy timer after change ${i}` });
      }
      assert.equal(dp.tidies, 0, 'not while changes go on');
      const [fire] = tidyTimers();
      clock.held.delete(fire!);
      fire!();
      await eventually(() => dp.tidies === 1, { what: 'tidied once changes paused' });
      await agent.whenIdle();
      assert.equal(tidyTimers().length, 0, 'nothing left: no timer');
    }, clock);
  });

  it('an endpoint programmed ahead is in the dataplane before the datastore has it; its echo costs no update', async () => {
    await withSyncedAgent([profile(), tier()], { MARGAY_DATAPLANEFLUSHDELAY: '3' }, async ({ ds, dp, agent }) => {
      const [wepKey, wepValue] = wep('a', '10.65.0.1');
      const key = 'ns1/h1-k8s-a-eth0';
      const updatesOf = (from: number) =>
        dp.batches.slice(from).flat().filter((u) => (u.type === 'workload-update' && u.endpoint.key === key) || (u.type === 'workload-remove' && u.key === key));
      const mark = dp.batches.length;
      agent.programAhead(JSON.parse(wepValue) as Resource);
      await eventually(() => updatesOf(mark).some((u) => u.type === 'workload-update'), { timeoutMs: 2000, what: 'the endpoint programmed' });
      assert.equal(await ds.get(wepKey), undefined, 'before any datastore write');
      // The write and its echo: its flush finds the endpoint already programmed.
      const afterAhead = dp.batches.length;
      const { modRevision } = await ds.put(wepKey, wepValue);
      await agent.waitForEndpointProgrammed(key, modRevision, 2000);
      await agent.whenIdle();
      assert.deepEqual(updatesOf(afterAhead), [], 'the echo changes nothing in the kernel');
      // What was written before the endpoint is in the kernel when its ADD is answered, even when
      // the agent had not seen it yet when the endpoint was fed ahead.
      const [otherKey, otherValue] = wep('b', '10.65.0.2', { app: 'b' });
      await put(ds, gnp('written-just-before', 'app == "b"'));
      agent.programAhead(JSON.parse(otherValue) as Resource);
      const written = await ds.put(otherKey, otherValue);
      await agent.waitForEndpointProgrammed('ns1/h1-k8s-b-eth0', written.modRevision, 2000);
      assert.ok(
        dp.updates.some((u) => u.type === 'policy-update' && u.policy.key.includes('written-just-before')),
        'the policy written before the endpoint was applied before the answer',
      );
    });
  });

  it("withdrawing an endpoint programmed ahead gives the dataplane back the datastore's view", async () => {
    await withSyncedAgent([profile(), tier(), wep('old', '10.65.0.9')], {}, async ({ dp, agent }) => {
      // A new endpoint whose write failed: it goes away again.
      const mark = dp.batches.length;
      const withdraw = agent.programAhead(JSON.parse(wep('new', '10.65.0.2')[1]) as Resource);
      await eventually(() => dp.batches.slice(mark).flat().some((u) => u.type === 'workload-update' && u.endpoint.key === 'ns1/h1-k8s-new-eth0'));
      const beforeWithdraw = dp.batches.length;
      withdraw();
      await eventually(() => dp.batches.slice(beforeWithdraw).flat().some((u) => u.type === 'workload-remove' && u.key === 'ns1/h1-k8s-new-eth0'));
      // A changed endpoint whose write failed: the stored one comes back.
      const changed = dp.batches.length;
      const undo = agent.programAhead(JSON.parse(wep('old', '10.65.0.10')[1]) as Resource);
      const ipsOf = (from: number) =>
        dp.batches.slice(from).flat().flatMap((u) => (u.type === 'workload-update' && u.endpoint.key === 'ns1/h1-k8s-old-eth0' ? [u.endpoint.addresses.join()] : []));
      await eventually(() => ipsOf(changed).includes('10.65.0.10/32'));
      const restored = dp.batches.length;
      undo();
      await eventually(() => ipsOf(restored).includes('10.65.0.9/32'), { what: 'the stored address back' });
    });
  });

  it('refuses to start without a hostname', () => {
    const ds = new MemoryDatastore();
    assert.throws(
      () => new Agent({ datastore: ds, local: { layers: [], warnings: [] }, dataplane: () => new FakeDataplane(), logger: silentLogger() }),
      /no hostname/,
    );
  });
});
