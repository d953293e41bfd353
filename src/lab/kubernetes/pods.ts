/**
 * Pods of a Kubernetes lab come from the API server: `lab pod add` writes a Pod (and its
 * Namespace) with kubectl, the scheduler places it, the host's kubelet has containerd start it,
 * and Margay's CNI plugin networks it. The lab's view of its pods (`state.pods`, which probes,
 * `connectivity` and `status` use) is then read back from the API: every Running pod with an
 * address, serving the container ports it declares.
 *
 * Probes run inside a pod's network namespace, which containerd made inside the host's mount
 * namespace. The lab finds a process of the pod through the pod's cgroup (below the host's cgroup
 * root) and names its namespace `mgl-pod-<ns>-<name>` with `ip netns attach`, so `lab exec`,
 * `lab probe` and `connectivity` reach it like any lab pod; `lab down` removes the names.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../os/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { podNetns } from '../plan.ts';
import { formatPortSpec, type PortSpec } from '../serve.ts';
import type { LabPod, LabState } from '../state.ts';
import { cgroupMounts } from './cgroups.ts';
import { kubectl, kubectlApply, kubectlJson, labKubeconfig } from './kubectl.ts';
import { cgroupRootOf, IMAGES } from './paths.ts';

/** What `lab pod add` asks for. */
export interface KubePodOptions {
  namespace: string;
  name: string;
  /** Pin it to this node (a nodeSelector: the scheduler still places it); any node when absent. */
  host?: string;
  labels: Record<string, string>;
  serve: PortSpec[];
}

/** The named container port of a served port: `serve-80-tcp`, as Kubernetes' network policy tests name them. */
export function portName(port: PortSpec): string {
  return `serve-${port.port}-${port.protocol}`;
}

/** A v1 Namespace as the lab makes it: with the name label Kubernetes ≥ 1.21 adds by itself (1.20 does not). */
export function namespaceManifest(name: string, labels: Record<string, string> = {}): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } };
}

/** The Pod `lab pod add` creates: the lab's busybox image running `serve` on the given ports. */
export function podManifest(options: KubePodOptions): object {
  const ports = options.serve.map((p) => ({ name: portName(p), containerPort: p.port, protocol: p.protocol.toUpperCase() }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: options.name, namespace: options.namespace, labels: options.labels },
    spec: {
      ...(options.host ? { nodeSelector: { 'kubernetes.io/hostname': options.host } } : {}),
      terminationGracePeriodSeconds: 2,
      containers: [{
        name: 'serve',
        image: IMAGES.busybox,
        imagePullPolicy: 'Never',
        command: options.serve.length > 0 ? ['/bin/serve', `${options.namespace}/${options.name}`, options.serve.map(formatPortSpec).join(',')] : ['/bin/sleep', '1000000000'],
        ports,
      }],
    },
  };
}

/** The parts of a v1 Pod the lab reads. */
export interface ApiPod {
  metadata: { name: string; namespace: string; uid: string; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: { nodeName?: string; hostNetwork?: boolean; containers: { ports?: { containerPort: number; protocol?: string }[] }[] };
  status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
}

/** A folder named `pod<uid>` below `dir` (the pod's cgroup), or undefined. */
function findPodCgroup(dir: string, uid: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    if (entry.name === `pod${uid}`) return join(dir, entry.name);
    const found = findPodCgroup(join(dir, entry.name), uid);
    if (found) return found;
  }
  return undefined;
}

/** A process of the pod (any container: they share the pod's network namespace), or undefined. */
export function podProcess(host: string, uid: string): number | undefined {
  const pids = cgroupMounts().find((m) => m.endsWith('/pids')) ?? cgroupMounts()[0];
  if (!pids) return undefined;
  const cgroup = findPodCgroup(join(pids, cgroupRootOf(host)), uid);
  if (!cgroup) return undefined;
  const stack = [cgroup];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const first = readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').find(Boolean);
    if (first) return Number(first);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) stack.push(join(dir, e.name));
  }
  return undefined;
}

