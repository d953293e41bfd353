/**
 * `lab up --kubernetes`, the Kubernetes half: after etcd, the fabric, the hosts and their agents,
 * it builds the control-plane namespace, the credentials and kubeconfigs, starts the API server
 * (and the operator's forwarder), the controller manager and the scheduler, turns every host into
 * a node (containerd with the lab's images, kubelet), waits until every node is Ready, and only
 * then starts `margay kube-controllers`. Every process is recorded in the lab state as it starts.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildControlPlane } from '../fabric.ts';
import { MargayError } from '../../errors/mod.ts';
import type { LabHost } from '../plan.ts';
import type { ProcessRecord } from '../processes.ts';
import { type LabState, writeState } from '../state.ts';
import { pollUntil } from '../poll.ts';
import { createCgroup } from './cgroups.ts';
import { apiAddress, type ControlPlaneOptions, firstServiceIp, startApiServer, startControllerManager, startForwarder, startScheduler, waitApiReady } from './control-plane.ts';
import { createHostMountNs } from './host-mounts.ts';
import { buildLabImages, importImages } from './images.ts';
import { startKubeControllers, waitKubeControllersSynced } from './kube-controllers.ts';
import { kubectlJson } from './kubectl.ts';
import { startContainerd, startKubelet, writeCniBinDir, writeNodeConfig } from './node.ts';
import { cgroupRootOf, hostPaths, kubeDir, operatorKubeconfig } from './paths.ts';
import { identity, type Pki, writeKubeconfig, writePki } from './pki.ts';
import { applyMargayRbac, MARGAY_ACCOUNTS, serviceAccountToken } from './rbac.ts';

/** The lab's KubeControllersConfiguration: short reconciler periods and leak grace, so failures are repaired within a test's patience. */
export function labKubeControllersConfiguration(): object {
  const quick = { reconcilerPeriod: '15s' };
  return {
    kind: 'KubeControllersConfiguration',
    metadata: { name: 'default' },
    spec: { controllers: { node: { ...quick, leakGracePeriod: '1m', syncLabels: 'Enabled' }, workloadEndpoint: quick, policy: quick, namespace: quick, serviceAccount: quick } },
  };
}

/** Where the lab is and how it reports progress (the same shape as the lab's context). */
export interface KubeUpContext {
  dir: string;
  progress: (line: string) => void;
}

/** How long the API server may take to be ready, and every node to be Ready. */
const API_READY_MS = 90_000;
const NODES_READY_MS = 120_000;

/**
 * Prepares a host for Kubernetes before its agent starts: its cgroup root and its mount namespace
 * (the agent must live in it too, to open the pod network namespaces containerd makes there).
 */
export async function prepareKubeHost(labDir: string, host: LabHost): Promise<void> {
  const paths = hostPaths(labDir, host.name);
  createCgroup(cgroupRootOf(host.name));
  await createHostMountNs({ labDir, file: paths.mountNs, varLog: paths.varLog, sysctlDir: paths.sysctlDir });
}

function record(ctx: KubeUpContext, state: LabState, ...records: ProcessRecord[]): void {
  state.processes.push(...records);
  writeState(ctx.dir, state);
}

/** The API server as components on the fabric reach it. */
function fabricServer(state: LabState): string {
  return `https://${apiAddress(state.plan)}:${state.plan.kubernetes!.apiPort}`;
}

/** Writes the kubeconfigs of the controller manager, the scheduler and every kubelet (static tokens). */
function writeComponentKubeconfigs(labDir: string, state: LabState, pki: Pki): Record<string, string> {
  const dir = kubeDir(labDir);
  const server = fabricServer(state);
  const files: Record<string, string> = {};
  for (const id of ['controller-manager', 'scheduler']) {
    files[id] = join(dir, `${id}.kubeconfig`);
    writeKubeconfig(files[id], { server, caCert: pki.caCert, who: identity(pki, id) });
  }
  for (const host of state.plan.hosts) {
    const paths = hostPaths(labDir, host.name);
    mkdirSync(paths.root, { recursive: true });
    writeKubeconfig(paths.kubeletKubeconfig, { server, caCert: pki.caCert, who: identity(pki, `node-${host.name}`) });
  }
  return files;
}

/**
 * Applies Margay's RBAC manifest and writes the kubeconfigs of `margay kube-controllers` and of
 * every host's CNI configuration with the ServiceAccounts' tokens; returns the controllers' one.
 */
async function writeMargayKubeconfigs(labDir: string, state: LabState, pki: Pki): Promise<string> {
  const admin = state.kubernetes!.kubeconfig;
  await applyMargayRbac(admin);
  const server = fabricServer(state);
  const controllers = join(kubeDir(labDir), 'kube-controllers.kubeconfig');
  const token = (account: string) => serviceAccountToken(admin, account, API_READY_MS);
  writeKubeconfig(controllers, { server, caCert: pki.caCert, who: { user: MARGAY_ACCOUNTS.kubeControllers, token: await token(MARGAY_ACCOUNTS.kubeControllers) } });
  const cni = { server, caCert: pki.caCert, who: { user: MARGAY_ACCOUNTS.cni, token: await token(MARGAY_ACCOUNTS.cni) } };
  for (const host of state.plan.hosts) writeKubeconfig(hostPaths(labDir, host.name).cniKubeconfig, cni);
  return controllers;
}

