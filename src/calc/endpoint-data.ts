/**
 * What the graph keeps of a WorkloadEndpoint, HostEndpoint or (Global)NetworkSet: the labels
 * and parents the label indexes match on, and the addresses and named ports IP sets are built
 * from. Pure conversions from stored resources; no validation beyond what the graph needs
 * (unparseable addresses are dropped, as Felix drops them).
 */
import type { Resource } from '../api/mod.ts';
import type { HostEndpointSpec, NetworkSetSpec, WorkloadEndpointSpec } from '../api/mod.ts';
import { protocolNumber } from '../api/mod.ts';
import { type EndpointId, type PortProtocol, hostEndpointId, workloadId } from './ids.ts';
import { canonicalCidr, canonicalIp } from '../net/mod.ts';

/** Calico's namespace label, set on every workload endpoint and namespaced network set. */
export const NAMESPACE_LABEL = 'projectcalico.org/namespace';
/** Calico's orchestrator label, set on every workload endpoint. */
export const ORCHESTRATOR_LABEL = 'projectcalico.org/orchestrator';
/** The profile that carries a namespace's labels (`pcns.*`). */
export const NAMESPACE_PROFILE_PREFIX = 'kns.';

/** A named port an endpoint declares. */
export interface NamedPort {
  name: string;
  protocol: PortProtocol;
  port: number;
}

/** A workload or host endpoint, as the graph needs it. */
export interface EndpointData {
  kind: 'workload' | 'host';
  id: EndpointId;
  /** `spec.node`; `''` when missing. */
  node: string;
  labels: Readonly<Record<string, string>>;
  /** Profile names, in priority order. */
  profiles: readonly string[];
  /** Its addresses as canonical /32 and /128 CIDRs (the address before the `/` is canonical too). */
  cidrs: readonly string[];
  /** Named ports (ports without a name are left out: nothing can refer to them); a shared list. */
  ports: readonly NamedPort[];
  /** `spec.interfaceName` (`*` for all of a host's interfaces; `''` when not given). */
  interfaceName: string;
  mac?: string;
  /** Canonical CIDRs the workload may also send from. */
  allowSpoofedSourcePrefixes: readonly string[];
  /** Floating IPs (`spec.ipNATs`, canonical addresses), kept only where they are programmed (OpenStack). */
  nats?: readonly FloatingIp[];
}

/** One 1:1 NAT of a workload: `external` is DNATed to `internal` (an OpenStack floating IP). */
export interface FloatingIp {
  internal: string;
  external: string;
}

/** A NetworkSet or GlobalNetworkSet as an item of the IP-set label index. */
export interface NetworkSetData {
  id: string;
  labels: Readonly<Record<string, string>>;
  /** `kns.<ns>` for a namespaced set (namespace label inheritance, as Calico does), else none. */
  parents: readonly string[];
  /** Canonical, masked CIDRs (a /0 split into two /1s). */
  cidrs: readonly string[];
}

const NONE: readonly never[] = Object.freeze([]);

/**
 * A list as the graph keeps it for the endpoint's lifetime: exactly sized (an array grown by
 * `push` keeps room for 17 elements, ~150 bytes, and the graph holds three such lists for each of
 * tens of thousands of remote endpoints), and one shared frozen array when empty.
 */
function compact<T>(list: T[]): readonly T[] {
  return list.length === 0 ? NONE : list.slice();
}

function portProtocol(p: unknown): PortProtocol | undefined {
  if (typeof p !== 'string' && typeof p !== 'number') return undefined;
  const n = protocolNumber(typeof p === 'string' && /^[a-z]+$/.test(p) ? p.toUpperCase() : p);
  return n === 6 ? 'tcp' : n === 17 ? 'udp' : n === 132 ? 'sctp' : undefined;
}

