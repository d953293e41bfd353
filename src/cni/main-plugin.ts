/**
 * The `margay` main plugin's commands, run inside the agent: ADD, DEL, CHECK and GC of one
 * attachment (container × interface) on this node.
 *
 * ADD, each step recorded for rollback: addresses (the agent's IPAM, or a delegated IPAM plugin)
 * and, meanwhile, the veth (plumbing.ts); once the addresses are known, the network's profile for
 * plain containers (as Calico creates it) and the WorkloadEndpoint, and once the veth is there
 * too, its addresses and routes; then the wait until the dataplane has programmed the endpoint
 * and its policy. Only then is the result returned, so the container's first packet
 * already meets its policy. Any failure undoes what the call did, newest first.
 *
 * Operations on one attachment are serialised (by handle and host interface); different
 * attachments proceed concurrently.
 */
import { profileKind } from '../api/mod.ts';
import { workloadEndpointKind } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { validateResource } from '../api/mod.ts';
import { hasCode, quote } from '../errors/mod.ts';
import { deleteEndpointIfOwned, type EndpointAddresses, EndpointWrite } from './endpoint-write.ts';
import { atLeast, type NetConf } from './config.ts';
import { Undo, type ServiceContext } from './context.ts';
import { delegate } from './delegate.ts';
import { handleFor, workloadIdentity, type WorkloadIdentity } from './identity.ts';
import type { PodNetworkInfo } from '../kube/mod.ts';
import { clearPodIps, confForPod, readPod, writeBackPodIps } from './kubernetes.ts';
import { GATEWAY_V4, GATEWAY_V6, HOST_MAC, randomMac, type VethSpec } from './plumbing.ts';
import type { CniRequest } from './request.ts';
import { familyOf, formatResult, parseResult, type CniResult } from './result.ts';
import { CniCode, CniError } from './spec.ts';

/** The annotation that records which CNI network made a WorkloadEndpoint (Margay extension; GC reads it). */
export const NETWORK_ANNOTATION = 'margay.io/cni-network';

/** Addresses of an attachment, without prefix. */
export interface Addresses extends EndpointAddresses {
  /** Address → address with its block's prefix (`10.244.0.5/26`), when IPAM assigned it just now. */
  blockCidrs?: Map<string, string>;
  /** The revision of the WorkloadEndpoint written in the same transaction as the addresses, when it was. */
  endpointRevision?: number;
}

function split(ips: string[]): Addresses {
  const bare = ips.map((ip) => ip.replace(/\/\d+$/, ''));
  return { ipv4: bare.filter((ip) => familyOf(ip) === 4), ipv6: bare.filter((ip) => familyOf(ip) === 6) };
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && [...a].sort().join() === [...b].sort().join();
}

/** Addresses requested for this attachment: `runtimeConfig.ips`, else CNI_ARGS `IP=` (comma-separated). */
function requestedIps(req: CniRequest, conf: NetConf): string[] {
  if (conf.requestedIps.length > 0) return conf.requestedIps;
  return (req.args.IP ?? '').split(',').map((s) => s.trim().replace(/\/\d+$/, '')).filter(Boolean);
}

/** IPAM attributes of an attachment's allocations (`node` is added by IPAM). */
function ipamAttributes(id: WorkloadIdentity): Record<string, string> {
  return id.pod ? { namespace: id.namespace, pod: id.pod } : { namespace: id.namespace };
}

/**
 * Assigns the attachment's addresses with the agent's IPAM; records the release in `undo`. With
 * `endpoint`, a new automatic assignment writes the WorkloadEndpoint in its transaction.
 */
