/**
 * Acceptance (issue 15): the life of pods in a 3-host Kubernetes lab, driven by kubectl and by
 * failures. After each step the dataplane, etcd and IPAM agree with the API server: a deleted pod's
 * endpoint is gone and its address released, nothing leaks when a kubelet restarts, when a pod is
 * deleted while its host's agent is down, or when a node is deleted; `lab down` leaves nothing, also
 * after a killed `lab up`.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { profileKind } from '../../src/api/kinds/profile.ts';
import { cgroupMounts } from '../../src/lab/kubernetes/cgroups.ts';
import { mountPoints } from '../../src/lab/kubernetes/host-mounts.ts';
import { kubectlApply } from '../../src/lab/kubernetes/kubectl.ts';
import { namespaceManifest, podManifest } from '../../src/lab/kubernetes/pods.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { failHost, recoverHost, restartAgent, restartKubelet } from '../../src/lab/hosts.ts';
import { labDown, labUp, probe, withStore } from '../../src/lab/lab.ts';
import { isRunning, stopProcess } from '../../src/lab/processes.ts';
import { readState } from '../../src/lab/state.ts';
import { eventually } from '../harness/wait.ts';
import { assertNoLeak, audit, endpointOf, kubeconfigOf, kubeLabContext, kubeState, labKubectl, waitPodsUp } from './kube-lab.ts';
import { parseServeList } from '../../src/lab/serve.ts';
import { killedLabUp } from './killed-lab-up.ts';

const ctx = kubeLabContext('margay-lab-kube-');
const SERVE = parseServeList('80/tcp');
const TCP80 = { port: 80, protocol: 'tcp' as const };

/** Creates pods `ns/name` on hosts with kubectl (one apply) and waits until they run and are routed. */
async function runPods(pods: [string, string][]): Promise<void> {
  const objects = pods.map(([key, host]) => {
    const [namespace, name] = key.split('/') as [string, string];
    return podManifest({ namespace, name, host, labels: { app: name }, serve: SERVE });
  });
  const namespaces = [...new Set(pods.map(([key]) => key.split('/')[0]!))].map((ns) => namespaceManifest(ns));
  await kubectlApply(kubeconfigOf(ctx), [...namespaces, ...objects]);
  await waitPodsUp(ctx, pods.map(([key]) => key));
}

async function podExists(key: string): Promise<boolean> {
  const [ns, name] = key.split('/') as [string, string];
  const out = await labKubectl(ctx, ['get', 'pods', '-n', ns, '--field-selector', `metadata.name=${name}`, '-o', 'name']);
  return out.trim() !== '';
}

/** A pod's address from the lab's view. */
async function addressOf(key: string): Promise<string> {
  const pod = (await kubeState(ctx)).pods.find((p) => `${p.namespace}/${p.name}` === key);
  assert.ok(pod, `${key} runs`);
  return pod.addresses[0]!;
}

async function netnsOf(key: string): Promise<string> {
  return (await kubeState(ctx)).pods.find((p) => `${p.namespace}/${p.name}` === key)!.netns;
}

/** Waits until `key` is gone from the API, from etcd's endpoints, and IPAM holds nothing leaked. */
async function expectGone(key: string, timeoutMs = 90_000): Promise<void> {
  await eventually(async () => !(await podExists(key)), { what: `${key} gone from the API`, timeoutMs, intervalMs: 500 });
  await eventually(async () => endpointOf(await audit(ctx), key) === undefined, { what: `the endpoint of ${key} removed`, timeoutMs: 30_000, intervalMs: 250 });
  assertNoLeak(await audit(ctx), `after ${key} went`);
}

