/**
 * `margay lab`: a whole multi-host Margay cluster in network namespaces of one machine — etcd,
 * one agent (with BIRD) per host namespace on a shared fabric, pods created through the real CNI
 * plugin exactly as a container runtime would, and probes over the real dataplane.
 *
 * Everything it makes is named with LAB_PREFIX or recorded in the state folder, so `lab down`
 * finds all of it again, also after a crash or a killed `lab up`.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { checkLabelName, checkSubdomainName } from '../api/mod.ts';
import { decodeResources } from '../api/mod.ts';
import { convertKubernetesResource } from '../api/mod.ts';
import { validateResource } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { exec } from '../os/mod.ts';
import { createDatastore } from '../datastore/mod.ts';
import { ResourceStore } from '../datastore/mod.ts';
import { hasCode, MargayError } from '../errors/mod.ts';
import { agentNodeOptions, cniPluginPath, moduleCommand, packageRoot } from './entry.ts';
import { labEtcdEndpoint, startLabEtcd } from './etcd.ts';
import { buildFabric, buildHost, createNetns, deleteNetns, listLabNetns, pidsInNetns } from './fabric.ts';
import { LAB_NETWORK, LAB_PREFIX, type LabHost, type LabOptions, type LabPlan, planLab, podNetns } from './plan.ts';
import { readMachineNetworks } from './machine.ts';
import { FRR_BIN, frrAvailable, routerBgpConfig, startFrr } from './frr.ts';
import { type ProcessRecord, isRunning, processStartTime, startProcess, stopProcess } from './processes.ts';
import { describeMissing, waitPodRoutes } from './routes.ts';
import { formatPortSpec, parseServeList, type PortSpec } from './serve.ts';
import { type LabPod, type LabState, readState, writeState } from './state.ts';
import { pollUntil } from './poll.ts';
import { SERVER_READY_MS, waitServing } from './serving.ts';
import { addKubePod, refreshKubePods, removeKubePod } from './kubernetes/lab-pods.ts';
import { killLabContainers, releaseKubernetes } from './kubernetes/down.ts';
import { hostPaths } from './kubernetes/paths.ts';
import { labKubeControllersConfiguration, prepareKubeHost, startKubernetes } from './kubernetes/up.ts';
import { startOpenStack } from './openstack/up.ts';
import { PARAMS } from '../api/mod.ts';
import { buildLeafSpine, startRouterFrr } from './fabric/build.ts';
import { fabricAgentEnv, fabricResources } from './fabric/up.ts';
import { routeReflectorResources } from './route-reflectors.ts';

/** Where the lab lives and how it reports progress. */
export interface LabContext {
  dir: string;
  progress: (line: string) => void;
}


function hostDir(ctx: LabContext, host: string): string {
  return join(ctx.dir, 'hosts', host);
}

/** The unix socket of a host's agent CNI service. */
export function cniSocketOf(ctx: LabContext, host: string): string {
  return join(hostDir(ctx, host), 'cni.sock');
}

/** The environment a lab process uses to reach the datastore. */
function datastoreEnv(state: LabState): NodeJS.ProcessEnv {
  return { ...process.env, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: state.etcdEndpoint };
}

/** Runs `fn` with the lab's datastore open as a ResourceStore, and closes it afterwards. */
export async function withStore<T>(state: LabState, fn: (store: ResourceStore) => Promise<T>): Promise<T> {
  const store = new ResourceStore(createDatastore({ type: 'etcdv3', etcdEndpoints: state.etcdEndpoint.split(',') }));
  try {
    return await fn(store);
  } finally {
    await store.datastore.close();
  }
}

/** Applies (or deletes) every resource of a manifest text in one batch, as `margay apply -f` does. */
export async function applyManifests(state: LabState, text: string, verb: 'apply' | 'delete' = 'apply'): Promise<void> {
  const resources = decodeResources(text, 'manifests.yaml').map((d) => d.resource);
  await withStore(state, (store) => store.batch(verb, resources).then(() => undefined));
}