export async function assignAddresses(ctx: ServiceContext, req: CniRequest, conf: NetConf, id: WorkloadIdentity, undo: Undo, endpoint?: EndpointWrite): Promise<Addresses> {
  const ipam = ctx.options.ipam;
  const wanted = requestedIps(req, conf);
  undo.push('release addresses', () => ipam.releaseByHandle(id.handle));
  const num4 = conf.ipam.assignIpv4 ? 1 : 0;
  const num6 = conf.ipam.assignIpv6 ? 1 : 0;
  if (wanted.length === 0) {
    // Mostly there is no handle yet: the assignment creates it (no read first), and only a
    // repeated ADD finds it there.
    const fresh = await autoAssign(ctx, conf, id, { num4, num6, newHandle: true }, endpoint);
    if (fresh) return fresh;
  }
  const existing = await ipam.ipsByHandle(id.handle);
  if (existing.length > 0) {
    // A repeated ADD of this attachment (a runtime retry, or a retry after the agent restarted
    // mid-ADD): keep the addresses the handle already holds when they are what is asked for.
    const have = split(existing);
    const fits = wanted.length > 0
      ? sameSet(existing, wanted)
      : have.ipv4.length === num4 && have.ipv6.length === num6;
    if (fits) return have;
    await ipam.releaseByHandle(id.handle);
  }
  if (wanted.length > 0) {
    const blockCidrs = new Map<string, string>();
    for (const ip of wanted) {
      const a = await ipam.assignIp({ ip, handle: id.handle, node: id.node, attrs: ipamAttributes(id), use: 'Workload' });
      blockCidrs.set(a.address, a.cidr);
    }
    return { ...split(wanted), blockCidrs };
  }
  return (await autoAssign(ctx, conf, id, { num4, num6, newHandle: false }, endpoint))!;
}

/** IPAM's autoAssign for the attachment; undefined when it asked for a new handle and the handle exists. */
async function autoAssign(
  ctx: ServiceContext,
  conf: NetConf,
  id: WorkloadIdentity,
  want: { num4: number; num6: number; newHandle: boolean },
  endpoint: EndpointWrite | undefined,
): Promise<Addresses | undefined> {
  const assigned = await ctx.options.ipam.autoAssign({
    handle: id.handle,
    node: id.node,
    ...want,
    attrs: ipamAttributes(id),
    ...(conf.ipam.ipv4Pools ? { pools4: conf.ipam.ipv4Pools } : {}),
    ...(conf.ipam.ipv6Pools ? { pools6: conf.ipam.ipv6Pools } : {}),
    ...(endpoint ? { alongside: (ips: string[]) => endpoint.op(split(ips)) } : {}),
  });
  if (assigned.handleExists) return undefined;
  return {
    ipv4: assigned.ipv4.map((a) => a.address),
    ipv6: assigned.ipv6.map((a) => a.address),
    blockCidrs: new Map([...assigned.ipv4, ...assigned.ipv6].map((a) => [a.address, a.cidr])),
    ...(assigned.alongsideRevision !== undefined ? { endpointRevision: assigned.alongsideRevision } : {}),
  };
}

async function addresses(ctx: ServiceContext, req: CniRequest, conf: NetConf, id: WorkloadIdentity, undo: Undo, pod: PodNetworkInfo | undefined, endpoint: EndpointWrite): Promise<Addresses> {
  // Calico's ipAddrsNoIpam: the pod brings its addresses; nothing is allocated (or released).
  if (pod?.ipAddrsNoIpam) return split(pod.ipAddrsNoIpam);
  if (conf.ipam.builtin) return assignAddresses(ctx, req, confForPod(conf, pod), id, undo, endpoint);
  undo.push(`${conf.ipam.type} DEL`, () => delegate(conf.ipam.type, 'DEL', req));
  const result = await delegate(conf.ipam.type, 'ADD', req);
  const got = split((result?.ips ?? []).map((ip) => ip.address));
  if (got.ipv4.length + got.ipv6.length === 0) {
    throw new CniError(CniCode.NO_ADDRESS, `IPAM plugin ${conf.ipam.type} returned no address`);
  }
  return got;
}

/**
 * Waits for every promise; rejects with the first failure only after all have settled (so that
 * the rollback sees everything the failed step's siblings made).
 */
async function settleAll<T extends readonly unknown[]>(promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as unknown as T;
}

/**
 * The profiles of an endpoint: the configuration's, else the pod's from the API (`kns.<ns>`,
 * `ksa.<ns>.<sa>`), else `kns.<ns>` for pods and the network's for plain containers.
 */
function profilesFor(conf: NetConf, id: WorkloadIdentity, pod: PodNetworkInfo | undefined): string[] {
  if (conf.profiles) return conf.profiles;
  if (pod) return pod.profiles;
  return id.orchestrator === 'k8s' ? [`kns.${id.namespace}`] : [conf.name];
}

/**
 * Creates the network's profile when a plain container joins a network that has none, as
 * Calico's plugin does: egress allowed, ingress from members of the same network, and the
 * network's name applied as a label. The plugin never changes an existing profile. Returns true
 * when this call had to look (the agent may not have seen the profile yet).
 */