function inode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** Names the pod's network namespace `name` (again, when the pod's sandbox changed). */
async function attachNetns(name: string, pid: number): Promise<void> {
  const target = inode(`/proc/${pid}/ns/net`);
  const current = inode(`/var/run/netns/${name}`);
  if (target !== undefined && current === target) return;
  if (current !== undefined) await exec('ip', ['netns', 'delete', name], { allowFail: true });
  await exec('ip', ['netns', 'attach', name, String(pid)]);
}

/** The ports a pod serves: its containers' declared ports. */
function servedPorts(pod: ApiPod): string[] {
  return pod.spec.containers.flatMap((c) => c.ports ?? []).map((p) => `${p.containerPort}/${(p.protocol ?? 'TCP').toLowerCase()}`);
}

/** The lab's view of one Running pod, its namespace named; undefined when it is not reachable yet. */
async function labPodOf(pod: ApiPod): Promise<LabPod | undefined> {
  const { metadata: m, spec, status } = pod;
  if (status?.phase !== 'Running' || !status.podIP || !spec.nodeName || spec.hostNetwork || m.deletionTimestamp) return undefined;
  const pid = podProcess(spec.nodeName, m.uid);
  if (pid === undefined) return undefined;
  const netns = podNetns(m.namespace, m.name);
  await attachNetns(netns, pid);
  return {
    namespace: m.namespace,
    name: m.name,
    host: spec.nodeName,
    netns,
    containerId: m.uid,
    addresses: (status.podIPs ?? [{ ip: status.podIP }]).map((p) => p.ip),
    labels: m.labels ?? {},
    serve: servedPorts(pod),
  };
}

/** Every Running pod of the lab's API server (not host-network ones), with its namespace named. */
export async function listKubePods(state: LabState): Promise<LabPod[]> {
  const list = await kubectlJson<{ items: ApiPod[] }>(labKubeconfig(state), ['get', 'pods', '--all-namespaces']);
  const pods: LabPod[] = [];
  for (const pod of list.items) {
    const lab = await labPodOf(pod);
    if (lab) pods.push(lab);
  }
  return pods.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** Creates the namespace (when missing) and the pod through the API. */
export async function createKubePod(state: LabState, options: KubePodOptions): Promise<void> {
  const kubeconfig = labKubeconfig(state);
  const exists = await kubectl(kubeconfig, ['get', 'pod', '-n', options.namespace, options.name], { allowFail: true });
  if (exists.code === 0) throw new MargayError('MARGAY_ERR_ALREADY_EXISTS', `pod ${options.namespace}/${options.name} already exists`);
  const ns = await kubectl(kubeconfig, ['get', 'namespace', options.namespace], { allowFail: true });
  await kubectlApply(kubeconfig, [...(ns.code === 0 ? [] : [namespaceManifest(options.namespace)]), podManifest(options)]);
}

/** Reads one pod from the API; undefined when it does not exist. */
export async function getKubePod(state: LabState, namespace: string, name: string): Promise<ApiPod | undefined> {
  const res = await kubectl(labKubeconfig(state), ['get', 'pod', '-n', namespace, name, '-o', 'json'], { allowFail: true });
  return res.code === 0 ? (JSON.parse(res.stdout) as ApiPod) : undefined;
}

/** The lab pod once it is Running with an address and its namespace named; undefined before. */
export async function runningKubePod(state: LabState, namespace: string, name: string): Promise<LabPod | undefined> {
  const pod = await getKubePod(state, namespace, name);
  return pod ? labPodOf(pod) : undefined;
}

/** Deletes a pod through the API and waits until it is gone (kubelet stopped it, CNI DEL ran). */
export async function deleteKubePod(state: LabState, namespace: string, name: string, timeoutMs = 60_000): Promise<void> {
  await kubectl(labKubeconfig(state), ['delete', 'pod', '-n', namespace, name, '--wait=true', `--timeout=${Math.round(timeoutMs / 1000)}s`], { timeoutMs: timeoutMs + 10_000 });
  await exec('ip', ['netns', 'delete', podNetns(namespace, name)], { allowFail: true });
}