/** Reads the lab state or fails with a clear message. */
export function requireLab(ctx: LabContext): LabState {
  const state = readState(ctx.dir);
  if (!state) throw new MargayError('MARGAY_ERR_USAGE', `no lab is up (nothing in ${ctx.dir}); start one with \`margay lab up\``);
  return state;
}

function baseResources(plan: LabPlan): Resource[] {
  const docs: unknown[] = [
    { kind: 'IPPool', metadata: { name: 'lab-ipv4' }, spec: { cidr: plan.ranges.pool4, blockSize: 26, natOutgoing: false, vxlanMode: plan.router ? 'CrossSubnet' : 'Never' } },
    // BFD on the mesh (a Margay extension, docs/bgp.md): a failed host's routes go within ~300 ms.
    // A fabric has no mesh: every host peers with its leaves only (fabric/up.ts).
    { kind: 'BGPConfiguration', metadata: { name: 'default', annotations: { 'margay.io/bfd': 'true' } }, spec: { nodeToNodeMeshEnabled: !plan.fabric && !plan.options.routeReflectors, asNumber: plan.asNumber } },
    ...routeReflectorResources(plan),
    ...(plan.fabric ? fabricResources(plan.fabric) : []),
    // With OpenStack, VMs' tap interfaces are workload interfaces too (as Calico's `cali,tap`).
    { kind: 'FelixConfiguration', metadata: { name: 'default' }, spec: { ipv6Support: plan.options.ipv6, ...(plan.openstack ? { interfacePrefix: 'cali,tap' } : {}) } },
  ];
  // IPv6 as IPv4: natively on a segment, VXLAN (over IPv6) across the router.
  if (plan.options.ipv6) docs.push({ kind: 'IPPool', metadata: { name: 'lab-ipv6' }, spec: { cidr: plan.ranges.pool6, blockSize: 122, vxlanMode: plan.router ? 'CrossSubnet' : 'Never' } });
  // A lab converges in seconds: the Kubernetes controllers' full resyncs (endpoints of pods gone
  // while their host was down, nodes deleted) run every 15 s instead of Calico's 5 minutes.
  if (plan.kubernetes) docs.push(labKubeControllersConfiguration());
  // With a router, each host peers over eBGP with the router's address on its own segment.
  for (const host of plan.router ? plan.hosts : []) {
    docs.push({ kind: 'BGPPeer', metadata: { name: `lab-router-${host.name}` }, spec: { node: host.name, peerIP: host.gateway, asNumber: plan.router!.asNumber } });
    if (host.gateway6) docs.push({ kind: 'BGPPeer', metadata: { name: `lab-router6-${host.name}` }, spec: { node: host.name, peerIP: host.gateway6, asNumber: plan.router!.asNumber } });
  }
  return docs.map((d) => validateResource({ apiVersion: 'projectcalico.org/v3', ...(d as object) }));
}

/** Starts FRR in the router namespace, peering with every host; returns its daemons' records. */
async function startRouter(dir: string, plan: LabPlan): Promise<ProcessRecord[]> {
  const router = plan.router!;
  if (!frrAvailable()) throw new MargayError('MARGAY_ERR_NOT_INSTALLED', `--router needs FRR (${FRR_BIN}/bgpd): run scripts/install-deps.sh`);
  const frrDir = join(dir, 'router');
  // FRR's daemons run as user frr, so the lab folder must be traversable by others (etcd keeps its data 0700).
  chmodSync(dir, 0o755);
  const frr = await startFrr({
    netns: router.netns,
    dir: frrDir,
    bgpd: routerBgpConfig({
      asNumber: router.asNumber,
      routerId: router.fabricAddress.split('/')[0]!,
      neighbors: plan.hosts.flatMap((h) => [h.address, ...(h.address6 ? [h.address6] : [])]).map((a) => ({ address: a.split('/')[0]!, asNumber: plan.asNumber })),
    }),
  });
  return frr.pids().map((pid) => ({ role: 'frr', pid, startTime: processStartTime(pid) ?? '', logFile: join(frrDir, 'bgpd.log') }));
}