async function ensureNetworkProfile(ctx: ServiceContext, conf: NetConf, id: WorkloadIdentity): Promise<boolean> {
  if (conf.profiles || id.orchestrator === 'k8s' || ctx.knownProfiles.has(conf.name)) return false;
  const store = ctx.options.store;
  if (!(await store.get(profileKind, conf.name))) {
    const profile = validateResource({
      apiVersion: 'projectcalico.org/v3',
      kind: 'Profile',
      metadata: { name: conf.name },
      spec: {
        egress: [{ action: 'Allow' }],
        ingress: [{ action: 'Allow', source: { selector: `has(${conf.name})` } }],
        labelsToApply: { [conf.name]: '' },
      },
    });
    try {
      await store.create(profile, { skipExists: true });
    } catch (err) {
      // Another ADD of the same network created it meanwhile.
      if (!hasCode(err, 'MARGAY_ERR_ALREADY_EXISTS')) throw err;
    }
  }
  ctx.knownProfiles.add(conf.name);
  return true;
}

/** The WorkloadEndpoint of an attachment; a pod read from the API gives its labels, ports and service account. */
export function endpointResource(conf: NetConf, id: WorkloadIdentity, spec: VethSpec, profiles: string[], pod?: PodNetworkInfo): Resource {
  const ipNetworks = ipNetworksOf(spec);
  return validateResource({
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: {
      name: id.wepName,
      namespace: id.namespace,
      labels: pod ? { ...pod.labels } : { ...conf.labels },
      annotations: { [NETWORK_ANNOTATION]: conf.name },
    },
    spec: {
      orchestrator: id.orchestrator,
      node: id.node,
      containerID: id.containerId,
      ...(id.pod ? { pod: id.pod } : { workload: id.workload }),
      endpoint: id.endpoint,
      interfaceName: id.hostVeth,
      mac: spec.containerMac,
      ipNetworks,
      profiles,
      ...(pod && pod.ports.length > 0 ? { ports: pod.ports } : {}),
      ...(pod?.serviceAccount ? { serviceAccountName: pod.serviceAccount } : {}),
    },
  });
}

/** The endpoint's addresses with their host prefix. */
function ipNetworksOf(spec: Pick<VethSpec, 'ipv4' | 'ipv6'>): string[] {
  return [...spec.ipv4.map((a) => `${a}/32`), ...spec.ipv6.map((a) => `${a}/128`)];
}

/** The host routes plumbing adds for an attachment. */
function hostRoutes(spec: VethSpec): { dst: string; dev: string }[] {
  return [...spec.ipv4.map((a) => `${a}/32`), ...spec.ipv6.map((a) => `${a}/128`)].map((dst) => ({ dst, dev: spec.hostVeth }));
}

/**
 * The container's addresses put in as soon as IPAM has chosen them, while its transaction is on
 * its way to etcd, rather than after its answer: the helper's round trip then overlaps etcd's
 * (an ADD's critical path was IPAM's answer → the addresses → the answer). The container is not
 * running yet, and an ADD that fails deletes the veth (and the kernel the routes and addresses
 * with it). The host routes of these uncommitted addresses must be new: a redone transaction
 * may have handed an address chosen here to another workload, whose route must not be taken
 * over (and then lost with this veth). When the transaction was redone and committed other
 * addresses, or the early step failed, the veth is made again and given the committed ones.
 */
class EarlyAddresses {
  readonly #ctx: ServiceContext;
  readonly #created: () => Promise<void>;
  readonly #specOf: (addrs: EndpointAddresses) => VethSpec;
  #early: { addrs: EndpointAddresses; done: Promise<void> } | undefined;
  /** Set once the committed addresses are known: from then on they go in only through {@link finish}. */
  #closed = false;

  constructor(ctx: ServiceContext, created: () => Promise<void>, specOf: (addrs: EndpointAddresses) => VethSpec) {
    this.#ctx = ctx;
    this.#created = created;
    this.#specOf = specOf;
  }