describe('lab --kubernetes - pods from kubectl, failures, and nothing left behind', () => {
  before(async () => {
    await labUp({ hosts: 3, router: false, ipv6: false, kubernetes: true }, ctx);
    await runPods([['life/p1', 'host-1'], ['life/p2', 'host-2'], ['life/p3', 'host-3'], ['gone/g1', 'host-2'], ['gone/g2', 'host-3']]);
  });
  after(async () => {
    await labDown(ctx);
  });

  it('pods created with kubectl get an endpoint each, reach each other across hosts, and IPAM holds one address each', async () => {
    const a = await audit(ctx);
    assert.equal(a.endpoints.length, 5);
    assertNoLeak(a, 'after start');
    assert.equal((await probe(await netnsOf('life/p1'), await addressOf('life/p3'), TCP80)).ok, true, 'p1 (host-1) reaches p3 (host-3)');
  });

  it('kubectl delete pod: the endpoint goes, the address is released, the pod is unreachable', async () => {
    const address = await addressOf('life/p2');
    await labKubectl(ctx, ['delete', 'pod', '-n', 'life', 'p2', '--wait=true']);
    await expectGone('life/p2');
    assert.equal((await probe(await netnsOf('life/p1'), address, TCP80, 500)).ok, false, 'nothing answers at the old address');
  });

  it('kubectl delete namespace: its pods, endpoints, addresses and Profile go', async () => {
    await labKubectl(ctx, ['delete', 'namespace', 'gone', '--wait=false']);
    await eventually(async () => !(await labKubectl(ctx, ['get', 'namespaces', '-o', 'name'])).includes('namespace/gone'), { what: 'namespace gone finalized', timeoutMs: 180_000, intervalMs: 1000 });
    await expectGone('gone/g1');
    await expectGone('gone/g2');
    await eventually(
      async () => (await withStore(readState(ctx.dir)!, (store) => store.get(profileKind, 'kns.gone'))) === undefined,
      { what: 'Profile kns.gone removed', timeoutMs: 30_000, intervalMs: 250 },
    );
  });

  it('a kubelet killed and restarted: its pods keep running with the same address, a new pod starts, nothing leaks', async () => {
    const before = await addressOf('life/p1');
    await restartKubelet(ctx, 'host-1', { kill: true });
    assert.equal(await addressOf('life/p1'), before, 'same address after the restart');
    assert.equal((await probe(await netnsOf('life/p3'), before, TCP80)).ok, true, 'p1 still answers');
    await runPods([['life/p4', 'host-1']]);
    const a = await audit(ctx);
    assert.equal(a.endpoints.filter((e) => (e.spec as { pod?: string }).pod === 'p1').length, 1, 'one endpoint for p1, not a second sandbox');
    assertNoLeak(a, 'after the kubelet restart');
  });

  it('a pod deleted while its host\'s agent is down: it waits (Terminating), then goes once the agent is back, nothing leaks', async () => {
    const state = readState(ctx.dir)!;
    const agent = state.processes.find((p) => p.role === 'agent host-1')!;
    process.kill(agent.pid, 'SIGKILL');
    await stopProcess(agent, 5000);
    await labKubectl(ctx, ['delete', 'pod', '-n', 'life', 'p4', '--wait=false']);
    // The CNI DEL cannot reach the agent: kubelet keeps the sandbox and retries; the pod stays.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    assert.equal(await podExists('life/p4'), true, 'the pod waits for its network to be torn down');
    assert.ok(endpointOf(await audit(ctx), 'life/p4'), 'its endpoint is still there');
    await restartAgent(ctx, 'host-1', { kill: false });
    await expectGone('life/p4', 120_000);
  });

  it('a node deleted (its host failed): its pods, endpoints, node and addresses go; the host comes back as a fresh node', async () => {
    await failHost(ctx, 'host-3');
    await labKubectl(ctx, ['delete', 'node', 'host-3']);
    // kube-controller-manager's pod GC deletes the pods of a node that is gone (after 40 s of quarantine).
    await expectGone('life/p3', 150_000);
    await eventually(async () => !(await audit(ctx)).nodes.includes('host-3'), { what: 'Margay Node host-3 removed', timeoutMs: 60_000, intervalMs: 500 });
    const a = await audit(ctx);
    assert.equal(a.endpoints.filter((e) => (e.spec as { node?: string }).node === 'host-3').length, 0, 'no endpoint left on host-3');
    assertNoLeak(a, 'after the node deletion');
    await recoverHost(ctx, 'host-3');
    await runPods([['life/p5', 'host-3']]);
    assert.equal((await probe(await netnsOf('life/p1'), await addressOf('life/p5'), TCP80)).ok, true, 'a new pod on the recovered host is reachable');
    assertNoLeak(await audit(ctx), 'after the host came back');
  });

  it('lab down removes every process, namespace, mount and cgroup', async () => {
    const state = readState(ctx.dir)!;
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
    for (const p of state.processes) assert.equal(isRunning(p), false, `${p.role} stopped`);
    assert.deepEqual(mountPoints().filter((m) => m.includes(ctx.dir)), [], 'no mount left in the lab folder');
    for (const m of cgroupMounts()) assert.equal(existsSync(`${m}/margay-lab`), false, `no cgroup left in ${m}`);
    assert.equal(existsSync(ctx.dir), false);
  });
});

describe('lab --kubernetes - a killed lab up', () => {
  it('down after lab up --kubernetes was killed once kubelets started leaves nothing', async () => {
    const state = await killedLabUp(ctx.dir, ['--hosts', '2', '--kubernetes'], 'starting containerd and kubelet on host-2');
    await labDown(ctx);
    assert.deepEqual(await listLabNetns(), []);
    for (const p of state.processes) assert.equal(isRunning(p), false, `${p.role} stopped`);
    assert.deepEqual(mountPoints().filter((m) => m.includes(ctx.dir)), [], 'no mount left');
    for (const m of cgroupMounts()) assert.equal(existsSync(`${m}/margay-lab`), false, `no cgroup left in ${m}`);
    // Nor a command the killed CLI had started (a `ctr images import` once waited on for ever).
    await eventually(() => processesNaming(ctx.dir).length === 0, { what: `no process naming ${ctx.dir}: ${processesNaming(ctx.dir).join('; ')}`, timeoutMs: 5000 });
  });
});

/** Processes whose command line mentions `text` (pid and command line). */
function processesNaming(text: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue; // gone meanwhile
    }
    if (cmdline.includes(text) && Number(pid) !== process.pid) out.push(`${pid} ${cmdline.trim()}`);
  }
  return out;
}
