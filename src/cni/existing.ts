/**
 * Workloads whose host interface someone else created: a VM's tap device (the OpenStack style),
 * or any interface an orchestrator plumbed itself. The agent does for them what ADD does for a
 * container, minus the veth: assigns addresses (or takes the ones given), configures the host side
 * (proxy ARP and the other sysctls, the /32 and /128 routes, link up; the interface's MAC is left
 * alone), writes the WorkloadEndpoint and waits until its policy is programmed; and the reverse.
 *
 * Served on the same socket as CNI (`POST /v1/endpoints`, JSON in and out; see docs/cni.md).
 * The IPAM handle is `<network>.<workload>.<endpoint>`; the endpoint is named by Calico's rule
 * for its orchestrator (`<node>-<orchestrator>-<workload>-<endpoint>`).
 */
import { workloadEndpointKind } from '../api/mod.ts';
import { workloadEndpointName } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { validateResource } from '../api/mod.ts';
import { hasCode, quote } from '../errors/mod.ts';
import { parseIp } from '../net/mod.ts';
import { type NetConf, parseNetConf } from './config.ts';
import { Undo, type ServiceContext } from './context.ts';
import type { WorkloadIdentity } from './identity.ts';
import { assignAddresses, NETWORK_ANNOTATION } from './main-plugin.ts';
import { GATEWAY_V4 } from './plumbing.ts';
import type { CniRequest } from './request.ts';
import { CniCode, CniError } from './spec.ts';

/** A request about an existing interface. */
export interface ExistingInterfaceRequest {
  command: 'ADD' | 'DEL';
  /** The host-side interface (e.g. `tap1a2b3c4d-5e`); it must exist for ADD. */
  interfaceName: string;
  /** `openstack` by default (any name but `k8s`, `cni` and `libnetwork`). */
  orchestrator?: string;
  /** The VM (or other workload) identifier. */
  workload: string;
  /** The endpoint within the workload (e.g. the port ID); default `eth0`. */
  endpoint?: string;
  /** WorkloadEndpoint namespace (default `default`). */
  namespace?: string;
  /** The IPAM handle's network part (default `vm`). */
  network?: string;
  /** The workload side's MAC (the VM's NIC), recorded in the endpoint. */
  mac?: string;
  labels?: Record<string, string>;
  /** Profiles (default: none). */
  profiles?: string[];
  /** Addresses to use instead of assigning (each must be free or already this handle's). */
  ips?: string[];
  assignIpv4?: boolean;
  assignIpv6?: boolean;
  ipv4Pools?: string[];
  ipv6Pools?: string[];
}

/** What ADD answers. */
export interface ExistingInterfaceResult {
  endpoint: { namespace: string; name: string };
  /** With prefix: `10.244.3.7/32`. */
  ips: string[];
  /** What the workload should route through: 169.254.1.1 (proxy ARP) and, for IPv6, the host side's link-local. */
  gateways: { ipv4?: string; ipv6?: string };
  handle: string;
}

const NAME_PART = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function bad(message: string): CniError {
  return new CniError(CniCode.INVALID_NETWORK_CONFIG, `invalid endpoint request: ${message}`);
}

/** Checks and completes a request. */
export function parseExistingRequest(body: unknown): Required<Pick<ExistingInterfaceRequest, 'command' | 'interfaceName' | 'orchestrator' | 'workload' | 'endpoint' | 'namespace' | 'network'>> &
  ExistingInterfaceRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CniError(CniCode.DECODE_FAILURE, 'the endpoint request must be a JSON object');
  const r = body as ExistingInterfaceRequest;
  if (r.command !== 'ADD' && r.command !== 'DEL') throw bad('command must be ADD or DEL');
  if (typeof r.interfaceName !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(r.interfaceName)) throw bad('interfaceName must be an interface name of 1-15 letters, digits, _ . -');
  const orchestrator = r.orchestrator ?? 'openstack';
  if (['k8s', 'cni', 'libnetwork'].includes(orchestrator) || !NAME_PART.test(orchestrator)) throw bad(`orchestrator ${quote(orchestrator)} is reserved or not a name`);
  for (const [k, v] of [['workload', r.workload], ['endpoint', r.endpoint ?? 'eth0'], ['namespace', r.namespace ?? 'default'], ['network', r.network ?? 'vm']] as const) {
    if (typeof v !== 'string' || !NAME_PART.test(v)) throw bad(`${k} ${quote(v)} must be lower-case letters, digits, '-' and '.'`);
  }
  if (r.network !== undefined && r.network.includes('.')) throw bad('network must not contain "."');
  for (const ip of r.ips ?? []) if (!parseIp(ip)) throw bad(`${quote(ip)} is not an IP address`);
  if (r.mac !== undefined && !/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(r.mac)) throw bad(`mac ${quote(r.mac)} is not a MAC address`);
  return { ...r, orchestrator, endpoint: r.endpoint ?? 'eth0', namespace: r.namespace ?? 'default', network: r.network ?? 'vm' };
}