  /** IPAM chose `addrs` (not committed yet): puts them in once the veth is there (once per ADD). */
  start(addrs: EndpointAddresses): void {
    if (this.#closed || this.#early) return;
    const done = this.#created().then(() => this.#ctx.plumbing.addAddresses(this.#specOf(addrs), { newRoutes: true }));
    done.catch(() => undefined); // awaited by finish() or settled(); never unhandled
    this.#early = { addrs, done };
  }

  /** The committed addresses: in already, or put in now (on a veth made again when others went in early). */
  async finish(addrs: EndpointAddresses, recreate: () => Promise<void>): Promise<void> {
    this.#closed = true;
    const early = this.#early;
    const same = early !== undefined && sameSet(early.addrs.ipv4, addrs.ipv4) && sameSet(early.addrs.ipv6, addrs.ipv6);
    if (early && (await early.done.then(() => same, () => false))) return;
    if (early) {
      await this.#ctx.plumbing.deleteHostVeth(this.#specOf(addrs).hostVeth);
      await recreate();
    }
    await this.#ctx.plumbing.addAddresses(this.#specOf(addrs));
  }

  /** Resolves once addresses put in early are in (or failed): before a rollback deletes the veth. */
  async settled(): Promise<void> {
    this.#closed = true;
    await this.#early?.done.catch(() => undefined);
  }
}

function attachmentResult(conf: NetConf, req: CniRequest, spec: VethSpec): CniResult {
  const result: CniResult = {
    interfaces: [
      { name: spec.hostVeth, mac: HOST_MAC, mtu: spec.mtu },
      { name: spec.ifname, mac: spec.containerMac, mtu: spec.mtu, sandbox: req.netns },
    ],
    ips: [...spec.ipv4.map((a) => ({ address: `${a}/32`, interface: 1 })), ...spec.ipv6.map((a) => ({ address: `${a}/128`, interface: 1 }))],
    routes: [
      ...(spec.ipv4.length > 0 ? [{ dst: '0.0.0.0/0', gw: GATEWAY_V4 }] : []),
      ...(spec.ipv6.length > 0 ? [{ dst: '::/0', gw: GATEWAY_V6 }] : []),
    ],
  };
  if (conf.dns) result.dns = conf.dns;
  return result;
}

function checkNode(ctx: ServiceContext, conf: NetConf): void {
  if (conf.nodename && conf.nodename !== ctx.options.hostname) {
    throw new CniError(
      CniCode.INVALID_NETWORK_CONFIG,
      `invalid network configuration: nodename: ${quote(conf.nodename)} is not this agent's node (${ctx.options.hostname})`,
    );
  }
}

/**
 * Logs an ADD's or DEL's line once its answer is on its way (a log line is a synchronous write,
 * a few hundred µs on a busy host, which the runtime need not wait for).
 */
function logAfterAnswer(ctx: ServiceContext, fields: Record<string, unknown>, msg: string, started: number): void {
  const ended = performance.now();
  if (ctx.log) setImmediate(() => ctx.log?.info({ ...fields, gcMs: ctx.gcPauses?.within(started, ended) ?? 0 }, msg));
}

function lockKeys(id: WorkloadIdentity): string[] {
  return [`handle:${id.handle}`, `veth:${id.hostVeth}`];
}

/** ADD. */
export async function add(ctx: ServiceContext, req: CniRequest, conf: NetConf): Promise<Record<string, unknown>> {
  checkNode(ctx, conf);
  const id = workloadIdentity(req, conf, ctx.options.hostname, ctx.options.interfacePrefix);
  if (!ctx.plumbing.netnsExists(req.netns)) {
    throw new CniError(CniCode.UNKNOWN_CONTAINER, `network namespace ${req.netns} does not exist`);
  }
  return ctx.locks.run(lockKeys(id), async () => {
    const undo = new Undo();
    const started = performance.now();
    // When each step finished, in ms since the ADD started (the log line's timeline).
    const steps: Record<string, number> = {};
    const step = (name: string): void => {
      steps[name] = Math.round((performance.now() - started) * 10) / 10;
    };
    const timed = <T>(name: string, p: Promise<T>): Promise<T> => p.finally(() => step(name));
    let early: EarlyAddresses | undefined;
    try {
      const mtu = ctx.mtu(conf.mtu);
      const containerMac = conf.requestedMac ?? req.args.MAC?.toLowerCase() ?? randomMac();
      const link = { hostVeth: id.hostVeth, netns: req.netns, ifname: req.ifname, mtu, containerMac, ipv6: conf.ipam.builtin && conf.ipam.assignIpv6 };
      // The veth needs no address: make it while IPAM assigns them. The endpoint needs only the
      // addresses (the agent programs it by interface name): it goes into the addresses' own
      // transaction (endpoint-write.ts), so that the agent programs it while the addresses go
      // into the veth.
      undo.push('delete veth', () => ctx.plumbing.deleteHostVeth(id.hostVeth));
      const specOf = (addrs: EndpointAddresses): VethSpec => ({ ...link, ipv4: addrs.ipv4, ipv6: addrs.ipv6 });
      early = new EarlyAddresses(ctx, () => created, specOf);
      const addressesEarly = early;
      // A Kubernetes pod is read from the API first: nothing is allocated for a pod that is not
      // there. The network's profile (plain containers) exists before the endpoint is written.
      const podRead = timed('pod', readPod(ctx, conf, id));
      const endpoint = podRead.then(async (pod) => {
        const profileJustWritten = await ensureNetworkProfile(ctx, conf, id);
        return new EndpointWrite(ctx, undo, {
          namespace: id.namespace,
          name: id.wepName,
          containerId: id.containerId,
          ahead: !profileJustWritten,
          build: (addrs) => {
            // Before the endpoint reaches the dataplane: its route driver leaves these to us
            // rather than racing our helper to add them.
            ctx.options.onWorkloadRoutes?.(hostRoutes(specOf(addrs)));
            addressesEarly.start(addrs);
            return endpointResource(conf, id, specOf(addrs), profilesFor(conf, id, pod), pod);
          },
        });
      });
      const assigned = timed('ipam', Promise.all([podRead, endpoint]).then(([pod, ep]) => addresses(ctx, req, conf, id, undo, pod, ep)));
      const created = timed('link', ctx.plumbing.createLink(link));
      const written = timed(
        'endpoint',
        Promise.all([assigned, endpoint]).then(([addrs, ep]) => {
          if (addrs.endpointRevision === undefined) return ep.write(addrs);
          ep.carried();
          return addrs.endpointRevision;
        }),
      );
      const plumbed = timed(
        'addresses',
        Promise.all([assigned, created]).then(([addrs]) => addressesEarly.finish(addrs, () => ctx.plumbing.createLink(link))),
      );
      const [addrs, , revision, , pod] = await settleAll([assigned, created, written, plumbed, podRead]);
      const spec = specOf(addrs);
      const timeout = ctx.options.programTimeoutMs ?? 30_000;
      const programmed = ctx.options.waitForEndpointProgrammed({ namespace: id.namespace, name: id.wepName, revision }, timeout).catch((err: Error) => {
        throw new CniError(CniCode.TRY_AGAIN_LATER, `the agent did not program WorkloadEndpoint ${id.namespace}/${id.wepName} within ${timeout} ms: ${err.message}`, undefined, { cause: err });
      });
      // Calico writes the pod's addresses back onto the pod; meanwhile the dataplane programs it.
      const annotated = pod ? timed('pod-annotated', writeBackPodIps(ctx, conf, id, ipNetworksOf(spec))) : Promise.resolve();
      await settleAll([programmed, annotated]);
      step('programmed');
      logAfterAnswer(ctx, { cmd: 'ADD', wep: id.wepName, containerID: id.containerId, ips: [...addrs.ipv4, ...addrs.ipv6], ms: Math.round(performance.now() - started), steps }, 'attachment added', started);
      return formatResult(attachmentResult(conf, req, spec), conf.cniVersion);
    } catch (err) {
      await early?.settled();
      await undo.run(ctx.log);
      ctx.options.onWorkloadRoutesGone?.(id.hostVeth);
      ctx.log?.warn({ cmd: 'ADD', wep: id.wepName, containerID: id.containerId, err: (err as Error).message }, 'ADD failed and was rolled back');
      throw err;
    }
  });
}

/** DEL: idempotent; anything already gone is fine. */
export async function del(ctx: ServiceContext, req: CniRequest, conf: NetConf): Promise<undefined> {
  checkNode(ctx, conf);
  const id = workloadIdentity(req, conf, ctx.options.hostname, ctx.options.interfacePrefix);
  await ctx.locks.run(lockKeys(id), async () => {
    const store = ctx.options.store;
    const started = performance.now();
    ctx.options.onWorkloadRoutesGone?.(id.hostVeth);
    // When each step finished, in ms since the DEL started (the log line's timeline).
    const steps: Record<string, number> = {};
    const timed = <T>(name: string, p: Promise<T>): Promise<T> =>
      p.finally(() => {
        steps[name] = Math.round((performance.now() - started) * 10) / 10;
      });
    // The container's interface takes its host peer with it; meanwhile the endpoint is read and,
    // when it is this container's, deleted (its traffic then meets no endpoint's rules).
    const removing = timed('interface', ctx.plumbing.deleteContainerInterface(req.netns, req.ifname, id.hostVeth));
    const current = await timed('endpoint-read', store.get(workloadEndpointKind, id.wepName, id.namespace)).catch(async (err: unknown) => {
      await removing.catch(() => undefined);
      throw err;
    });
    const owned = !current || (current.spec as { containerID?: string } | undefined)?.containerID === id.containerId;
    const endpointGone = current && owned ? timed('endpoint', deleteEndpointIfOwned(ctx, { namespace: id.namespace, name: id.wepName, containerId: id.containerId }, current)) : Promise.resolve(false);
    const gone = settleAll([removing, endpointGone]).then(async ([removed]) => {
      // Without the namespace, remove the host side by name, but only when no other container's
      // endpoint uses it.
      if (!removed && owned) await ctx.plumbing.deleteHostVeth(id.hostVeth);
    });
    // The addresses only once the interface is gone (a new pod may get them at once); IPAM reads
    // what the release needs meanwhile.
    if (conf.ipam.builtin) await settleAll([gone, timed('released', ctx.options.ipam.releaseByHandle(id.handle, { notBefore: gone }))]);
    else await gone.then(() => delegate(conf.ipam.type, 'DEL', req));
    // Not waited for: a DEL must not hang on an API server that is away.
    void clearPodIps(ctx, conf, id);
    logAfterAnswer(ctx, { cmd: 'DEL', wep: id.wepName, containerID: id.containerId, ms: Math.round(performance.now() - started), steps }, 'attachment deleted', started);
  });
  return undefined;
}

/** CHECK: the attachment is as ADD left it (kernel, endpoint, addresses, policy). */
export async function check(ctx: ServiceContext, req: CniRequest, conf: NetConf): Promise<undefined> {
  if (!atLeast(conf, '0.4.0')) {
    throw new CniError(CniCode.INCOMPATIBLE_VERSION, `CHECK needs cniVersion 0.4.0 or later (configuration has ${conf.cniVersion})`);
  }
  if (conf.prevResult === undefined) throw new CniError(CniCode.INVALID_NETWORK_CONFIG, 'invalid network configuration: prevResult: CHECK needs the result of ADD');
  checkNode(ctx, conf);
  const prev = parseResult(conf.prevResult, 'prevResult');
  const id = workloadIdentity(req, conf, ctx.options.hostname, ctx.options.interfacePrefix);
  if (!ctx.plumbing.netnsExists(req.netns)) {
    throw new CniError(CniCode.UNKNOWN_CONTAINER, `network namespace ${req.netns} does not exist`);
  }
  const fail = (what: string[]): CniError => new CniError(CniCode.CHECK_FAILED, `CHECK found ${id.namespace}/${id.wepName} changed: ${what.join('; ')}`);
  const wep = await ctx.options.store.get(workloadEndpointKind, id.wepName, id.namespace);
  if (!wep) throw new CniError(CniCode.UNKNOWN_CONTAINER, `WorkloadEndpoint ${id.namespace}/${id.wepName} does not exist`);
  const spec = (wep.spec ?? {}) as { containerID?: string; ipNetworks?: string[]; interfaceName?: string; mac?: string };
  if (spec.containerID !== id.containerId) {
    throw new CniError(CniCode.UNKNOWN_CONTAINER, `WorkloadEndpoint ${id.namespace}/${id.wepName} belongs to container ${spec.containerID}`);
  }
  const diffs: string[] = [];
  const prevAddrs = prev.ips.map((ip) => ip.address.replace(/\/\d+$/, ''));
  const wepAddrs = (spec.ipNetworks ?? []).map((n) => n.replace(/\/\d+$/, ''));
  if (!sameSet(prevAddrs, wepAddrs)) diffs.push(`endpoint addresses ${wepAddrs.join(',')} differ from the result's ${prevAddrs.join(',')}`);
  if (spec.interfaceName !== id.hostVeth) diffs.push(`endpoint interface ${spec.interfaceName} is not ${id.hostVeth}`);
  if (conf.ipam.builtin) {
    const held = await ctx.options.ipam.ipsByHandle(handleFor(conf.name, req.containerId));
    if (!sameSet(held, prevAddrs)) diffs.push(`IPAM handle ${id.handle} holds ${held.join(',') || 'nothing'}, not ${prevAddrs.join(',')}`);
  } else {
    await delegate(conf.ipam.type, 'CHECK', req);
  }
  const containerMac = prev.interfaces.find((i) => i.name === req.ifname && i.sandbox)?.mac ?? spec.mac ?? '';
  const addrs = split(prevAddrs);
  diffs.push(
    ...(await ctx.plumbing.inspect({
      hostVeth: id.hostVeth,
      netns: req.netns,
      ifname: req.ifname,
      mtu: ctx.mtu(conf.mtu),
      containerMac,
      ipv4: addrs.ipv4,
      ipv6: addrs.ipv6,
    })),
  );
  if (diffs.length > 0) throw fail(diffs);
  const timeout = ctx.options.checkTimeoutMs ?? 2000;
  try {
    await ctx.options.waitForEndpointProgrammed({ namespace: id.namespace, name: id.wepName, revision: Number(wep.metadata.resourceVersion) }, timeout);
  } catch (err) {
    throw fail([`the dataplane has not programmed the endpoint and its policy (${(err as Error).message})`]);
  }
  return undefined;
}

/**
 * GC: releases the addresses and WorkloadEndpoints of this network's attachments on this node
 * that are not in `cni.dev/valid-attachments`.
 */
export async function gc(ctx: ServiceContext, req: CniRequest, conf: NetConf): Promise<undefined> {
  if (!atLeast(conf, '1.1.0')) throw new CniError(CniCode.INCOMPATIBLE_VERSION, `GC needs cniVersion 1.1.0 or later (configuration has ${conf.cniVersion})`);
  const valid = conf.validAttachments ?? [];
  const validContainers = new Set(valid.map((a) => a.containerID));
  const validPairs = new Set(valid.map((a) => `${a.containerID}/${a.ifname}`));
  const node = ctx.options.hostname;
  const store = ctx.options.store;
  const released: string[] = [];
  const deleted: string[] = [];

  // Endpoints this network made on this node, for attachments the runtime no longer has.
  const { items } = await store.list(workloadEndpointKind);
  for (const wep of items) {
    const spec = (wep.spec ?? {}) as { node?: string; containerID?: string; endpoint?: string; interfaceName?: string };
    if (spec.node !== node || wep.metadata.annotations?.[NETWORK_ANNOTATION] !== conf.name) continue;
    if (!spec.containerID || validPairs.has(`${spec.containerID}/${spec.endpoint ?? ''}`)) continue;
    const cid = spec.containerID;
    await ctx.locks.run([`handle:${handleFor(conf.name, cid)}`, ...(spec.interfaceName ? [`veth:${spec.interfaceName}`] : [])], async () => {
      if (spec.interfaceName) await ctx.plumbing.deleteHostVeth(spec.interfaceName);
      if (await deleteEndpointIfOwned(ctx, { namespace: wep.metadata.namespace ?? 'default', name: wep.metadata.name, containerId: cid })) deleted.push(`${wep.metadata.namespace}/${wep.metadata.name}`);
    });
  }

  // Addresses held by this network's handles on this node, for containers the runtime no longer has.
  if (conf.ipam.builtin) {
    const prefix = `${conf.name}.`;
    const snap = await ctx.options.ipam.snapshot();
    const onNode = new Set<string>();
    for (const entry of snap.blocks.values()) {
      for (const attr of entry.block.attributes) {
        const h = attr.handle_id;
        if (typeof h === 'string' && h.startsWith(prefix) && attr.secondary?.node === node && !attr.releasedAt) onNode.add(h);
      }
    }
    for (const handle of onNode) {
      const cid = handle.slice(prefix.length);
      if (validContainers.has(cid)) continue;
      await ctx.locks.run([`handle:${handle}`], async () => {
        released.push(...(await ctx.options.ipam.releaseByHandle(handle)));
      });
    }
  } else {
    try {
      await delegate(conf.ipam.type, 'GC', req);
    } catch (err) {
      // Plugins older than CNI 1.1 do not know GC; their leftovers are theirs to handle.
      ctx.log?.info({ cmd: 'GC', ipam: conf.ipam.type, err: (err as Error).message }, 'IPAM plugin GC failed');
    }
  }
  ctx.log?.info({ cmd: 'GC', network: conf.name, releasedAddresses: released.length, deletedEndpoints: deleted.length }, 'garbage collected');
  return undefined;
}