/**
 * One shared object per distinct named port: most endpoints of a cluster declare the same few
 * (`http`/TCP/8080), and the graph keeps each endpoint's list for its lifetime. The cache holds
 * what endpoints declared, up to {@link MAX_SHARED_PORTS} distinct ports (never pruned; beyond
 * that, ports get their own objects).
 */
const PORTS = new Map<string, NamedPort>();
const MAX_SHARED_PORTS = 10_000;

function sharedPort(name: string, protocol: PortProtocol, port: number): NamedPort {
  const key = `${name}/${protocol}/${port}`;
  let p = PORTS.get(key);
  if (p !== undefined) return p;
  p = Object.freeze({ name, protocol, port });
  if (PORTS.size < MAX_SHARED_PORTS) PORTS.set(key, p);
  return p;
}

/** One shared frozen list per distinct list of named ports (capped like {@link PORTS}). */
const PORT_LISTS = new Map<string, readonly NamedPort[]>();

function namedPorts(list: unknown): readonly NamedPort[] {
  if (!Array.isArray(list)) return NONE;
  const out: NamedPort[] = [];
  for (const entry of list as Array<Record<string, unknown>>) {
    const name = entry?.name;
    const port = entry?.port;
    const protocol = portProtocol(entry?.protocol ?? 'TCP');
    if (typeof name !== 'string' || name === '' || typeof port !== 'number' || protocol === undefined) continue;
    out.push(sharedPort(name, protocol, port));
  }
  if (out.length === 0) return NONE;
  const key = out.map(portText).join(' ');
  let shared = PORT_LISTS.get(key);
  if (shared === undefined) {
    shared = Object.freeze(out);
    if (PORT_LISTS.size < MAX_SHARED_PORTS) PORT_LISTS.set(key, shared);
  }
  return shared;
}

function cidrList(list: unknown): string[] {
  if (!Array.isArray(list)) return [];
  const out: string[] = [];
  for (const text of list) {
    if (typeof text !== 'string') continue;
    const cidr = canonicalCidr(text);
    if (cidr !== undefined && !out.includes(cidr)) out.push(cidr);
  }
  return out;
}

function hostCidrs(list: unknown): string[] {
  const cidrs: string[] = [];
  if (!Array.isArray(list)) return cidrs;
  for (const text of list) {
    if (typeof text !== 'string') continue;
    const ip = canonicalIp(text.split('/', 1)[0]!); // the address part; a prefix is ignored
    if (ip === undefined) continue;
    const suffix = ip.includes(':') ? '/128' : '/32';
    // The text as written when it is already canonical (the usual case): a concatenation of 13
    // characters or more is a cons string in V8, which stays two objects once flattened as a key,
    // and the graph keeps this string for the endpoint's lifetime (issue 14).
    const cidr = text.length === ip.length + suffix.length && text.startsWith(ip) && text.endsWith(suffix) ? text : ip + suffix;
    if (!cidrs.includes(cidr)) cidrs.push(cidr);
  }
  return cidrs;
}

function stringList(list: unknown): string[] {
  return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
}

function labelsOf(res: Resource): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.metadata?.labels ?? {})) if (typeof v === 'string') out[k] = v;
  return out;
}

/**
 * A WorkloadEndpoint's data. The namespace and orchestrator labels Calico stores on every
 * workload endpoint are added when missing. Addresses are taken as /32 or /128, whatever their
 * written prefix (as Felix does).
 */
export function workloadEndpointData(namespace: string, name: string, res: Resource): EndpointData {
  const spec = (res.spec ?? {}) as Partial<WorkloadEndpointSpec>;
  const labels = labelsOf(res);
  labels[NAMESPACE_LABEL] ??= namespace;
  labels[ORCHESTRATOR_LABEL] ??= spec.orchestrator ?? '';
  const data: EndpointData = {
    kind: 'workload',
    id: workloadId(namespace, name),
    node: spec.node ?? '',
    labels,
    profiles: compact(stringList(spec.profiles)),
    cidrs: compact(hostCidrs(spec.ipNetworks)),
    ports: namedPorts(spec.ports),
    interfaceName: spec.interfaceName ?? '',
    allowSpoofedSourcePrefixes: compact(cidrList(spec.allowSpoofedSourcePrefixes)),
  };
  if (typeof spec.mac === 'string' && spec.mac !== '') data.mac = spec.mac;
  const nats = spec.orchestrator === 'openstack' ? floatingIps(spec.ipNATs, data.cidrs) : [];
  if (nats.length > 0) data.nats = nats;
  return data;
}

