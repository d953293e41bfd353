/**
 * The `margay` plugin with the Kubernetes API, driven by a real CNI runtime library (cnitool on
 * libcni, CNI_ARGS carrying K8S_POD_NAMESPACE/K8S_POD_NAME as the kubelet's runtimes pass them),
 * against a real kube-apiserver on the bed's etcd: the pod's labels, named ports, profiles and
 * service account on its endpoint; Calico's address annotations; the pod IP written back; a pod
 * that does not exist and an API that cannot be reached fail clearly and leave nothing allocated.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { freePorts } from '../harness/ports.ts';
import { startKube, type KubeHandle } from '../harness/kube.ts';
import type { TestNetns } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { CLIENT, runPlugin } from './binary.ts';
import { ensureCnitool, NODE, startBed, type Bed } from './bed.ts';
import { namespace, pod } from '../kube/helpers.ts';

let bed: Bed;
let kube: KubeHandle;
let cnitool: string;
const conflists = new Map<string, string>();
const esc = (s: string): string => s.replaceAll('-', '--');

before(async () => {
  cnitool = ensureCnitool();
  bed = await startBed({
    pools: [
      { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'pool-v4' }, spec: { cidr: '10.244.0.0/16', blockSize: 26 } },
      { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'special' }, spec: { cidr: '10.245.0.0/24', blockSize: 26 } },
    ],
  });
  kube = await startKube({ etcdEndpoint: bed.etcd.endpoint });
  const [unused] = await freePorts(1);
  const network = (name: string, plugins: Record<string, unknown>[]): void => void conflists.set(name, bed.network(name, plugins));
  network('k8snet', [{ type: 'margay', kubernetes: { kubeconfig: kube.kubeconfig }, policy: { type: 'k8s' }, feature_control: { ip_addrs_no_ipam: true } }]);
  network('k8sroot', [{ type: 'margay', kubernetes: { k8s_api_root: kube.server }, policy: { type: 'k8s', k8s_auth_token: kube.tokens.admin, k8s_certificate_authority: kube.caFile } }]);
  network('k8sdown', [{ type: 'margay', kubernetes: { k8s_api_root: `https://127.0.0.1:${unused}` }, policy: { type: 'k8s', k8s_auth_token: 'x' } }]);
  kube.apply(namespace('shop'));
  kube.apply(JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pools', annotations: { 'cni.projectcalico.org/ipv4pools': '["special"]' } } }));
  await kube.waitForServiceAccount('shop');
  await kube.waitForServiceAccount('pools');
  kube.apply(JSON.stringify({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'api', namespace: 'shop' } }));
});

after(async () => {
  await kube?.destroy();
  await bed?.close();
});

interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

function tool(cmd: 'add' | 'del', net: string, ns: TestNetns, containerId: string, podNs: string, podName: string): Promise<ToolRun> {
  const env = {
    PATH: process.env.PATH ?? '',
    NETCONFPATH: bed.netconfDir,
    CNI_PATH: bed.cniPath,
    CNI_CACHE_DIR: join(bed.dir, 'cache'),
    CNI_CONTAINERID: containerId,
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${podNs};K8S_POD_NAME=${podName};K8S_POD_INFRA_CONTAINER_ID=${containerId}`,
  };
  return new Promise((resolve) => {
    execFile('nsenter', [`--net=/run/netns/${bed.host.name}`, cnitool, cmd, net, `/run/netns/${ns.name}`], { env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function add(net: string, c: TestNetns, containerId: string, podNs: string, podName: string): Promise<string> {
  const r = await tool('add', net, c, containerId, podNs, podName);
  assert.equal(r.code, 0, `cnitool add failed: ${r.stderr}${r.stdout}`);
  return (JSON.parse(r.stdout) as { ips: { address: string }[] }).ips[0]!.address;
}

function annotations(ns: string, name: string): Record<string, string> {
  return (JSON.parse(kube.kubectl(['-n', ns, 'get', 'pod', name, '-o', 'json'])) as { metadata: { annotations?: Record<string, string> } }).metadata.annotations ?? {};
}

/** The plugin binary run directly (as libcni would), to read the CNI error object it prints. */
async function addDirect(net: string, c: TestNetns, containerId: string, podNs: string, podName: string): Promise<{ code: number; msg: string }> {
  const list = JSON.parse(conflists.get(net)!) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
  const conf = { cniVersion: list.cniVersion, name: list.name, ...list.plugins[0] };
  const r = await runPlugin(CLIENT, {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: containerId,
    CNI_NETNS: `/run/netns/${c.name}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: bed.cniPath,
    CNI_ARGS: `K8S_POD_NAMESPACE=${podNs};K8S_POD_NAME=${podName}`,
  }, JSON.stringify(conf));
  assert.notEqual(r.code, 0, 'the ADD fails');
  return r.json as { code: number; msg: string };
}

/** Nothing of an ADD that failed is left: no endpoint, no address for its handle, no host veth. */
async function nothingLeft(net: string, containerId: string, podNs: string, podName: string): Promise<void> {
  assert.equal(await bed.store.get(workloadEndpointKind, `${esc(NODE)}-k8s-${esc(podName)}-eth0`, podNs), undefined);
  assert.deepEqual(await bed.ipam.ipsByHandle(`${net}.${containerId}`), []);
  assert.deepEqual(await bed.hostVeths(), []);
}

describe('CNI with the Kubernetes API', () => {
  it("ADD takes the pod's labels, named ports, profiles and service account, and writes its address back; DEL clears it", async () => {
    kube.apply(pod('shop', 'web', NODE, { app: 'web', tier: 'front' }, { spec: { serviceAccountName: 'api' } }));
    const c = await bed.container();
    const address = await add('k8snet', c, 'ctr-web', 'shop', 'web');
    const wep = await bed.store.get(workloadEndpointKind, `${esc(NODE)}-k8s-web-eth0`, 'shop');
    assert.ok(wep, 'the endpoint is named <node>-k8s-<pod>-<endpoint>, in the pod\'s namespace');
    assert.deepEqual(wep.metadata.labels, {
      app: 'web',
      tier: 'front',
      'projectcalico.org/namespace': 'shop',
      'projectcalico.org/orchestrator': 'k8s',
      'projectcalico.org/serviceaccount': 'api',
    });
    const spec = wep.spec as { profiles: string[]; ports: unknown[]; serviceAccountName: string; orchestrator: string; pod: string; ipNetworks: string[] };
    assert.deepEqual(spec.profiles, ['kns.shop', 'ksa.shop.api']);
    assert.deepEqual(spec.ports, [
      { name: 'serve-80-tcp', protocol: 'TCP', port: 80 },
      { name: 'serve-81-udp', protocol: 'UDP', port: 81 },
    ]);
    assert.equal(spec.serviceAccountName, 'api');
    assert.deepEqual([spec.orchestrator, spec.pod, spec.ipNetworks], ['k8s', 'web', [address]]);
    const written = annotations('shop', 'web');
    assert.equal(written['cni.projectcalico.org/podIP'], address);
    assert.equal(written['cni.projectcalico.org/podIPs'], address);
    assert.equal(written['cni.projectcalico.org/containerID'], 'ctr-web');

    const del = await tool('del', 'k8snet', c, 'ctr-web', 'shop', 'web');
    assert.equal(del.code, 0, del.stderr);
    await eventually(() => assert.equal(annotations('shop', 'web')['cni.projectcalico.org/podIP'], ''));
    await nothingLeft('k8snet', 'ctr-web', 'shop', 'web');
  });

  it('the same pod again on the same host (deleted, then made again under its name) gets its network again', async () => {
    // Its host veth has the same name as before: the resident ip must not use the old one's index.
    const c = await bed.container();
    const address = await add('k8snet', c, 'ctr-web-2', 'shop', 'web');
    assert.equal(annotations('shop', 'web')['cni.projectcalico.org/containerID'], 'ctr-web-2');
    assert.equal((await tool('del', 'k8snet', c, 'ctr-web-2', 'shop', 'web')).code, 0);
    assert.match(address, /^10\.244\./);
    await nothingLeft('k8snet', 'ctr-web-2', 'shop', 'web');
  });

  it("Calico's annotations choose the addresses: ipv4pools (the pod's, else the namespace's), ipAddrs, ipAddrsNoIpam", async () => {
    kube.apply(pod('pools', 'from-ns', NODE, { a: '1' }));
    kube.apply(pod('pools', 'own-pool', NODE, { a: '1' }, { annotations: { 'cni.projectcalico.org/ipv4pools': '["pool-v4"]' } }));
    kube.apply(pod('shop', 'fixed', NODE, { a: '1' }, { annotations: { 'cni.projectcalico.org/ipAddrs': '["10.244.77.7"]' } }));
    kube.apply(pod('shop', 'no-ipam', NODE, { a: '1' }, { annotations: { 'cni.projectcalico.org/ipAddrsNoIpam': '["10.250.0.9"]' } }));
    const runs: [string, string, string, (a: string) => void][] = [
      ['pools', 'from-ns', 'c-ns', (a) => assert.match(a, /^10\.245\.0\.\d+\/32$/, 'the namespace\'s pool')],
      ['pools', 'own-pool', 'c-own', (a) => assert.match(a, /^10\.244\.\d+\.\d+\/32$/, 'the pod\'s annotation wins')],
      ['shop', 'fixed', 'c-fixed', (a) => assert.equal(a, '10.244.77.7/32')],
      ['shop', 'no-ipam', 'c-noipam', (a) => assert.equal(a, '10.250.0.9/32')],
    ];
    for (const [ns, name, cid, check] of runs) {
      const c = await bed.container();
      const address = await add('k8snet', c, cid, ns, name);
      check(address);
      if (name === 'no-ipam') assert.deepEqual(await bed.ipam.ipsByHandle(`k8snet.${cid}`), [], 'nothing allocated in IPAM');
      else assert.deepEqual(await bed.ipam.ipsByHandle(`k8snet.${cid}`), [address.replace('/32', '')]);
      const del = await tool('del', 'k8snet', c, cid, ns, name);
      assert.equal(del.code, 0, del.stderr);
    }
  });

  it("Calico's older keys work too: k8s_api_root with a token and a CA", async () => {
    kube.apply(pod('shop', 'legacy', NODE, { app: 'legacy' }));
    const c = await bed.container();
    await add('k8sroot', c, 'ctr-legacy', 'shop', 'legacy');
    const wep = await bed.store.get(workloadEndpointKind, `${esc(NODE)}-k8s-legacy-eth0`, 'shop');
    assert.equal(wep?.metadata.labels?.app, 'legacy');
    assert.deepEqual((wep?.spec as { profiles: string[] }).profiles, ['kns.shop', 'ksa.shop.default']);
    assert.equal((await tool('del', 'k8sroot', c, 'ctr-legacy', 'shop', 'legacy')).code, 0);
  });

  it('a pod that does not exist: a clear error (code 3) and nothing allocated', async () => {
    const c = await bed.container();
    const r = await tool('add', 'k8snet', c, 'ctr-ghost', 'shop', 'ghost');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /pod shop\/ghost does not exist in the Kubernetes API/, 'libcni passes the message on');
    await nothingLeft('k8snet', 'ctr-ghost', 'shop', 'ghost');
    const err = await addDirect('k8snet', c, 'ctr-ghost', 'shop', 'ghost');
    assert.equal(err.code, 3);
    assert.match(err.msg, /pod shop\/ghost does not exist in the Kubernetes API/);
    await nothingLeft('k8snet', 'ctr-ghost', 'shop', 'ghost');
  });

  it('an API server that cannot be reached: a clear error (code 11, try again later) and nothing allocated', async () => {
    const c = await bed.container();
    const err = await addDirect('k8sdown', c, 'ctr-down', 'shop', 'api-down');
    assert.equal(err.code, 11);
    assert.match(err.msg, /cannot read pod shop\/api-down: the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+ cannot be reached/);
    await nothingLeft('k8sdown', 'ctr-down', 'shop', 'api-down');
  });
});
