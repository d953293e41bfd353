/**
 * kube-controllers under failure, with `margay kube-controllers` as a real process: killed -9 in
 * the middle of a burst of changes and started again; two replicas, the leader killed -9 during a
 * burst and the standby taking over; the API server restarted; Calico's etcd
 * unreachable for a while; its watches expired (410 Gone) while it was away, so that it must list
 * again. Each time, afterwards, etcd holds exactly the converted state of the Kubernetes API:
 * nothing lost, nothing stale, no endpoint with old labels. And bad input: a NetworkPolicy rule
 * Calico cannot express is dropped and reported (the log line names the policy, the rule and why)
 * while the policy still isolates its pods.
 *
 * Kubernetes and Calico use separate etcds here (as they may in production), so that Calico's can
 * be taken away while the API server keeps working.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { allKinds } from '../../src/api/kinds/mod.ts';
import { networkPolicyKind } from '../../src/api/kinds/network-policy.ts';
import { profileKind } from '../../src/api/kinds/profile.ts';
import { PolicyView, runTrace } from '../../src/policy/mod.ts';
import { EtcdDatastore, ResourceStore } from '../../src/datastore/mod.ts';
import { KUBE_LEADER_KEY } from '../../src/kube/mod.ts';
import { trackChildren } from '../harness/process.ts';
import { useEtcd } from '../harness/etcd.ts';
import { useKube } from '../harness/kube.ts';
import { eventually } from '../harness/wait.ts';
import { convergenceGaps, halfConvertiblePolicy, kubectlOf, kubeControllersConfig, namespace, networkPolicy, pod, policyEvents, writeEndpointOf } from './helpers.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Proc {
  child: ChildProcess;
  log: string;
  exited: Promise<number | string>;
}

const { list: procs, killAll: undo } = trackChildren<Proc>();

describe('kube-controllers under failure (real processes, real API server, real etcd)', () => {
  const kubeEtcd = useEtcd();
  const calicoEtcd = useEtcd();
  const k = useKube(() => kubeEtcd.etcd.endpoint);
  let ds: EtcdDatastore;
  let store: ResourceStore;
  const T = { timeoutMs: 60_000, intervalMs: 250 };

  function startControllers(id: string, leaseTtl = 2): Proc {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/run.ts'), 'kube-controllers', '--kubeconfig', k.kube.kubeconfig, '--identity', id, '--lease-ttl', String(leaseTtl), '--config-poll', '1'],
      { cwd: root, env: { ...process.env, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: calicoEtcd.etcd.endpoint }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const p: Proc = { child, log: '', exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))) };
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (p.log += s));
    procs.push(p);
    return p;
  }

  async function stopAll(): Promise<void> {
    for (const p of procs.splice(0)) {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  }

  const kubectlAsync = async (args: string[], input?: string): Promise<void> => {
    await kubectlOf(k.kube, args, input);
  };

  const converged = async (what: string): Promise<void> => {
    await eventually(async () => assert.deepEqual(await convergenceGaps(k.kube, store), [], what), T);
  };

  before(async () => {
    ds = new EtcdDatastore({ endpoints: calicoEtcd.etcd.endpoints });
    store = new ResourceStore(ds);
    await store.apply(kubeControllersConfig({ period: '2s' }));
    k.kube.apply(namespace('app'));
    // The pods' node exists (else kube-controller-manager's pod GC deletes them as orphans after
    // 40 s), and they tolerate its taints (it has no kubelet: NotReady, then unreachable).
    k.kube.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' } }));
    await k.kube.waitForServiceAccount('app');
    for (let i = 0; i < 5; i++) {
      k.kube.apply(pod('app', `p${i}`, 'node-1', { app: 'p', n: String(i) }, { spec: { tolerations: [{ operator: 'Exists' }] } }));
      await writeEndpointOf(k.kube, store, 'app', `p${i}`);
    }
  });
  after(async () => {
    await stopAll();
    undo();
    await ds?.close();
  });

  it('killed -9 during a burst of changes, then started again: etcd holds exactly the converted state', async () => {
    const a = startControllers('a');
    await eventually(async () => assert.ok(await ds.get(KUBE_LEADER_KEY)), T);
    await converged('the first sync');
    const items = [
      ...Array.from({ length: 40 }, (_, i) => namespace(`burst-${i}`, { round: '1' })),
      ...Array.from({ length: 40 }, (_, i) => networkPolicy('app', `np-${i}`, { n: String(i) }, { app: 'p' }, 1000 + i)),
    ].map((m) => JSON.parse(m) as unknown);
    const manifest = JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
    const burst = kubectlAsync(['apply', '-f', '-'], manifest);
    const labels = Promise.all(Array.from({ length: 5 }, (_, i) => kubectlAsync(['-n', 'app', 'label', 'pod', `p${i}`, `round=1`, '--overwrite'])));
    await new Promise((r) => setTimeout(r, 400));
    a.child.kill('SIGKILL');
    assert.equal(await a.exited, 'SIGKILL');
    await Promise.all([burst, labels]);
    // More while it is down: deletions, relabels, a policy changed.
    await kubectlAsync(['-n', 'app', 'delete', 'networkpolicy', 'np-0', 'np-1', 'np-2']);
    await kubectlAsync(['label', 'namespace', 'burst-3', 'round=2', '--overwrite']);
    await kubectlAsync(['-n', 'app', 'label', 'pod', 'p4', 'n=changed', '--overwrite']);
    k.kube.apply(networkPolicy('app', 'np-5', { n: '5' }, { app: 'other' }, 9999));
    startControllers('b');
    await converged('after the restart');
  });

  it('two replicas: one leads, the other waits; the leader killed -9 during a burst, the standby takes over', async () => {
    const leader = procs.at(-1)!;
    const standby = startControllers('standby');
    await eventually(() => assert.match(standby.log, /another controller is the leader; waiting/), T);
    const items = Array.from({ length: 30 }, (_, i) => JSON.parse(namespace(`burst-${i}`, { round: '3' })) as unknown);
    const burst = kubectlAsync(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    await new Promise((r) => setTimeout(r, 400));
    leader.child.kill('SIGKILL');
    assert.equal(await leader.exited, 'SIGKILL');
    await burst;
    await kubectlAsync(['-n', 'app', 'delete', 'networkpolicy', 'np-4']);
    await converged('after the standby took over');
    assert.equal((JSON.parse((await ds.get(KUBE_LEADER_KEY))!.value) as { identity: string }).identity, 'standby');
  });

  it('the API server restarted: the watches resume and later changes arrive', async () => {
    await converged('before');
    await k.kube.stopApiserver();
    // Drift made while the API server is away is repaired from what the controllers hold.
    await store.delete((await store.get(profileKind, 'kns.burst-7'))!);
    await k.kube.startApiserver();
    k.kube.apply(namespace('after-api-restart', { x: 'y' }));
    k.kube.apply(networkPolicy('app', 'np-new', { n: 'new' }, { app: 'p' }));
    await kubectlAsync(['-n', 'app', 'label', 'pod', 'p1', 'after=restart']);
    await converged('after the API server restart');
  });

  it("Calico's etcd unreachable for a while: what changed meanwhile is written once it is back", async () => {
    await converged('before');
    await calicoEtcd.etcd.stop();
    try {
      k.kube.apply(namespace('during-outage', { z: '1' }));
      await kubectlAsync(['-n', 'app', 'delete', 'networkpolicy', 'np-3']);
      k.kube.apply(networkPolicy('app', 'np-outage', { n: 'o' }, { app: 'p' }));
      await kubectlAsync(['-n', 'app', 'label', 'pod', 'p2', 'outage=yes']);
      await new Promise((r) => setTimeout(r, 3000)); // longer than the lease TTL: leadership is lost meanwhile
    } finally {
      await calicoEtcd.etcd.restart(); // also when a step failed, so that the later tests have their etcd
    }
    await converged('after the outage');
    await eventually(async () => assert.ok(await ds.get(KUBE_LEADER_KEY), 'a leader again'), T);
  });

  it('its watches expired (410 Gone) while it was away: it lists again, and what changed meanwhile (deletions too) lands in etcd', async () => {
    await stopAll();
    // A long lease: the process keeps leading while it is stopped, so it resumes its own watches.
    const c = startControllers('c', 120);
    // It leads, has listed (the first resyncs are logged after every informer listed) and watches.
    await eventually(() => assert.ok((c.log.match(/"msg":"resync"/g) ?? []).length >= 4, 'the first resyncs'), T);
    await new Promise((r) => setTimeout(r, 1000));
    await converged('before');
    c.child.kill('SIGSTOP');
    try {
      // A restarted API server's watch cache starts at etcd's current revision: the stopped
      // process's resourceVersions are older than anything it keeps, so its watches get 410 Gone.
      await k.kube.stopApiserver();
      await k.kube.startApiserver();
      await kubectlAsync(['-n', 'app', 'delete', 'networkpolicy', 'np-6', 'np-new']);
      await kubectlAsync(['-n', 'app', 'delete', 'pod', 'p0', '--grace-period=0', '--force']);
      await kubectlAsync(['delete', 'namespace', 'burst-9', '--wait=false']);
      await kubectlAsync(['label', 'namespace', 'burst-8', 'round=410', '--overwrite']);
      await kubectlAsync(['-n', 'app', 'label', 'pod', 'p3', 'while=stopped']);
      k.kube.apply(namespace('during-410', { a: 'b' }));
      k.kube.apply(networkPolicy('app', 'np-410', { n: '410' }, { app: 'p' }));
    } finally {
      c.child.kill('SIGCONT');
    }
    await converged('after the relist');
    assert.match(c.log, /watch expired \(410 Gone\); listing again/, 'the watches expired and listed again (not a restart of the controllers)');
    assert.doesNotMatch(c.log, /became the leader[\s\S]*became the leader/, 'it kept leading throughout');
  });

  it('a rule Calico cannot express is dropped and reported (policy, rule, why); the policy still isolates its pods', async () => {
    const c = procs.at(-1)!;
    k.kube.apply(halfConvertiblePolicy('app', 'half-bad'));
    const np = (await eventually(async () => (await store.get(networkPolicyKind, 'knp.default.half-bad', 'app')) ?? false, T)) as Awaited<ReturnType<typeof store.get>>;
    const spec = np!.spec as { selector: string; types: string[]; egress: { protocol?: string; destination?: { ports?: number[]; nets?: string[] } }[] };
    assert.equal(spec.selector, "projectcalico.org/orchestrator == 'k8s' && n == '1'");
    assert.deepEqual(spec.types, ['Egress'], 'still isolating for egress');
    assert.deepEqual(spec.egress.map((r) => [r.protocol, r.destination?.ports, r.destination?.nets]), [['UDP', [53], undefined]], 'only the rule that converts');
    await eventually(() => {
      const line = c.log.split('\n').find((l) => l.includes('NetworkPolicy rule cannot be converted'));
      assert.ok(line, 'reported');
      const fields = JSON.parse(line) as { policy: string; rule: string; reason: string; level: unknown };
      assert.equal(fields.policy, 'app/half-bad');
      assert.equal(fields.rule, 'egress[0]');
      assert.match(fields.reason, /egress\[0\]\.to\[0\]\.ipBlock\.except\[0\]/);
    }, T);
    // …and as a Warning event on the NetworkPolicy, which `kubectl describe` shows.
    await eventually(() => {
      const events = policyEvents(k.kube, 'app', 'half-bad');
      assert.equal(events.length, 1, events.join('\n'));
      assert.match(events[0]!, /^RuleNotConverted: egress\[0\] cannot be converted and is not enforced \(spec\.egress\[0\]\.to\[0\]\.ipBlock\.except\[0\]: .+\); the policy still isolates/);
    }, T);
    // On the policy model the agents compute: pod p1 (n=1) may resolve names, and nothing else.
    await writeEndpointOf(k.kube, store, 'app', 'p1', ['10.65.0.11']);
    const view = new PolicyView((await Promise.all(allKinds.map((kind) => store.list(kind)))).flatMap((l) => l.items));
    assert.equal(runTrace(view, { from: 'app/p1', to: '8.8.8.8', port: 443, protocol: 'TCP' }).verdict, 'deny', 'the dropped rule did not widen access');
    assert.equal(runTrace(view, { from: 'app/p1', to: '10.1.2.3', port: 80, protocol: 'TCP' }).verdict, 'deny');
    assert.equal(runTrace(view, { from: 'app/p1', to: '10.1.2.3', port: 53, protocol: 'UDP' }).verdict, 'allow', 'the rule that converts applies');
    await converged('with the half-converted policy');
  });
});

