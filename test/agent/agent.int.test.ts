/**
 * The agent as a real process against a real etcd, programming a host namespace with three
 * workloads behind veths: policy enforcement and updates, status and metrics, drift repair,
 * kill -9 and restart under live flows, a datastore outage, and nothing programmed before
 * in-sync. Every wait polls; no assertion depends on wall-clock time.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeResources } from '../../src/api/decode.ts';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { useEtcd } from '../harness/etcd.ts';
import { run, type TestNetns } from '../harness/netns.ts';
import { withoutUnusedPolicyObjects } from '../harness/nft-listing.ts';
import { eventually } from '../harness/wait.ts';
import { addPod, type AgentProcess, createHost, lineDiff, listRuleset, probeAll, startAgent, type TestPod } from './lab.ts';

/** Fails, saying why, when a program the test drives is missing (a test never quietly does less). */
function requireProgram(name: string, purpose: string): void {
  const probe = spawnSync(name, ['--version']);
  assert.ok(!probe.error && probe.status === 0, `${name} is not installed (${purpose}); scripts/install-deps.sh installs it`);
}

function weps(): string {
  return ['a', 'b', 'c']
    .map(
      (p, i) => `
apiVersion: projectcalico.org/v3
kind: WorkloadEndpoint
metadata:
  name: host1-k8s-${p}-eth0
  namespace: ns1
  labels: {app: ${p}, projectcalico.org/namespace: ns1, projectcalico.org/orchestrator: k8s}
spec:
  orchestrator: k8s
  node: host1
  pod: ${p}
  endpoint: eth0
  interfaceName: caliagt${p}
  ipNetworks: [10.65.0.${i + 1}/32]
  profiles: [kns.ns1]
  ports: [{name: http, port: 80, protocol: TCP}]
`,
    )
    .join('---\n');
}

const PROFILE = `
apiVersion: projectcalico.org/v3
kind: Profile
metadata: {name: kns.ns1}
spec:
  ingress: [{action: Allow}]
  egress: [{action: Allow}]
`;

function policyAllowingTo(target: string, from: string): string {
  return `
apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: protect, namespace: ns1}
spec:
  selector: app == '${target}'
  types: [Ingress]
  ingress:
  - action: Allow
    protocol: TCP
    source: {selector: app == '${from}'}
    destination: {ports: [http, 5201]}
`;
}