/**
 * The usable `ipNATs` of an endpoint: both addresses valid and of one family, the internal one
 * among the endpoint's own (Calico's validation; Felix skips the rest). Felix programs them for
 * OpenStack endpoints, and for others only with `FloatingIPs: Enabled`, which Margay does not
 * act on yet, so the caller passes only OpenStack endpoints' NATs.
 */
function floatingIps(list: unknown, ownCidrs: readonly string[]): FloatingIp[] {
  if (!Array.isArray(list)) return [];
  const out: FloatingIp[] = [];
  for (const entry of list as Array<Record<string, unknown>>) {
    const internal = typeof entry?.internalIP === 'string' ? canonicalIp(entry.internalIP) : undefined;
    const external = typeof entry?.externalIP === 'string' ? canonicalIp(entry.externalIP) : undefined;
    if (internal === undefined || external === undefined || !ownCidrs.includes(`${internal}/${internal.includes(':') ? 128 : 32}`)) continue;
    if (internal.includes(':') !== external.includes(':')) continue;
    if (!out.some((n) => n.external === external && n.internal === internal)) out.push({ internal, external });
  }
  return out;
}

/** A HostEndpoint's data: its expected IPs are its addresses. */
export function hostEndpointData(name: string, res: Resource): EndpointData {
  const spec = (res.spec ?? {}) as Partial<HostEndpointSpec>;
  return {
    kind: 'host',
    id: hostEndpointId(name),
    node: spec.node ?? '',
    labels: labelsOf(res),
    profiles: compact(stringList(spec.profiles)),
    cidrs: compact(hostCidrs(spec.expectedIPs)),
    ports: namedPorts(spec.ports),
    interfaceName: spec.interfaceName ?? '',
    allowSpoofedSourcePrefixes: NONE,
  };
}

/**
 * A NetworkSet's (namespace given) or GlobalNetworkSet's data. A namespaced set gets the
 * namespace label and inherits the namespace profile's labels, as Calico arranges.
 */
export function networkSetData(id: string, namespace: string | undefined, res: Resource): NetworkSetData {
  const spec = (res.spec ?? {}) as NetworkSetSpec;
  const labels = labelsOf(res);
  const parents: string[] = [];
  if (namespace !== undefined) {
    labels[NAMESPACE_LABEL] = namespace;
    parents.push(`${NAMESPACE_PROFILE_PREFIX}${namespace}`);
  }
  const cidrs = cidrList(spec.nets).flatMap(splitZeroPrefix);
  return { id, labels, parents, cidrs: [...new Set(cidrs)] };
}

/** True when two endpoints contribute the same IP-set members (addresses and named ports). */
export function sameMembersSource(a: { cidrs: readonly string[]; ports?: readonly NamedPort[] }, b: typeof a): boolean {
  return sameList(a.cidrs, b.cidrs) && (a.ports === b.ports || sameList((a.ports ?? []).map(portText), (b.ports ?? []).map(portText)));
}

function portText(p: NamedPort): string {
  return `${p.name}/${p.protocol}/${p.port}`;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Splits a /0 network into its two /1 halves (the kernel's sets cannot hold a /0, as Felix notes);
 * any other network is returned as is.
 */
function splitZeroPrefix(cidr: string): string[] {
  if (cidr === '0.0.0.0/0') return ['0.0.0.0/1', '128.0.0.0/1'];
  if (cidr === '::/0') return ['::/1', '8000::/1'];
  return [cidr];
}
