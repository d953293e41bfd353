/**
 * Is an allocation in use? The one rule set that `ipam check` and the controllers' garbage
 * collection share. Pure.
 *
 * An allocation (an allocated ordinal of a block, with its handle and secondary attributes) is
 * judged in this order:
 *   1. cooling down (`releasedAt` set)                          → `cooldown` (already released)
 *   2. a tunnel address (handle `ipip-tunnel-addr-<n>`, `vxlan-tunnel-addr-<n>`,
 *      `vxlan-v6-tunnel-addr-<n>`, `wireguard-tunnel-addr-<n>`, `wireguard-v6-tunnel-addr-<n>`,
 *      or attribute `type` one of Calico's tunnel types)      → `tunnel` while its node exists,
 *                                                                else `node-missing`
 *   3. its node (attribute `node`, else the block's affine host) has no Node resource
 *                                                              → `node-missing`
 *   4. some WorkloadEndpoint lists the address in `ipNetworks` → `in-use` (whoever it is: an
 *      address a workload uses is never released)
 *   5. a WorkloadEndpoint of the same owner exists with no `ipNetworks` yet (owner = the
 *      container ID of a `<network>.<containerID>` handle, or namespace + pod)
 *                                                              → `in-use`
 *   6. with a pod oracle (the Kubernetes API, via kube-controllers) that knows the pod named by
 *      the `namespace`/`pod` attributes: the pod exists on the allocation's node and has not
 *      reported addresses yet, or lists this one                → `in-use` (by the pod)
 *      the pod does not exist, was rescheduled to another node, was evicted, or reports other
 *      addresses                                               → `leak-candidate` (Calico's
 *      kube-controllers rules); an oracle that cannot tell changes nothing
 *   7. the allocation names no owner at all (no namespace/pod attributes and a handle that is not
 *      `<network>.<containerID>`)                             → `assumed-valid` (Calico's rule:
 *      what cannot be checked is not released)
 *   8. otherwise                                               → `leak-candidate`
 */
import type { Resource } from '../api/mod.ts';
import { type Attributes, affineHost, attributeOf, handleOf, isCoolingDown, sequenceOf } from './block.ts';
import { canonicalIp, formatIp, nthIp, parseCidrOrIp } from '../net/mod.ts';
import type { BlockEntry } from './snapshot.ts';

/** Calico's attribute `type` values of tunnel addresses. */
export const TUNNEL_TYPES = ['ipipTunnelAddress', 'vxlanTunnelAddress', 'vxlanV6TunnelAddress', 'wireguardTunnelAddress', 'wireguardV6TunnelAddress'];
const TUNNEL_HANDLE = /^(?:ipip|vxlan|vxlan-v6|wireguard|wireguard-v6)-tunnel-addr-(.+)$/;
const CNI_HANDLE = /^([^.]+)\.(.+)$/;

/** The parts of a WorkloadEndpoint that tell who uses which address. */
export interface WorkloadRef {
  namespace: string;
  name: string;
  node: string | undefined;
  /** `spec.pod`, else `spec.workload`. */
  pod: string | undefined;
  containerID: string | undefined;
  /** Canonical addresses from `spec.ipNetworks`. */
  ips: string[];
}

/** Reads a WorkloadEndpoint resource. */
export function workloadFromResource(res: Resource): WorkloadRef {
  const spec = (res.spec ?? {}) as Record<string, unknown>;
  const ips: string[] = [];
  for (const net of (spec.ipNetworks as string[] | undefined) ?? []) {
    const c = parseCidrOrIp(net);
    if (c) ips.push(formatIp({ family: c.family, value: c.base }));
  }
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  return {
    namespace: res.metadata.namespace ?? 'default',
    name: res.metadata.name,
    node: str(spec.node),
    pod: str(spec.pod) ?? str(spec.workload),
    containerID: str(spec.containerID),
    ips,
  };
}