/** Starts a host's agent (with BIRD and its CNI service) inside the host namespace. */
export function startAgent(ctx: LabContext, state: LabState, host: LabHost): ProcessRecord {
  const dir = hostDir(ctx, host.name);
  mkdirSync(dir, { recursive: true });
  const [node, args] = moduleCommand('cli/agent-run', ['agent', '--bgp', '--hostname', host.name, '--state-dir', dir], agentNodeOptions());
  return startProcess({
    role: `agent ${host.name}`,
    cmd: node,
    args,
    netns: host.netns,
    // In a Kubernetes lab the agent lives in the host's mount namespace, where containerd makes the pods' namespaces.
    ...(state.plan.kubernetes ? { mountNs: hostPaths(ctx.dir, host.name).mountNs } : {}),
    cwd: packageRoot(),
    logFile: join(dir, 'agent.log'),
    env: {
      ...datastoreEnv(state),
      MARGAY_CNI_SOCKET: cniSocketOf(ctx, host.name),
      MARGAY_IPV6SUPPORT: String(state.plan.options.ipv6),
      // The Node's addresses, found on the uplink (calico/node's variables).
      IP_AUTODETECTION_METHOD: `interface=${host.uplink}`,
      ...(state.plan.options.ipv6 ? { IP6: 'autodetect', IP6_AUTODETECTION_METHOD: `interface=${host.uplink}` } : {}),
      // The Kubernetes node this host is (calico/node's variable): kube-controllers cleans up by it.
      ...(state.plan.kubernetes ? { CALICO_K8S_NODE_REF: host.name } : {}),
      // Every lab host has its own namespace, so the default ports do not collide.
      MARGAY_LOGSEVERITYSCREEN: 'Info',
      // OpenStack VMs (`lab vm add`): their taps are workload interfaces, and the host answers
      // their DHCP (dnsmasq starts only once the host has an OpenStack endpoint).
      MARGAY_INTERFACEPREFIX: 'cali,tap',
      MARGAY_DHCP: 'true',
      // A fabric host's addresses are on its loopback (its uplinks have none).
      ...(state.plan.fabric ? fabricAgentEnv(state.plan.fabric, host.name) : {}),
    },
  });
}

/** Waits until the agents of `hosts` (default all) report ready on their readiness endpoints. */
export async function waitAgentsReady(state: LabState, timeoutMs: number, hosts: LabHost[] = state.plan.hosts): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const host of hosts) {
    const agent = state.processes.find((p) => p.role === `agent ${host.name}`);
    const ready = await pollUntil(async () => {
      if (agent && !isRunning(agent)) throw new MargayError('MARGAY_ERR_NOT_READY', `the agent of ${host.name} exited; see ${agent.logFile}`);
      const res = await exec('curl', ['-sf', '-m', '1', `http://127.0.0.1:${PARAMS.healthPort.default}/readiness`], { netns: host.netns, allowFail: true });
      return res.code === 0 ? true : undefined;
    }, { deadline, intervalMs: 250 });
    if (!ready) throw new MargayError('MARGAY_ERR_NOT_READY', `the agent of ${host.name} did not become ready; see ${agent?.logFile}`);
  }
}