describe('agent - real etcd, real kernel', () => {
  const handle = useEtcd();
  let host: TestNetns;
  const pods: TestPod[] = [];
  let agent: AgentProcess;
  let ds: EtcdDatastore;
  let store: ResourceStore;
  const ports = [
    { port: 80, proto: 'tcp' as const },
    { port: 81, proto: 'tcp' as const },
    { port: 80, proto: 'udp' as const },
  ];

  async function apply(yaml: string): Promise<void> {
    await store.batch('apply', decodeResources(yaml, 'test.yaml').map((d) => d.resource));
  }

  /** The reachability of every (from, to) pair on 80/TCP, 81/TCP, 80/UDP as a compact string. */
  async function reach(): Promise<string> {
    const m = await probeAll(pods, ports);
    return m.map((row, i) => `${pods[i]!.name}:${row.map((cells) => cells.map((c) => (c ? '1' : '0')).join('')).join(' ')}`).join(' | ');
  }

  before(async () => {
    host = await createHost();
    for (const [i, p] of ['a', 'b', 'c'].entries()) pods.push(await addPod(host, { name: p, hostInterface: `caliagt${p}`, ip: `10.65.0.${i + 1}`, ports: [80, 81] }));
    ds = new EtcdDatastore({ endpoints: handle.etcd.endpoints, tls: {} });
    store = new ResourceStore(ds);
    await apply(PROFILE + '---\n' + weps());
    agent = await startAgent({
      etcdEndpoints: handle.etcd.endpoints,
      hostname: 'host1',
      netns: host.name,
      env: { MARGAY_NFTABLESREFRESHINTERVAL: '1' },
    });
  });

  after(async () => {
    await agent?.destroy();
    for (const p of pods) await p.netns.delete();
    await host?.delete();
    await ds?.close();
  });

  it('programs the snapshot: the namespace profile allows everything', async () => {
    await agent.waitReady();
    await eventually(async () => (await reach()) === 'a:111 111 111 | b:111 111 111 | c:111 111 111', { what: 'all allowed' });
  });

  it('enforces a policy written to etcd, then its update', async () => {
    await apply(policyAllowingTo('b', 'a'));
    // Into b: only a, only TCP to the named port http (80); others unaffected.
    const expected = 'a:111 100 111 | b:111 111 111 | c:111 000 111';
    await eventually(async () => (await reach()) === expected, { what: 'policy enforced', timeoutMs: 15_000 });
    await apply(policyAllowingTo('b', 'c'));
    await eventually(async () => (await reach()) === 'a:111 000 111 | b:111 111 111 | c:111 100 111', { what: 'update enforced', timeoutMs: 15_000 });
    await apply(policyAllowingTo('b', 'a'));
    await eventually(async () => (await reach()) === expected, { timeoutMs: 15_000 });
  });

  it('reports endpoint status, host status and metrics', async () => {
    await eventually(async () => {
      const items = (await ds.list('/calico/felix/v2/no-region/host/host1/workload/k8s/')).items;
      return items.length === 3 && items.every((kv) => JSON.parse(kv.value).status === 'up');
    }, { what: 'three endpoints up' });
    const hostStatus = await ds.get('/calico/felix/v2/no-region/host/host1/status');
    assert.ok(hostStatus, 'host status key');
    assert.equal(JSON.parse(hostStatus.value).in_sync, true);
    assert.ok(hostStatus.lease, 'the host status has a lease');
    const metrics = await agent.metrics();
    assert.match(metrics, /^margay_active_local_endpoints 3$/m);
    assert.match(metrics, /^margay_active_local_policies 2$/m);
    assert.match(metrics, /^margay_active_local_selectors [1-9]/m);
    assert.match(metrics, /^margay_in_sync 1$/m);
    assert.match(metrics, /^margay_policy_programming_latency_seconds_count [1-9]/m);
    assert.match(metrics, /^margay_dataplane_transactions_total\{via="nft"\} [1-9]/m);
    assert.equal(await agent.health('liveness'), 200);
  });

  it('repairs drift at the periodic resync', async () => {
    // The reference is a ruleset after a periodic resync (every second here), which also deletes
    // the chains and sets earlier changes left unused (driver.ts, deferred deletions).
    const resyncs = async (): Promise<number> => Number(/^margay_dataplane_resync_seconds_count (\d+)$/m.exec(await agent.metrics())?.[1] ?? 0);
    const seen = await resyncs();
    await eventually(async () => (await resyncs()) > seen, { what: 'a periodic resync' });
    const before = await listRuleset(host.name);
    assert.notEqual(before, '');
    await run('ip', ['netns', 'exec', host.name, 'nft', 'delete', 'table', 'inet', 'margay']);
    // Restored from scratch, chains may be listed in another order: compare the lines as sets.
    const sorted = (text: string): string => text.split('\n').sort().join('\n');
    let now = '';
    await eventually(async () => sorted((now = await listRuleset(host.name))) === sorted(before), { what: 'table restored', timeoutMs: 15_000 }).catch((err: Error) => {
      throw new Error(`${err.message}:\n${lineDiff(before, now)}`);
    });
    await eventually(async () => (await reach()) === 'a:111 100 111 | b:111 111 111 | c:111 000 111');
  });

  it('kill -9 and restart: the ruleset is identical and established flows survive', async () => {
    const rulesBefore = await listRuleset(host.name);
    const [a, b] = [pods[0]!, pods[1]!];
    const started = await a.request({ cmd: 'flow', ip: b.ip, port: 80, intervalMs: 100 });
    assert.equal(started.ok, true, JSON.stringify(started));
    requireProgram('iperf3', 'the test drives an iperf3 flow through the restart');
    const iperfServer = b.netns.spawn('iperf3', ['-s', '-1', '-p', '5201']);
    const iperf = (async () => {
      await sleep(300); // let the server listen
      return a.netns.exec('iperf3', ['-c', b.ip, '-p', '5201', '-t', '8', '-J'], { allowFail: true, timeoutMs: 60_000 });
    })();
    try {
      await eventually(async () => ((await a.request({ cmd: 'flow-status' })).received as number) >= 5, { what: 'flow running' });

      assert.equal(await agent.kill('SIGKILL'), null);
      assert.equal(await listRuleset(host.name), rulesBefore, 'the kernel keeps the ruleset while the agent is down');
      const receivedWhileDown = (await a.request({ cmd: 'flow-status' })).received as number;
      await agent.restart();
      await agent.waitReady();
      await eventually(async () => ((await a.request({ cmd: 'flow-status' })).received as number) > receivedWhileDown + 10, { what: 'flow continues' });
      // The restarted agent's first full comparison deletes unused policy objects the old one kept.
      assert.equal(withoutUnusedPolicyObjects(await listRuleset(host.name)), withoutUnusedPolicyObjects(rulesBefore), 'the restarted agent leaves a correct ruleset as it is');
      const status = await a.request({ cmd: 'flow-status' });
      assert.deepEqual(status.errors, []);
      assert.equal(status.closed, false);
      assert.ok((status.received as number) >= (status.sent as number) - 2, `replies keep up: ${JSON.stringify(status)}`);
      const res = await iperf;
      assert.equal(res.code, 0, `iperf3 failed: ${res.stdout.slice(0, 500)} ${res.stderr}`);
      const report = JSON.parse(res.stdout) as { end: { sum_received: { bytes: number } }; error?: string };
      assert.equal(report.error, undefined);
      assert.ok(report.end.sum_received.bytes > 0, 'the iperf3 flow carried data across the restart');
    } finally {
      iperfServer.kill('SIGKILL');
      await iperf.catch(() => undefined);
    }
    assert.match(agent.logs(), /dataplane in sync/);
  });

  it('keeps the dataplane during a datastore outage, reports not ready, resyncs after', async () => {
    const expected = 'a:111 100 111 | b:111 111 111 | c:111 000 111';
    await handle.etcd.stop();
    await eventually(async () => (await agent.health('readiness')) === 503, { what: 'not ready', timeoutMs: 20_000 });
    assert.equal(await agent.health('liveness'), 200, 'still live');
    assert.equal(await reach(), expected, 'the dataplane still enforces the last good state');
    assert.match(await agent.metrics(), /^margay_resync_state 1$/m);
    await handle.etcd.restart();
    await agent.waitReady();
    assert.match(await agent.metrics(), /^margay_resync_state 3$/m);
    await apply(policyAllowingTo('b', 'c'));
    await eventually(async () => (await reach()) === 'a:111 000 111 | b:111 111 111 | c:111 100 111', { what: 'changes after the outage', timeoutMs: 15_000 });
  });

  it('stops cleanly on SIGTERM, leaving the ruleset in place', async () => {
    const rules = await listRuleset(host.name);
    assert.equal(await agent.kill('SIGTERM'), 0);
    assert.match(agent.logs(), /"msg":"agent stopped"/);
    assert.equal(await listRuleset(host.name), rules);
  });

  it('programs nothing before the datastore is in sync', async () => {
    const host2 = await createHost();
    let agent2: AgentProcess | undefined;
    try {
      await handle.etcd.stop();
      // Another host name: this host's workloads have no interfaces in host2.
      agent2 = await startAgent({ etcdEndpoints: handle.etcd.endpoints, hostname: 'host2', netns: host2.name });
      await eventually(async () => (await agent2!.health('liveness')) === 200, { what: 'agent up', timeoutMs: 60_000, intervalMs: 100 });
      assert.equal(await agent2.health('readiness'), 503);
      // Up, and still waiting for the datastore: no table, no routes.
      await eventually(() => /"component":"health".*serving \/metrics/.test(agent2!.logs()));
      assert.equal(await listRuleset(host2.name), '');
      assert.equal((await run('ip', ['-n', host2.name, 'route', 'show', 'proto', '77'])).stdout.trim(), '');
      await handle.etcd.restart();
      await agent2.waitReady();
      assert.match(await listRuleset(host2.name), /chain filter-forward/);
    } finally {
      await agent2?.destroy();
      await host2.delete();
    }
  });
});