/** Workloads indexed by address, container ID and namespace/pod. */
export interface WorkloadIndex {
  all: WorkloadRef[];
  byIp: Map<string, WorkloadRef[]>;
  byContainer: Map<string, WorkloadRef[]>;
  byPod: Map<string, WorkloadRef[]>;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Indexes workloads for {@link judgeAllocation}. */
export function indexWorkloads(workloads: WorkloadRef[]): WorkloadIndex {
  const index: WorkloadIndex = { all: workloads, byIp: new Map(), byContainer: new Map(), byPod: new Map() };
  for (const w of workloads) {
    for (const ip of w.ips) push(index.byIp, ip, w);
    if (w.containerID) push(index.byContainer, w.containerID, w);
    if (w.pod) push(index.byPod, `${w.namespace}/${w.pod}`, w);
  }
  return index;
}

/** One allocated ordinal of a block, as the rules see it. */
export interface AllocationView {
  /** The block CIDR text. */
  block: string;
  ordinal: number;
  address: string;
  handle: string | undefined;
  attrs: Attributes;
  sequenceNumber: bigint;
  releasedAt: string | undefined;
  /** The block's affine host, if any. */
  blockHost: string | undefined;
}

/** Every allocated ordinal of a block. */
export function allocationsOf(entry: BlockEntry): AllocationView[] {
  const out: AllocationView[] = [];
  const b = entry.block;
  for (let o = 0; o < b.allocations.length; o++) {
    const attr = attributeOf(b, o);
    if (!attr) continue;
    out.push({
      block: entry.block.cidr,
      ordinal: o,
      address: formatIp(nthIp(entry.cidr, o)),
      handle: handleOf(b, o),
      attrs: { ...(attr.secondary ?? {}) },
      sequenceNumber: sequenceOf(b, o),
      releasedAt: isCoolingDown(attr) ? attr.releasedAt! : undefined,
      blockHost: affineHost(b),
    });
  }
  return out;
}

/** The node a tunnel address belongs to, or undefined when the allocation is not a tunnel address. */
export function tunnelNode(a: Pick<AllocationView, 'handle' | 'attrs'>): string | undefined {
  const m = a.handle ? TUNNEL_HANDLE.exec(a.handle) : null;
  if (m) return a.attrs.node ?? m[1];
  if (a.attrs.type && TUNNEL_TYPES.includes(a.attrs.type)) return a.attrs.node ?? '';
  return undefined;
}

/** What an orchestrator says about a pod an allocation names. */
export type PodFacts =
  | { exists: false }
  | {
      exists: true;
      /** The node the pod is scheduled on, when it is. */
      node?: string;
      /** Canonical addresses the pod reports; undefined while it reports none yet. */
      ips?: string[];
      /** Failed for good (evicted): its addresses may go. */
      evicted?: boolean;
    };

/** Looks a pod up; undefined when the oracle cannot tell (not synced, API down). */
export type PodLookup = (namespace: string, pod: string) => PodFacts | undefined;

/** The verdict on one allocation. */
export type Verdict =
  | { kind: 'cooldown' }
  | { kind: 'tunnel'; node: string }
  | { kind: 'node-missing'; node: string }
  | { kind: 'in-use'; by: WorkloadRef }
  | { kind: 'pod-exists'; namespace: string; pod: string }
  | { kind: 'assumed-valid'; why: string }
  | { kind: 'leak-candidate'; why?: string };

/** Rule 6: what the pod oracle says, or undefined when it says nothing. */
function judgeByPod(a: AllocationView, address: string, pods: PodLookup | undefined): Verdict | undefined {
  const { namespace, pod } = a.attrs;
  if (!pods || !namespace || !pod) return undefined;
  const facts = pods(namespace, pod);
  if (!facts) return undefined;
  if (!facts.exists) return { kind: 'leak-candidate', why: `pod ${namespace}/${pod} does not exist` };
  const node = a.attrs.node ?? a.blockHost;
  if (facts.node && node && facts.node !== node) return { kind: 'leak-candidate', why: `pod ${namespace}/${pod} now runs on ${facts.node}` };
  if (facts.evicted) return { kind: 'leak-candidate', why: `pod ${namespace}/${pod} was evicted` };
  // Compare within the address's family only: a pod that reports no address of this family yet
  // (one family reported first, or a single-stack status) cannot disown it.
  const sameFamily = facts.ips?.filter((ip) => ip.includes(':') === address.includes(':')) ?? [];
  if (sameFamily.length === 0 || sameFamily.includes(address)) return { kind: 'pod-exists', namespace, pod };
  return { kind: 'leak-candidate', why: `pod ${namespace}/${pod} uses ${sameFamily.join(',')}` };
}

/** Applies the rules of the module comment; `pods` is the optional pod oracle (rule 6). */
export function judgeAllocation(a: AllocationView, workloads: WorkloadIndex, nodes: ReadonlySet<string>, pods?: PodLookup): Verdict {
  if (a.releasedAt !== undefined) return { kind: 'cooldown' };
  const tunnel = tunnelNode(a);
  if (tunnel === '') return { kind: 'assumed-valid', why: 'a tunnel address that names no node' };
  if (tunnel !== undefined) return nodes.has(tunnel) ? { kind: 'tunnel', node: tunnel } : { kind: 'node-missing', node: tunnel };
  const node = a.attrs.node ?? a.blockHost;
  if (node !== undefined && !nodes.has(node)) return { kind: 'node-missing', node };
  const address = canonicalIp(a.address) ?? a.address;
  const listing = workloads.byIp.get(address);
  if (listing && listing.length > 0) return { kind: 'in-use', by: listing[0]! };
  const containerID = a.handle ? CNI_HANDLE.exec(a.handle)?.[2] : undefined;
  const podKey = a.attrs.namespace && a.attrs.pod ? `${a.attrs.namespace}/${a.attrs.pod}` : undefined;
  const owners = [...(containerID ? workloads.byContainer.get(containerID) ?? [] : []), ...(podKey ? workloads.byPod.get(podKey) ?? [] : [])];
  const pending = owners.find((w) => w.ips.length === 0);
  if (pending) return { kind: 'in-use', by: pending };
  const byPod = judgeByPod(a, address, pods);
  if (byPod) return byPod;
  if (!containerID && !podKey) return { kind: 'assumed-valid', why: 'the allocation names no workload (no namespace/pod attributes, handle not <network>.<containerID>)' };
  return { kind: 'leak-candidate' };
}

/** True for the verdicts that mean "nobody uses this address". */
export function isLeakVerdict(v: Verdict): boolean {
  return v.kind === 'node-missing' || v.kind === 'leak-candidate';
}