/** `lab up`: builds everything and waits until every agent is in sync. */
export async function labUp(options: LabOptions, ctx: LabContext): Promise<LabState> {
  // The lab's ranges overlap none of this machine's networks, or it does not start.
  const plan = planLab(options, await readMachineNetworks());
  const existing = readState(ctx.dir);
  if (existing) {
    if (existing.processes.some(isRunning)) {
      throw new MargayError('MARGAY_ERR_USAGE', `a lab is already up (state in ${ctx.dir}); run \`margay lab down\` first`);
    }
    ctx.progress('cleaning up the remains of an earlier lab');
    await labDown(ctx);
  }
  if ((await listLabNetns()).length > 0) await labDown(ctx);
  mkdirSync(ctx.dir, { recursive: true });
  const members = plan.options.etcdMembers ?? 1;
  const state: LabState = { plan, etcdEndpoint: labEtcdEndpoint(ctx.dir, members), processes: [], pods: [], ready: false };
  writeState(ctx.dir, state);

  ctx.progress(members === 1 ? 'starting etcd (unix sockets only)' : `starting a ${members}-member etcd cluster (unix sockets only)`);
  state.processes.push(...(await startLabEtcd(ctx.dir, { members })));
  writeState(ctx.dir, state);

  if (plan.fabric) {
    ctx.progress(`building a leaf-spine fabric: ${plan.fabric.routers.length} routers, ${plan.hosts.length} hosts, ${plan.fabric.links.length} unnumbered links`);
    await buildLeafSpine(plan.fabric, (name) => plan.hosts.find((h) => h.name === name)!.netns);
  } else {
    ctx.progress(`building the fabric and ${plan.hosts.length} host namespace(s)${plan.router ? ' and the router' : ''}`);
    await buildFabric(plan);
    for (const host of plan.hosts) await buildHost(plan, host);
  }
  if (plan.kubernetes) for (const host of plan.hosts) await prepareKubeHost(ctx.dir, host);

  ctx.progress('writing the cluster configuration (pools, BGP, agent)');
  await withStore(state, (store) => store.batch('apply', baseResources(plan)));

  if (plan.router) {
    ctx.progress(`starting FRR on the router (AS ${plan.router.asNumber}, eBGP to every host)`);
    state.processes.push(...(await startRouter(ctx.dir, plan)));
    writeState(ctx.dir, state);
  }

  if (plan.fabric) {
    ctx.progress('starting FRR on every leaf and spine (eBGP, ECMP, BFD, unnumbered)');
    // FRR's daemons run as user frr, so the lab folder must be traversable by others.
    chmodSync(ctx.dir, 0o755);
    for (const router of plan.fabric.routers) {
      state.processes.push(...(await startRouterFrr(ctx.dir, plan.fabric, router)));
      writeState(ctx.dir, state);
    }
  }

  for (const host of plan.hosts) {
    ctx.progress(`starting the agent of ${host.name}`);
    state.processes.push(startAgent(ctx, state, host));
    writeState(ctx.dir, state);
  }
  ctx.progress('waiting for every agent to be in sync');
  await waitAgentsReady(state, 60_000);
  if (plan.kubernetes) await startKubernetes(ctx, state);
  if (plan.openstack) await startOpenStack(ctx, state);
  state.ready = true;
  writeState(ctx.dir, state);
  return state;
}

/** `lab down`: stops every lab process (recorded, or still inside a lab namespace) and removes every namespace and file. */
export async function labDown(ctx: LabContext): Promise<{ processes: number; namespaces: number }> {
  // A damaged state file names no process; whatever runs in a lab namespace is still found below.
  const state = readStateOrNothing(ctx);
  const records = [
    ...(state?.pods.flatMap((p) => (p.server ? [p.server] : [])) ?? []),
    ...(state?.vms ?? []).flatMap((v) => (v.process ? [v.process] : [])),
    ...(state?.processes ?? []),
  ];
  let processes = records.filter(isRunning).length;
  // All at once: each may take its grace time, and nothing is left that could need an orderly end.
  await Promise.all(records.map((record) => stopProcess(record, 3000)));
  // Containers of a Kubernetes lab live in their pods' namespaces: found through the hosts' cgroups.
  processes += await killLabContainers();
  const namespaces = await listLabNetns();
  for (const ns of namespaces) {
    for (const pid of await pidsInNetns(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
        processes++;
      } catch {
        // Already gone.
      }
    }
  }
  for (const ns of namespaces) await deleteNetns(ns);
  await releaseKubernetes(ctx.dir);
  rmSync(ctx.dir, { recursive: true, force: true });
  return { processes, namespaces: namespaces.length };
}