/** The attachment as address assignment sees it (the endpoint itself carries the real orchestrator). */
function identity(ctx: ServiceContext, r: ReturnType<typeof parseExistingRequest>): WorkloadIdentity {
  return {
    node: ctx.options.hostname,
    orchestrator: 'cni',
    namespace: r.namespace,
    workload: r.workload,
    containerId: `${r.workload}.${r.endpoint}`,
    endpoint: r.endpoint,
    wepName: workloadEndpointName({ node: ctx.options.hostname, orchestrator: r.orchestrator, workload: r.workload, endpoint: r.endpoint }),
    hostVeth: r.interfaceName,
    handle: `${r.network}.${r.workload}.${r.endpoint}`,
  };
}

/** The NetConf-shaped view of the request that address assignment reads. */
function netconfFor(r: ReturnType<typeof parseExistingRequest>): NetConf {
  const conf = parseNetConf(
    JSON.stringify({
      cniVersion: '1.1.0',
      name: r.network,
      type: 'margay',
      ipam: {
        type: 'margay-ipam',
        assign_ipv4: r.assignIpv4 ?? true,
        assign_ipv6: r.assignIpv6 ?? false,
        ...(r.ipv4Pools ? { ipv4_pools: r.ipv4Pools } : {}),
        ...(r.ipv6Pools ? { ipv6_pools: r.ipv6Pools } : {}),
      },
      ...(r.ips ? { runtimeConfig: { ips: r.ips } } : {}),
    }),
  );
  return conf;
}

function endpointOf(r: ReturnType<typeof parseExistingRequest>, id: WorkloadIdentity, ips: string[]): Resource {
  return validateResource({
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: { name: id.wepName, namespace: r.namespace, labels: { ...(r.labels ?? {}) }, annotations: { [NETWORK_ANNOTATION]: r.network } },
    spec: {
      orchestrator: r.orchestrator,
      node: id.node,
      workload: r.workload,
      endpoint: r.endpoint,
      interfaceName: r.interfaceName,
      ...(r.mac ? { mac: r.mac.toLowerCase() } : {}),
      ipNetworks: ips.map((a) => (a.includes(':') ? `${a}/128` : `${a}/32`)),
      profiles: r.profiles ?? [],
    },
  });
}

/** ADD for an existing interface. */
export async function attachExisting(ctx: ServiceContext, body: unknown): Promise<ExistingInterfaceResult> {
  const r = parseExistingRequest(body);
  if (r.command !== 'ADD') throw bad('attachExisting needs command ADD');
  const id = identity(ctx, r);
  const conf = netconfFor(r);
  const fakeReq = { args: {}, containerId: id.containerId } as unknown as CniRequest;
  return ctx.locks.run([`handle:${id.handle}`, `veth:${id.hostVeth}`], async () => {
    const undo = new Undo();
    try {
      const addrs = await assignAddresses(ctx, fakeReq, conf, id, undo);
      const { linkLocal } = await ctx.plumbing.configureExisting(r.interfaceName, addrs);
      undo.push('remove routes', () => ctx.plumbing.unconfigureExisting(r.interfaceName));
      const ips = [...addrs.ipv4, ...addrs.ipv6];
      undo.push('delete WorkloadEndpoint', () => deleteIfWorkload(ctx, r.namespace, id.wepName, r.workload));
      const written = (await ctx.options.store.apply(endpointOf(r, id, ips))).resource;
      const timeout = ctx.options.programTimeoutMs ?? 30_000;
      try {
        await ctx.options.waitForEndpointProgrammed({ namespace: r.namespace, name: id.wepName, revision: Number(written.metadata.resourceVersion) }, timeout);
      } catch (err) {
        throw new CniError(CniCode.TRY_AGAIN_LATER, `the agent did not program WorkloadEndpoint ${r.namespace}/${id.wepName} within ${timeout} ms: ${(err as Error).message}`);
      }
      return {
        endpoint: { namespace: r.namespace, name: id.wepName },
        ips: [...addrs.ipv4.map((a) => `${a}/32`), ...addrs.ipv6.map((a) => `${a}/128`)],
        gateways: { ...(addrs.ipv4.length > 0 ? { ipv4: GATEWAY_V4 } : {}), ...(addrs.ipv6.length > 0 && linkLocal ? { ipv6: linkLocal } : {}) },
        handle: id.handle,
      };
    } catch (err) {
      await undo.run(ctx.log);
      throw err;
    }
  });
}

async function deleteIfWorkload(ctx: ServiceContext, namespace: string, name: string, workload: string): Promise<void> {
  const current = await ctx.options.store.get(workloadEndpointKind, name, namespace);
  if (!current || (current.spec as { workload?: string }).workload !== workload) return;
  try {
    await ctx.options.store.delete(current);
  } catch (err) {
    if (!hasCode(err, 'MARGAY_ERR_NOT_FOUND') && !hasCode(err, 'MARGAY_ERR_CONFLICT')) throw err;
  }
}

/** DEL for an existing interface: endpoint, routes and addresses go; the interface stays. Idempotent. */
export async function detachExisting(ctx: ServiceContext, body: unknown): Promise<void> {
  const r = parseExistingRequest(body);
  const id = identity(ctx, r);
  await ctx.locks.run([`handle:${id.handle}`, `veth:${id.hostVeth}`], async () => {
    await deleteIfWorkload(ctx, r.namespace, id.wepName, r.workload);
    await ctx.plumbing.unconfigureExisting(r.interfaceName);
    await ctx.options.ipam.releaseByHandle(id.handle);
  });
}
