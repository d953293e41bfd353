/**
 * The RBAC of examples/kubernetes/rbac.yaml (docs/kubernetes.md) is enough, and no more: the
 * controllers and the CNI pod lookup run as users bound to exactly those ClusterRoles against a
 * real kube-apiserver with RBAC on.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { networkPolicyKind } from '../../src/api/kinds/network-policy.ts';
import { profileKind } from '../../src/api/kinds/profile.ts';
import { EtcdDatastore, ResourceStore } from '../../src/datastore/mod.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { KubeClient, loadKubeconfig, PodInfoSource, startKubeControllers, type RunningKubeControllers } from '../../src/kube/mod.ts';
import { useEtcd } from '../harness/etcd.ts';
import { useKube } from '../harness/kube.ts';
import { eventually } from '../harness/wait.ts';
import { halfConvertiblePolicy, kubeControllersConfig, namespace, networkPolicy, pod, policyEvents } from './helpers.ts';

const rbac = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../../examples/kubernetes/rbac.yaml'), 'utf8');

describe('RBAC of the documented ClusterRoles', () => {
  const ctx = useEtcd();
  const k = useKube(() => ctx.etcd.endpoint);
  let ds: EtcdDatastore;
  let client: KubeClient;
  let running: RunningKubeControllers;

  before(async () => {
    k.kube.apply(rbac);
    // The test's static-token users stand in for the ServiceAccounts the file binds.
    k.kube.kubectl(['create', 'clusterrolebinding', 'test-controllers', '--clusterrole=margay-kube-controllers', '--user=margay-kube-controllers']);
    k.kube.kubectl(['create', 'clusterrolebinding', 'test-cni', '--clusterrole=margay-cni', '--user=margay-cni']);
    ds = new EtcdDatastore({ endpoints: ctx.etcd.endpoints });
    await new ResourceStore(ds).apply(kubeControllersConfig());
    client = new KubeClient(loadKubeconfig(k.kube.writeKubeconfig('controllers', k.kube.tokens.controllers)));
  });
  after(async () => {
    await running?.stop();
    client?.close();
    await ds?.close();
  });

  it('margay-kube-controllers can list and watch everything it mirrors', async () => {
    running = startKubeControllers({ datastore: ds, client, identity: 'rbac', configPollMs: 1000 });
    await running.ready();
    const store = new ResourceStore(ds);
    k.kube.apply(namespace('rbac-ns', { a: 'b' }));
    k.kube.apply(networkPolicy('rbac-ns', 'np', { app: 'x' }, { app: 'y' }));
    await eventually(async () => assert.ok(await store.get(profileKind, 'kns.rbac-ns')), { timeoutMs: 30_000 });
    await eventually(async () => assert.ok(await store.get(networkPolicyKind, 'knp.default.np', 'rbac-ns')), { timeoutMs: 30_000 });
    await eventually(async () => assert.ok(await store.get(profileKind, 'ksa.rbac-ns.default')), { timeoutMs: 30_000 });
  });

  it('margay-kube-controllers may record a Warning event on a NetworkPolicy with a rule it cannot convert', async () => {
    k.kube.apply(halfConvertiblePolicy('rbac-ns', 'half'));
    await eventually(() => assert.match(policyEvents(k.kube, 'rbac-ns', 'half').join('\n'), /^RuleNotConverted: egress\[0\] cannot be converted/), { timeoutMs: 30_000 });
  });

  it('margay-cni can read a pod and its namespace and patch the pod, and nothing more', async () => {
    await k.kube.waitForServiceAccount('rbac-ns');
    k.kube.apply(pod('rbac-ns', 'p', 'node-1', { app: 'p' }));
    const access = loadKubeconfig(k.kube.writeKubeconfig('cni', k.kube.tokens.cni));
    const source = new PodInfoSource();
    try {
      const info = await source.podInfo(access, 'rbac-ns', 'p');
      assert.equal(info.labels.app, 'p');
      await source.writePodIps(access, 'rbac-ns', 'p', ['10.9.0.1/32'], 'ctr');
      const cni = source.client(access);
      await assert.rejects(cni.get('/api/v1/pods'), (err: Error) => hasCode(err, 'MARGAY_ERR_KUBE_API') && /forbidden/.test(err.message));
      await assert.rejects(cni.request('DELETE', '/api/v1/namespaces/rbac-ns/pods/p'), (err: Error) => hasCode(err, 'MARGAY_ERR_KUBE_API') && /forbidden/.test(err.message));
    } finally {
      source.close();
    }
  });
});
