/**
 * The Kubernetes controllers against a real kube-apiserver + kube-controller-manager and a real
 * etcd: every mapping (namespaces, service accounts, network policies, pod labels, node
 * deletion), drift repair, foreign resources left alone, IPAM GC with the pod oracle, and
 * KubeControllersConfiguration deciding which controllers run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubeControllersConfigurationKind } from '../../src/api/kinds/kube-controllers-configuration.ts';
import { networkPolicyKind } from '../../src/api/kinds/network-policy.ts';
import { nodeKind } from '../../src/api/kinds/node.ts';
import { profileKind } from '../../src/api/kinds/profile.ts';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import type { Resource } from '../../src/api/resource.ts';
import { validateResource } from '../../src/api/validate.ts';
import { EtcdDatastore, ResourceStore } from '../../src/datastore/mod.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { createLogger } from '../../src/log/mod.ts';
import { KubeClient, loadKubeconfig, startKubeControllers, type RunningKubeControllers } from '../../src/kube/mod.ts';
import { useEtcd } from '../harness/etcd.ts';
import { useKube } from '../harness/kube.ts';
import { eventually } from '../harness/wait.ts';
import { apply, node as calicoNode, pool } from '../ipam/helpers.ts';
import { kubeControllersConfig, kubectlOf, namespace, networkPolicy, pod, waitForServiceAccountOf, writeEndpointOf } from './helpers.ts';

describe('kube-controllers (real kube-apiserver, real etcd)', () => {
  const ctx = useEtcd();
  const k = useKube(() => ctx.etcd.endpoint);
  let ds: EtcdDatastore;
  let store: ResourceStore;
  let client: KubeClient;
  let running: RunningKubeControllers;
  const T = { timeoutMs: 60_000 }; // generous: the machine is shared

  before(async () => {
    ds = new EtcdDatastore({ endpoints: ctx.etcd.endpoints });
    store = new ResourceStore(ds);
    client = new KubeClient(loadKubeconfig(k.kube.kubeconfig));
    await store.apply(kubeControllersConfig());
    await apply(ds, pool('pods', '10.60.0.0/16'));
    // MARGAY_TEST_KUBE_LOG=FILE: the controllers' log lines (info) go to FILE, for a failure's diagnosis.
    const logFile = process.env.MARGAY_TEST_KUBE_LOG;
    const logger = logFile ? createLogger({ level: 'debug', component: 'kube-controllers', file: logFile }) : undefined;
    running = startKubeControllers({ datastore: ds, client, identity: 'test', configPollMs: 1000, gcIntervalMs: 1000, ...(logger ? { logger } : {}) });
    await running.ready();
  });
  after(async () => {
    await running?.stop();
    client?.close();
    await ds?.close();
  });

  // kubectl runs asynchronously: the controllers run in this process and must not be starved.
  const kubeApply = (manifest: string): Promise<string> => kubectlOf(k.kube, ['apply', '-f', '-'], manifest);
  const profile = (name: string) => store.get(profileKind, name);
  const labelsToApply = async (name: string) => ((await profile(name))?.spec as { labelsToApply?: Record<string, string> } | undefined)?.labelsToApply;

  it('mirrors namespaces, service accounts and network policies, and follows their changes and deletions', async () => {
    await kubeApply(namespace('shop', { team: 'a' }));
    await kubeApply(JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'shop', labels: { tier: 'x' } } }));
    await kubeApply(networkPolicy('shop', 'allow-web', { app: 'web' }, { app: 'client' }));
    await eventually(async () => assert.deepEqual(await labelsToApply('kns.shop'), { 'pcns.team': 'a', 'pcns.kubernetes.io/metadata.name': 'shop', 'pcns.projectcalico.org/name': 'shop' }), T);
    await eventually(async () => assert.deepEqual(await labelsToApply('ksa.shop.api'), { 'pcsa.tier': 'x', 'pcsa.projectcalico.org/name': 'api' }), T);
    await eventually(async () => assert.ok(await profile('ksa.shop.default'), 'the default service account, made by kube-controller-manager'), T);
    const np = (await eventually(async () => (await store.get(networkPolicyKind, 'knp.default.allow-web', 'shop')) ?? false, T)) as Resource;
    assert.equal((np.spec as { selector: string }).selector, "projectcalico.org/orchestrator == 'k8s' && app == 'web'");
    assert.equal((np.spec as { order: number }).order, 1000);
    assert.deepEqual(((np.spec as { ingress: { destination: { ports: number[] } }[] }).ingress[0]!.destination.ports), [80]);

    await kubectlOf(k.kube, ['label', 'namespace', 'shop', 'team=b', '--overwrite']);
    await kubeApply(networkPolicy('shop', 'allow-web', { app: 'web' }, { app: 'client' }, 8080));
    await eventually(async () => assert.equal((await labelsToApply('kns.shop'))?.['pcns.team'], 'b'), T);
    await eventually(async () => {
      const p = await store.get(networkPolicyKind, 'knp.default.allow-web', 'shop');
      assert.deepEqual((p?.spec as { ingress: { destination: { ports: number[] } }[] }).ingress[0]!.destination.ports, [8080]);
    }, T);

    await kubectlOf(k.kube, ['-n', 'shop', 'delete', 'networkpolicy', 'allow-web']);
    await kubectlOf(k.kube, ['delete', 'namespace', 'shop', '--wait=false']);
    await eventually(async () => assert.equal(await store.get(networkPolicyKind, 'knp.default.allow-web', 'shop'), undefined), T);
    await eventually(async () => assert.equal(await profile('kns.shop'), undefined), { timeoutMs: 60_000 });
    await eventually(async () => assert.equal(await profile('ksa.shop.api'), undefined), T);
  });

  it('repairs drift in what it owns and never touches what it does not', async () => {
    await kubeApply(namespace('drift'));
    await waitForServiceAccountOf(k.kube, 'drift');
    await kubeApply(networkPolicy('drift', 'p', { app: 'db' }, { app: 'api' }));
    await eventually(async () => (await store.get(networkPolicyKind, 'knp.default.p', 'drift')) ?? false, T);
    // Foreign resources: a user's profile and policy, a non-Kubernetes endpoint, a Node without orchRefs.
    const foreign = [
      validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: 'web-profile' }, spec: { labelsToApply: { a: 'b' } } }),
      validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'user-policy', namespace: 'drift' }, spec: { selector: 'all()', ingress: [{ action: 'Allow' }] } }),
      validateResource({
        apiVersion: 'projectcalico.org/v3',
        kind: 'WorkloadEndpoint',
        metadata: { name: 'h1-cni-abc-eth0', namespace: 'drift', labels: { app: 'vm' } },
        spec: { orchestrator: 'cni', node: 'h1', containerID: 'abc', endpoint: 'eth0', interfaceName: 'cali0123456789a', ipNetworks: ['10.60.9.9/32'] },
      }),
      validateResource(calicoNode('bare-metal-1')),
    ];
    const written = [];
    for (const f of foreign) written.push((await store.apply(f)).resource);
    // Drift: an owned profile deleted, an owned policy edited, owned resources with no Kubernetes object.
    await store.delete((await profile('kns.drift'))!);
    const p = (await store.get(networkPolicyKind, 'knp.default.p', 'drift'))!;
    await store.replace({ ...p, spec: { ...p.spec, order: 5, selector: 'all()' } });
    await store.apply(validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'knp.default.ghost', namespace: 'drift' }, spec: { selector: 'all()', ingress: [{ action: 'Allow' }] } }));
    await store.apply(validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name: 'kns.no-such-namespace' }, spec: {} }));

    await eventually(async () => assert.ok(await profile('kns.drift')), T);
    await eventually(async () => {
      const fixed = await store.get(networkPolicyKind, 'knp.default.p', 'drift');
      assert.equal((fixed?.spec as { order: number }).order, 1000);
      assert.equal((fixed?.spec as { selector: string }).selector, "projectcalico.org/orchestrator == 'k8s' && app == 'db'");
    }, T);
    await eventually(async () => assert.equal(await store.get(networkPolicyKind, 'knp.default.ghost', 'drift'), undefined), T);
    await eventually(async () => assert.equal(await profile('kns.no-such-namespace'), undefined), T);
    for (const w of written) {
      const kind = { Profile: profileKind, NetworkPolicy: networkPolicyKind, WorkloadEndpoint: workloadEndpointKind, Node: nodeKind }[w.kind]!;
      const now = await store.get(kind, w.metadata.name, w.metadata.namespace);
      assert.equal(now?.metadata.resourceVersion, w.metadata.resourceVersion, `${w.kind} ${w.metadata.name} untouched`);
    }
  });

  it("copies a pod's label changes onto its WorkloadEndpoint, and removes the endpoint of a deleted pod", async () => {
    await kubeApply(namespace('web'));
    await waitForServiceAccountOf(k.kube, 'web');
    await kubeApply(pod('web', 'front', 'node-a', { app: 'front' }));
    const wep = await writeEndpointOf(k.kube, store, 'web', 'front', ['10.60.0.7']);
    assert.equal(wep.metadata.labels?.app, 'front');
    await kubectlOf(k.kube, ['-n', 'web', 'label', 'pod', 'front', 'app=shop', 'version=2', '--overwrite']);
    await eventually(async () => {
      const now = await store.get(workloadEndpointKind, wep.metadata.name, 'web');
      assert.deepEqual(now?.metadata.labels, {
        app: 'shop',
        version: '2',
        'projectcalico.org/namespace': 'web',
        'projectcalico.org/orchestrator': 'k8s',
        'projectcalico.org/serviceaccount': 'default',
      });
      assert.deepEqual((now?.spec as { ipNetworks: string[] }).ipNetworks, ['10.60.0.7/32'], 'the rest of the endpoint is untouched');
    }, T);
    await kubectlOf(k.kube, ['-n', 'web', 'delete', 'pod', 'front', '--grace-period=0', '--force']);
    await eventually(async () => assert.equal(await store.get(workloadEndpointKind, wep.metadata.name, 'web'), undefined), T);
  });

  it('deletes the Node of a deleted Kubernetes node and releases its affinities and addresses; syncs its labels', async () => {
    await kubeApply(JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b', labels: { zone: 'z1' } } }));
    await store.apply(validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'node-b', labels: { mine: 'yes' } }, spec: { orchRefs: [{ orchestrator: 'k8s', nodeName: 'node-b' }] } }));
    const ipam = new Ipam(ds);
    const got = await ipam.autoAssign({ handle: 'k8s-pod-network.b1', node: 'node-b', num4: 1, attrs: { namespace: 'web', pod: 'on-b' } });
    assert.equal(got.ipv4.length, 1);
    await eventually(async () => {
      const n = await store.get(nodeKind, 'node-b');
      assert.equal(n?.metadata.labels?.zone, 'z1');
      assert.equal(n?.metadata.labels?.mine, 'yes', 'labels set by others stay');
    }, T);
    await kubectlOf(k.kube, ['label', 'node', 'node-b', 'zone-', 'rack=r7']);
    await eventually(async () => assert.deepEqual((await store.get(nodeKind, 'node-b'))?.metadata.labels, { mine: 'yes', rack: 'r7' }), T);

    await kubectlOf(k.kube, ['delete', 'node', 'node-b']);
    await eventually(async () => assert.equal(await store.get(nodeKind, 'node-b'), undefined), T);
    await eventually(async () => {
      const snap = await ipam.snapshot();
      assert.equal(snap.affinities.filter((a) => a.node === 'node-b').length, 0, 'no affinity left');
      assert.deepEqual(await ipam.ipsByHandle('k8s-pod-network.b1'), [], 'its address released');
    }, T);
    assert.ok(await store.get(nodeKind, 'bare-metal-1'), 'a Node that is not Kubernetes\' stays');
  });

  it('IPAM garbage collection asks the API whether the pod of an allocation still exists', async () => {
    await kubeApply(JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } }));
    await store.apply(validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'node-a' }, spec: { orchRefs: [{ orchestrator: 'k8s', nodeName: 'node-a' }] } }));
    await kubeApply(pod('web', 'alive', 'node-a', { app: 'alive' }));
    const ipam = new Ipam(ds);
    // Neither has a WorkloadEndpoint (an ADD in flight, or an agent that never wrote it): only the API can tell.
    await ipam.autoAssign({ handle: 'k8s-pod-network.alive', node: 'node-a', num4: 1, attrs: { namespace: 'web', pod: 'alive' } });
    await ipam.autoAssign({ handle: 'k8s-pod-network.gone', node: 'node-a', num4: 1, attrs: { namespace: 'web', pod: 'never-existed' } });
    await eventually(async () => assert.deepEqual(await ipam.ipsByHandle('k8s-pod-network.gone'), []), T);
    assert.equal((await ipam.ipsByHandle('k8s-pod-network.alive')).length, 1, 'the address of an existing pod stays');
  });

  it('runs only the controllers KubeControllersConfiguration enables, and follows its changes', async () => {
    await store.apply(kubeControllersConfig({ only: ['node', 'workloadEndpoint'] }));
    await eventually(() => assert.deepEqual(running.running().sort(), ['node', 'workloadEndpoint']), T);
    await running.ready();
    await kubeApply(namespace('late'));
    // The running controllers still work: a pod label change reaches its endpoint…
    await kubeApply(pod('web', 'probe', 'node-a', { v: '1' }));
    const wep = await writeEndpointOf(k.kube, store, 'web', 'probe');
    await kubectlOf(k.kube, ['-n', 'web', 'label', 'pod', 'probe', 'v=2', '--overwrite']);
    await eventually(async () => assert.equal((await store.get(workloadEndpointKind, wep.metadata.name, 'web'))?.metadata.labels?.v, '2'), T);
    // …while the namespace controller is off.
    assert.equal(await profile('kns.late'), undefined);
    await store.apply(kubeControllersConfig());
    await eventually(async () => assert.ok(await profile('kns.late')), T);
    const kcc = await store.get(kubeControllersConfigurationKind, 'default');
    assert.ok(kcc, 'the configuration itself is not touched');
  });
});
