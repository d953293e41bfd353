/**
 * Stand-ins for the CNI service's unit tests: kernel plumbing that only records what it was asked,
 * and a service on the in-memory datastore with the real IPAM.
 */
import { validateResource } from '../../src/api/validate.ts';
import type { EndpointRef } from '../../src/cni/context.ts';
import type { Differences, LinkSpec, VethSpec, WorkloadPlumbing } from '../../src/cni/plumbing.ts';
import { CniService } from '../../src/cni/service.ts';
import type { CniEnv } from '../../src/cni/request.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { Ipam } from '../../src/ipam/ipam.ts';

/** Records veths instead of making them. */
export class FakePlumbing implements WorkloadPlumbing {
  readonly veths = new Map<string, VethSpec>();
  readonly netns = new Set<string>(['/run/netns/c1', '/run/netns/c2']);
  readonly calls: string[] = [];
  failSetUp: Error | undefined;
  differences: Differences = [];

  netnsExists(netns: string): boolean {
    return this.netns.has(netns) || /^\/run\/netns\/c\d+$/.test(netns);
  }
  async createLink(link: LinkSpec): Promise<void> {
    this.calls.push(`createLink ${link.hostVeth}`);
    if (this.failSetUp) throw this.failSetUp;
    this.veths.set(link.hostVeth, { ...link, ipv4: [], ipv6: [] });
  }
  /** Host routes that must be new fail (as when another workload's route to the address exists). */
  routeTaken = false;
  async addAddresses(spec: VethSpec, options: { newRoutes?: boolean } = {}): Promise<void> {
    this.calls.push(`addAddresses ${spec.hostVeth}`);
    if (!this.veths.has(spec.hostVeth)) throw new Error(`no veth ${spec.hostVeth}`);
    if (this.routeTaken && options.newRoutes === true) throw new Error('hostroutes: File exists');
    this.veths.set(spec.hostVeth, spec);
  }
  async hostVethExists(name: string): Promise<boolean> {
    return this.veths.has(name);
  }
  async deleteHostVeth(name: string): Promise<boolean> {
    this.calls.push(`deleteHostVeth ${name}`);
    return this.veths.delete(name);
  }
  async deleteContainerInterface(netns: string, ifname: string): Promise<boolean> {
    this.calls.push(`deleteContainerInterface ${netns} ${ifname}`);
    for (const [name, spec] of this.veths) {
      if (spec.netns === netns && spec.ifname === ifname) {
        this.veths.delete(name);
        return true;
      }
    }
    return false;
  }
  readonly existing = new Map<string, { ipv4: string[]; ipv6: string[] }>();
  async configureExisting(iface: string, addrs: { ipv4: string[]; ipv6: string[] }): Promise<{ mac: string; linkLocal: string | undefined }> {
    if (!iface.startsWith('tap')) throw Object.assign(new Error(`Device "${iface}" does not exist.`), { name: 'PlumbingError' });
    this.existing.set(iface, addrs);
    return { mac: 'fe:16:3e:00:00:01', linkLocal: addrs.ipv6.length > 0 ? 'fe80::fc16:3eff:fe00:1' : undefined };
  }
  async unconfigureExisting(iface: string): Promise<void> {
    this.existing.delete(iface);
  }
  async inspect(spec: VethSpec): Promise<Differences> {
    if (!this.veths.has(spec.hostVeth)) return [`host interface ${spec.hostVeth} does not exist`];
    return this.differences;
  }
}

/** A CNI service on a memory datastore with one IPv4 and one IPv6 pool. */
export async function makeService(
  options: {
    programmed?: (ep: EndpointRef, timeoutMs: number) => Promise<void>;
    ready?: boolean;
    pools?: unknown[];
    /** Wraps the datastore the service uses (after the pools are written): injected failures. */
    wrap?: (ds: MemoryDatastore) => Datastore;
  } = {},
) {
  const ds = new MemoryDatastore();
  let store = new ResourceStore(ds);
  const pools = options.pools ?? [
    { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'v4' }, spec: { cidr: '10.244.0.0/24', blockSize: 28 } },
    { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'v6' }, spec: { cidr: 'fd00:10:244::/120', blockSize: 124 } },
  ];
  for (const r of [...pools, { apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'node1' }, spec: {} }]) {
    await store.apply(validateResource(r));
  }
  const served = options.wrap?.(ds) ?? ds;
  store = new ResourceStore(served);
  const ipam = new Ipam(served, { sleep: async () => {} });
  const plumbing = new FakePlumbing();
  const waits: EndpointRef[] = [];
  /** Endpoints handed to programAhead, and those withdrawn again (by name). */
  const ahead: { fed: string[]; withdrawn: string[] } = { fed: [], withdrawn: [] };
  const routesAdded: { dst: string; dev: string }[][] = [];
  /** What reached the agent, in order: `routes` (the routes reported) and `fed <name>`. */
  const told: string[] = [];
  let ready = options.ready ?? true;
  const service = new CniService({
    store,
    ipam,
    hostname: 'node1',
    plumbing,
    waitForEndpointProgrammed: async (ep, timeoutMs) => {
      waits.push(ep);
      if (options.programmed) await options.programmed(ep, timeoutMs);
    },
    onWorkloadRoutesGone: (dev) => told.push(`gone ${dev}`),
    onWorkloadRoutes: (routes) => {
      routesAdded.push(routes);
      told.push('routes');
    },
    programAhead: (endpoint) => {
      ahead.fed.push(endpoint.metadata.name);
      told.push(`fed ${endpoint.metadata.name}`);
      return () => ahead.withdrawn.push(endpoint.metadata.name);
    },
    agentStatus: () => (ready ? { ready: true } : { ready: false, reason: 'not in sync with the datastore yet' }),
  });
  return {
    ds,
    store,
    ipam,
    plumbing,
    service,
    waits,
    ahead,
    routesAdded,
    told,
    setReady: (r: boolean) => {
      ready = r;
    },
  };
}

/** The variables of an invocation. */
export function env(command: string, containerId = 'ctr1', extra: CniEnv = {}): CniEnv {
  return { CNI_COMMAND: command, CNI_CONTAINERID: containerId, CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', ...extra };
}

/** A network configuration text. */
export function netconf(extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ cniVersion: '1.0.0', name: 'mnet', type: 'margay', ...extra });
}

/** Runs an invocation and returns its body, failing the test on a CNI error. */
export async function ok(service: CniService, e: CniEnv, stdin: string, plugin: 'cni' | 'ipam' = 'cni'): Promise<Record<string, unknown> | undefined> {
  const reply = await service.handle(e, stdin, plugin);
  if (!reply.ok) throw new Error(`CNI error: ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Runs an invocation that must fail; returns the error object. */
export async function fails(service: CniService, e: CniEnv, stdin: string, plugin: 'cni' | 'ipam' = 'cni'): Promise<{ code: number; msg: string; cniVersion: string }> {
  const reply = await service.handle(e, stdin, plugin);
  if (reply.ok) throw new Error(`expected a CNI error, got ${JSON.stringify(reply.body)}`);
  return reply.body as { code: number; msg: string; cniVersion: string };
}