function readStateOrNothing(ctx: LabContext): LabState | undefined {
  try {
    return readState(ctx.dir);
  } catch (err) {
    if (!hasCode(err, 'MARGAY_ERR_LAB_STATE')) throw err;
    ctx.progress(`warning: ${err.message}`);
    return undefined;
  }
}

/** How long `lab pod add` waits for every other host to learn a route to the new pod. */
const POD_ROUTE_WAIT_MS = 30_000;

/** Options of `lab pod add`. */
export interface PodAddOptions {
  namespace: string;
  name: string;
  /** The host; a Kubernetes lab lets the scheduler choose when it is absent. */
  host?: string;
  labels: Record<string, string>;
  serve: PortSpec[];
}

function cniEnv(ctx: LabContext, command: string, pod: { namespace: string; name: string; netns: string; containerId: string; host: string }): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: `/var/run/netns/${pod.netns}`,
    CNI_IFNAME: 'eth0',
    CNI_PATH: join(packageRoot(), 'dist', 'cni'),
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId}`,
    MARGAY_CNI_SOCKET: cniSocketOf(ctx, pod.host),
  };
}

function networkConfig(labels: Record<string, string>, ipv6: boolean): string {
  const ipam = { type: 'margay-ipam', assign_ipv4: 'true', assign_ipv6: String(ipv6) };
  return JSON.stringify({ cniVersion: '1.0.0', name: LAB_NETWORK, type: 'margay', ipam, args: { cni: { labels } } });
}

/** Runs the CNI plugin inside a host namespace exactly as a runtime does; returns its parsed result. */
async function runCni(ctx: LabContext, state: LabState, host: LabHost, command: string, pod: LabPod): Promise<Record<string, unknown>> {
  const res = await exec('ip', ['netns', 'exec', host.netns, 'env', '-i', ...Object.entries(cniEnv(ctx, command, pod)).map(([k, v]) => `${k}=${v}`), cniPluginPath()], {
    input: networkConfig(pod.labels, state.plan.options.ipv6),
    allowFail: true,
    timeoutMs: 60_000,
  });
  const out = res.stdout.trim();
  const parsed = out ? (JSON.parse(out) as Record<string, unknown>) : {};
  if (res.code !== 0) {
    throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `CNI ${command} for ${pod.namespace}/${pod.name} failed: ${String(parsed.msg ?? res.stderr.trim())}${parsed.details ? ` (${String(parsed.details)})` : ''}`);
  }
  return parsed;
}

/** Makes sure the pod's namespace has its Profile (`kns.<ns>`), as a Kubernetes Namespace would. */
async function ensureNamespace(state: LabState, namespace: string): Promise<void> {
  const profile = convertKubernetesResource({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { 'kubernetes.io/metadata.name': namespace } } });
  await withStore(state, (store) => store.create(profile, { skipExists: true }));
}

/** A lab host by name, or a usage error listing the hosts. */
export function findHost(state: LabState, name: string): LabHost {
  const host = state.plan.hosts.find((h) => h.name === name);
  if (!host) throw new MargayError('MARGAY_ERR_USAGE', `no host "${name}" in the lab (hosts: ${state.plan.hosts.map((h) => h.name).join(', ')})`);
  return host;
}

/** `lab pod add`: a pod namespace, CNI ADD through the real plugin, and its server. */
export async function podAdd(ctx: LabContext, options: PodAddOptions): Promise<LabPod> {
  const state = requireLab(ctx);
  if (options.host !== undefined) findHost(state, options.host);
  if (state.kubernetes) return addKubePod(state, options, ctx.progress);
  if (options.host === undefined) throw new MargayError('MARGAY_ERR_USAGE', 'lab pod add: --host is required (only a Kubernetes lab has a scheduler to choose one)');
  const host = findHost(state, options.host);
  if (state.pods.some((p) => p.namespace === options.namespace && p.name === options.name)) {
    throw new MargayError('MARGAY_ERR_ALREADY_EXISTS', `pod ${options.namespace}/${options.name} already exists`);
  }
  await ensureNamespace(state, options.namespace);
  const pod: LabPod = {
    namespace: options.namespace,
    name: options.name,
    host: host.name,
    netns: podNetns(options.namespace, options.name),
    containerId: randomBytes(16).toString('hex'),
    addresses: [],
    labels: options.labels,
    serve: options.serve.map(formatPortSpec),
  };
  await createNetns(pod.netns);
  try {
    const result = await runCni(ctx, state, host, 'ADD', pod);
    const ips = (result.ips as { address: string }[] | undefined) ?? [];
    pod.addresses = ips.map((ip) => ip.address.split('/')[0]!);
    if (pod.serve.length > 0) {
      const [node, args] = moduleCommand('lab/pod-server', [`${pod.namespace}/${pod.name}`, pod.serve.join(',')]);
      mkdirSync(join(ctx.dir, 'pods'), { recursive: true });
      pod.server = startProcess({ role: `pod ${pod.namespace}/${pod.name}`, cmd: node, args, netns: pod.netns, cwd: packageRoot(), logFile: join(ctx.dir, 'pods', `${pod.namespace}-${pod.name}.log`) });
      await waitServing(pod, SERVER_READY_MS);
    }
  } catch (err) {
    await runCni(ctx, state, host, 'DEL', pod).catch(() => undefined);
    await deleteNetns(pod.netns);
    throw err;
  }
  state.pods.push(pod);
  writeState(ctx.dir, state);
  // The pod exists; other hosts reach it once BGP has carried its block to them.
  const missing = await waitPodRoutes(state, [pod], POD_ROUTE_WAIT_MS);
  if (missing.length > 0) ctx.progress(`warning: after ${POD_ROUTE_WAIT_MS / 1000} s ${describeMissing(missing)}; see \`margay lab status\``);
  return pod;
}

