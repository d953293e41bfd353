/**
 * kube-controllers under failure, with `margay kube-controllers` as a real process: killed -9 in
 * the middle of a burst of changes and started again; the API server restarted; Calico's etcd
 * unreachable for a while. Each time, afterwards, etcd holds exactly the converted state of the
 * Kubernetes API: nothing lost, nothing stale, no endpoint with old labels.
 *
 * Kubernetes and Calico use separate etcds here (as they may in production), so that Calico's can
 * be taken away while the API server keeps working.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { profileKind } from '../../src/api/kinds/profile.ts';
import { EtcdDatastore, ResourceStore } from '../../src/datastore/mod.ts';
import { KUBE_LEADER_KEY } from '../../src/kube/mod.ts';
import { trackChildren } from '../harness/process.ts';
import { useEtcd } from '../harness/etcd.ts';
import { useKube } from '../harness/kube.ts';
import { eventually } from '../harness/wait.ts';
import { convergenceGaps, kubeControllersConfig, namespace, networkPolicy, pod, writeEndpointOf } from './helpers.ts';

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

  function startControllers(id: string): Proc {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/run.ts'), 'kube-controllers', '--kubeconfig', k.kube.kubeconfig, '--identity', id, '--lease-ttl', '2', '--config-poll', '1'],
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

  const kubectlAsync = (args: string[], input?: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const c = execFile('kubectl', ['--kubeconfig', k.kube.kubeconfig, ...args], { encoding: 'utf8' }, (err, _out, stderr) => (err ? reject(new Error(stderr)) : resolve()));
      if (input !== undefined) c.stdin!.end(input);
    });

  const converged = async (what: string): Promise<void> => {
    await eventually(async () => assert.deepEqual(await convergenceGaps(k.kube, store), [], what), T);
  };

  before(async () => {
    ds = new EtcdDatastore({ endpoints: calicoEtcd.etcd.endpoints });
    store = new ResourceStore(ds);
    await store.apply(kubeControllersConfig({ period: '2s' }));
    k.kube.apply(namespace('app'));
    await k.kube.waitForServiceAccount('app');
    for (let i = 0; i < 5; i++) {
      k.kube.apply(pod('app', `p${i}`, 'node-1', { app: 'p', n: String(i) }));
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
    k.kube.apply(namespace('during-outage', { z: '1' }));
    await kubectlAsync(['-n', 'app', 'delete', 'networkpolicy', 'np-3']);
    k.kube.apply(networkPolicy('app', 'np-outage', { n: 'o' }, { app: 'p' }));
    await kubectlAsync(['-n', 'app', 'label', 'pod', 'p2', 'outage=yes']);
    await new Promise((r) => setTimeout(r, 3000)); // longer than the lease TTL: leadership is lost meanwhile
    await calicoEtcd.etcd.restart();
    await converged('after the outage');
    await eventually(async () => assert.ok(await ds.get(KUBE_LEADER_KEY), 'a leader again'), T);
  });
});