/** Starts the control plane and returns the operator's kubeconfig once the API server is ready. */
async function startControlPlane(ctx: KubeUpContext, state: LabState): Promise<Pki> {
  const plan = state.plan;
  const dir = kubeDir(ctx.dir);
  ctx.progress(`building the control-plane namespace (${plan.kubernetes!.netns}, ${plan.kubernetes!.address} on the fabric)`);
  await buildControlPlane(plan);
  const pki = await writePki({ dir: join(dir, 'pki'), hosts: plan.hosts.map((h) => h.name), ips: [apiAddress(plan), '127.0.0.1', firstServiceIp(plan)] });
  const kubeconfigs = writeComponentKubeconfigs(ctx.dir, state, pki);
  const options: ControlPlaneOptions = { plan, dir, pki, etcdEndpoint: state.etcdEndpoint };
  ctx.progress('starting kube-apiserver (etcd prefix /registry on the lab\'s etcd)');
  const api = startApiServer(options);
  record(ctx, state, api);
  const forward = await startForwarder(options);
  record(ctx, state, forward.record);
  const server = `https://127.0.0.1:${forward.port}`;
  const admin = identity(pki, 'admin');
  writeKubeconfig(operatorKubeconfig(ctx.dir), { server, caCert: pki.caCert, who: admin });
  state.kubernetes = { kubeconfig: operatorKubeconfig(ctx.dir), server: `https://${apiAddress(plan)}:${plan.kubernetes!.apiPort}`, forwardPort: forward.port };
  writeState(ctx.dir, state);
  await waitApiReady({ server, caCert: pki.caCert, token: admin.token, record: api, timeoutMs: API_READY_MS });
  ctx.progress('starting kube-controller-manager and kube-scheduler');
  record(ctx, state, startControllerManager(options, kubeconfigs['controller-manager']!), startScheduler(options, kubeconfigs.scheduler!));
  return pki;
}

/** Turns one host into a node: configuration, containerd, the images, kubelet. */
async function startNode(ctx: KubeUpContext, state: LabState, host: LabHost, images: string[], cniBin: string): Promise<void> {
  const paths = hostPaths(ctx.dir, host.name);
  writeNodeConfig({ paths, cniBin, agentSocket: join(ctx.dir, 'hosts', host.name, 'cni.sock'), ipv6: state.plan.options.ipv6 });
  record(ctx, state, await startContainerd(host, paths));
  await importImages(paths.containerdSocket, images);
  record(ctx, state, startKubelet(host, paths));
}

interface NodeList {
  items: { metadata: { name: string }; status?: { conditions?: { type: string; status: string }[] } }[];
}

/** The names of the nodes whose Ready condition is True. */
export async function readyNodes(kubeconfig: string): Promise<string[]> {
  const nodes = await kubectlJson<NodeList>(kubeconfig, ['get', 'nodes']);
  return nodes.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).map((n) => n.metadata.name);
}

/** Waits until every one of `hosts` is a Ready node. */
export async function waitNodesReady(kubeconfig: string, hosts: string[], timeoutMs: number): Promise<void> {
  let ready: string[] = [];
  const done = await pollUntil(async () => {
    ready = await readyNodes(kubeconfig);
    return hosts.every((h) => ready.includes(h)) ? true : undefined;
  }, { deadline: Date.now() + timeoutMs, intervalMs: 500 });
  if (!done) throw new MargayError('MARGAY_ERR_NOT_READY', `nodes not Ready after ${timeoutMs / 1000} s: ${hosts.filter((h) => !ready.includes(h)).join(', ')} (see hosts/<host>/kubelet.log)`);
}

/** The Kubernetes half of `lab up --kubernetes` (the hosts' agents already run and are ready). */
export async function startKubernetes(ctx: KubeUpContext, state: LabState): Promise<void> {
  const imagesBuilt = buildLabImages(join(ctx.dir, 'images'));
  imagesBuilt.catch(() => undefined);
  const pki = await startControlPlane(ctx, state);
  const controllersKubeconfig = await writeMargayKubeconfigs(ctx.dir, state, pki);
  const images = await imagesBuilt;
  const cniBin = writeCniBinDir(ctx.dir);
  for (const host of state.plan.hosts) {
    ctx.progress(`starting containerd and kubelet on ${host.name}`);
    await startNode(ctx, state, host, images, cniBin);
  }
  ctx.progress('waiting for every node to be Ready');
  await waitNodesReady(state.kubernetes!.kubeconfig, state.plan.hosts.map((h) => h.name), NODES_READY_MS);
  // Only now, as in a real cluster where a node is registered before its agent runs: the agents'
  // Nodes name their Kubernetes node (CALICO_K8S_NODE_REF), and kube-controllers deletes a Node
  // whose Kubernetes node does not exist (with its blocks and addresses).
  ctx.progress('starting margay kube-controllers (RBAC from examples/kubernetes/rbac.yaml)');
  const controllers = startKubeControllers({ dir: kubeDir(ctx.dir), state, kubeconfig: controllersKubeconfig });
  record(ctx, state, controllers);
  await waitKubeControllersSynced(state, controllers, API_READY_MS);
}