/**
 * Brings `state.pods` up to date: in a Kubernetes lab the pods are the API server's Running pods
 * (created by `lab pod add` or by anyone with kubectl); otherwise the lab's own record is current.
 */
export async function refreshPods(state: LabState): Promise<LabState> {
  if (state.kubernetes) await refreshKubePods(state);
  return state;
}

/**
 * `NS/NAME` (or `NAME`, in namespace `default`) as the lab names pods; a usage error when it is
 * not a Kubernetes namespace and pod name.
 */
export function parsePodRef(ref: string): { namespace: string; name: string } {
  const parts = ref.split('/');
  const [namespace, name] = parts.length === 1 ? ['default', parts[0]!] : [parts[0]!, parts.slice(1).join('/')];
  const problem = parts.length > 2 ? 'expected NAMESPACE/NAME' : checkLabelName(namespace) ? `namespace: ${checkLabelName(namespace)}` : checkSubdomainName(name) ? `name: ${checkSubdomainName(name)}` : undefined;
  if (problem !== undefined) throw new MargayError('MARGAY_ERR_USAGE', `pod ${JSON.stringify(ref)}: ${problem}`);
  return { namespace, name };
}

/** Finds a lab pod by `NS/NAME`. */
export function findPod(state: LabState, ref: string): LabPod {
  const [namespace, name] = ref.includes('/') ? ref.split('/', 2) : ['default', ref];
  const pod = state.pods.find((p) => p.namespace === namespace && p.name === name);
  if (!pod) throw new MargayError('MARGAY_ERR_NOT_FOUND', `no pod ${namespace}/${name} in the lab (see \`margay lab status\`)`);
  return pod;
}

/** `lab pod rm`: CNI DEL through the plugin, server stopped, namespace removed. */
export async function podRemove(ctx: LabContext, ref: string): Promise<void> {
  const state = requireLab(ctx);
  if (state.kubernetes) {
    const { namespace, name } = parsePodRef(ref);
    return removeKubePod(state, namespace, name);
  }
  const pod = findPod(state, ref);
  if (pod.server) await stopProcess(pod.server, 2000);
  await runCni(ctx, state, findHost(state, pod.host), 'DEL', pod);
  await deleteNetns(pod.netns);
  state.pods = state.pods.filter((p) => p !== pod);
  writeState(ctx.dir, state);
}

/** The namespace a `lab exec`/`probe` target names: a host (`host-1`), `router`, or a pod (`NS/POD`). */
export function targetNetns(state: LabState, target: string): string {
  const host = state.plan.hosts.find((h) => h.name === target);
  if (host) return host.netns;
  if (target === 'router') {
    if (!state.plan.router) throw new MargayError('MARGAY_ERR_NOT_FOUND', 'this lab has no router (start it with --router)');
    return state.plan.router.netns;
  }
  if (!target.includes('/') && !state.pods.some((p) => p.namespace === 'default' && p.name === target)) {
    const pods = state.pods.map((p) => `${p.namespace}/${p.name}`);
    throw new MargayError(
      'MARGAY_ERR_NOT_FOUND',
      `no host, router or pod "${target}" in the lab (hosts: ${state.plan.hosts.map((h) => h.name).join(', ')}${state.plan.router ? ', router' : ''}; pods: ${pods.length > 0 ? pods.join(', ') : 'none'})`,
    );
  }
  return findPod(state, target).netns;
}

/** Resolves a probe destination: a pod (`NS/POD`), a host name, or an address. */
export function targetAddress(state: LabState, target: string, family: 4 | 6 = 4): string {
  const host = state.plan.hosts.find((h) => h.name === target);
  if (host) {
    const address = family === 6 ? host.address6 : host.address;
    if (!address) throw new MargayError('MARGAY_ERR_NOT_FOUND', `host ${target} has no IPv6 address (start the lab with --ipv6)`);
    return address.split('/')[0]!;
  }
  if (/^[0-9.]+$/.test(target) || target.includes(':')) return target;
  const pod = findPod(state, target);
  const address = pod.addresses.find((a) => (family === 6 ? a.includes(':') : !a.includes(':')));
  if (!address) throw new MargayError('MARGAY_ERR_NOT_FOUND', `pod ${target} has no IPv${family} address`);
  return address;
}

/**
 * The namespace a probe runs in, which must be one of the lab's: a probe from the machine's own
 * namespace (an empty name) would send to a lab address through the machine's real interfaces.
 */
function probeNetns(netns: string): string {
  if (!netns.startsWith(LAB_PREFIX)) {
    throw new MargayError('MARGAY_ERR_USAGE', `probes run only inside the lab's namespaces (${LAB_PREFIX}*), not in ${netns === '' ? "this machine's own namespace" : netns}`);
  }
  return netns;
}

/** Many probes from one lab namespace, all at once in one process; results in the order asked. */
export async function probeMany(netns: string, targets: { address: string; port: PortSpec }[], timeoutMs = 1000): Promise<{ ok: boolean; output: string }[]> {
  probeNetns(netns);
  if (targets.length === 0) return [];
  const [node, args] = moduleCommand('lab/probe-client', ['--many', String(timeoutMs), ...targets.map((t) => `${t.address}=${formatPortSpec(t.port)}`)]);
  const res = await exec(node, args, { netns, timeoutMs: timeoutMs + 20_000 });
  const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { ok: boolean; text: string });
  if (lines.length !== targets.length) throw new Error(`probe-client answered ${lines.length} of ${targets.length} probes`);
  return lines.map((l) => ({ ok: l.ok, output: l.text }));
}

/** One probe from a lab namespace to an address: connected or not, and what came back. */
export async function probe(netns: string, address: string, port: PortSpec, timeoutMs = 1000): Promise<{ ok: boolean; output: string }> {
  const [node, args] = moduleCommand('lab/probe-client', [address, formatPortSpec(port), String(timeoutMs)]);
  const res = await exec(node, args, { netns: probeNetns(netns), allowFail: true, timeoutMs: timeoutMs + 10_000 });
  return { ok: res.code === 0, output: res.stdout.trim() };
}

export { parseServeList };
