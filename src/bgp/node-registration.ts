/**
 * What calico/node does at startup, for Margay's agent: register this host's Node (its BGP
 * IPv4/IPv6 addresses, found by autodetection or given, and its AS number) and create the
 * default IP pools when none exist. Everything else on an existing Node (labels, annotations,
 * other spec fields, status) is kept.
 */
import type { Resource } from '../api/mod.ts';
import { API_VERSION } from '../api/mod.ts';
import { nodeKind } from '../api/mod.ts';
import { ipPoolKind } from '../api/mod.ts';
import { validateResource } from '../api/mod.ts';
import type { ResourceStore } from '../datastore/mod.ts';
import { hasCode, MargayError } from '../errors/mod.ts';
import { autodetectAddress, type AutodetectSources, localCidrOf, parseAutodetectionMethod } from './autodetect.ts';
import { addressOf, canonicalCidr, formatIp, parseCidrOrIp, parseIpNet } from '../net/mod.ts';
import { asNumberOf } from './ids.ts';
import type { NodeSpec } from './types.ts';
import { randomBytes } from 'node:crypto';

/** How this host's Node is registered (calico/node's `IP`, `IP6`, `IP*_AUTODETECTION_METHOD`, `AS`). */
export interface NodeRegistrationOptions {
  nodeName: string;
  /**
   * IPv4: `autodetect`, `none`, or an address (`192.0.2.11` or `192.0.2.11/24`). Undefined:
   * keep the Node's address, autodetect when it has none (Calico's default).
   */
  ip?: string;
  /** IPv6, the same; undefined keeps what the Node has (no detection), as Calico's default. */
  ip6?: string;
  /** IPv4 autodetection method (default `first-found`). */
  ipAutodetectionMethod?: string;
  /** IPv6 autodetection method (default `first-found`). */
  ip6AutodetectionMethod?: string;
  /** The node's AS number; undefined keeps the Node's (or the cluster default). */
  asNumber?: number | string;
  /**
   * The Kubernetes node this is (calico/node's `CALICO_K8S_NODE_REF`): recorded as
   * `spec.orchRefs: [{orchestrator: k8s, nodeName}]`, which tells kube-controllers to delete this
   * Node when that Kubernetes node is deleted.
   */
  kubernetesNodeRef?: string;
}

/** What registration decided. */
export interface NodeRegistration {
  node: Resource;
  /** created, updated or unchanged. */
  outcome: 'created' | 'updated' | 'unchanged';
  /** Which interface each detected address came from. */
  detected: { ipv4?: string; ipv6?: string; ipv4Interface?: string; ipv6Interface?: string };
  warnings: string[];
}

async function resolveFamily(
  family: 4 | 6,
  setting: string | undefined,
  existing: string | undefined,
  method: string | undefined,
  sources: AutodetectSources,
  warnings: string[],
): Promise<{ value: string | undefined; iface?: string }> {
  const v = setting?.trim();
  if (v === 'none') return { value: undefined };
  const detect = v === 'autodetect' || (family === 4 && (v === undefined || v === '') && !existing);
  if (detect) {
    const parsed = parseAutodetectionMethod(method, family === 6 ? 'IP6_AUTODETECTION_METHOD' : 'IP_AUTODETECTION_METHOD');
    const found = await autodetectAddress(parsed, family, sources);
    if (!found) {
      warnings.push(`no IPv${family} address found by autodetection method ${method ?? 'first-found'}`);
      return { value: undefined };
    }
    return { value: found.cidr, ...(found.interface ? { iface: found.interface } : {}) };
  }
  if (v === undefined || v === '') return { value: existing };
  const net = parseIpNet(v, { allowBareIp: true });
  if (!net || net.ip.family !== family) {
    throw new MargayError('MARGAY_ERR_CONFIG', `IP${family === 6 ? '6' : ''}=${v} is not an IPv${family} address (use an address, autodetect or none)`);
  }
  if (v.includes('/')) return { value: v };
  // An address without a prefix: take the prefix of the interface that has it.
  const local = localCidrOf(await sources.interfaces(), formatIp(net.ip));
  return { value: local.cidr, ...(local.interface ? { iface: local.interface } : {}) };
}

/** The Node this host should have (pure given `sources`): existing fields kept, BGP fields decided. */
export async function desiredNode(
  existing: Resource | undefined,
  options: NodeRegistrationOptions,
  sources: AutodetectSources,
): Promise<{ node: Resource; detected: NodeRegistration['detected']; warnings: string[] }> {
  const warnings: string[] = [];
  const spec = { ...((existing?.spec ?? {}) as NodeSpec & Record<string, unknown>) };
  const bgp = { ...(spec.bgp ?? {}) };
  const v4 = await resolveFamily(4, options.ip, bgp.ipv4Address, options.ipAutodetectionMethod, sources, warnings);
  const v6 = await resolveFamily(6, options.ip6, bgp.ipv6Address, options.ip6AutodetectionMethod, sources, warnings);
  if (v4.value) bgp.ipv4Address = v4.value;
  else delete bgp.ipv4Address;
  if (v6.value) bgp.ipv6Address = v6.value;
  else delete bgp.ipv6Address;
  if (options.asNumber !== undefined && options.asNumber !== '') {
    const asn = asNumberOf(options.asNumber);
    if (asn === undefined) throw new MargayError('MARGAY_ERR_CONFIG', `AS=${options.asNumber} is not an AS number (0-4294967295 or the dotted form)`);
    bgp.asNumber = asn;
  }
  if (!bgp.ipv4Address && !bgp.ipv6Address) {
    throw new MargayError('MARGAY_ERR_NOT_FOUND', `node ${options.nodeName} has no IPv4 or IPv6 address: ${warnings.join('; ') || 'both are set to none'}`);
  }
  if (Object.values(bgp).some((x) => x !== undefined && x !== '')) spec.bgp = bgp;
  else delete spec.bgp;
  if (options.kubernetesNodeRef) spec.orchRefs = [{ nodeName: options.kubernetesNodeRef, orchestrator: 'k8s' }];
  const input: Record<string, unknown> = {
    apiVersion: API_VERSION,
    kind: 'Node',
    metadata: {
      name: options.nodeName,
      ...(existing?.metadata.labels ? { labels: existing.metadata.labels } : {}),
      ...(existing?.metadata.annotations ? { annotations: existing.metadata.annotations } : {}),
    },
    spec,
  };
  const node = validateResource(input);
  if (existing?.status) node.status = existing.status;
  if (existing) {
    node.metadata = { ...existing.metadata, ...node.metadata };
  }
  return {
    node,
    detected: {
      ...(v4.value ? { ipv4: v4.value } : {}),
      ...(v6.value ? { ipv6: v6.value } : {}),
      ...(v4.iface ? { ipv4Interface: v4.iface } : {}),
      ...(v6.iface ? { ipv6Interface: v6.iface } : {}),
    },
    warnings,
  };
}

/** Another Node already uses one of this node's BGP addresses (Calico refuses to start then). */
function conflictingNode(nodes: Resource[], name: string, spec: NodeSpec): string | undefined {
  const mine = [spec.bgp?.ipv4Address, spec.bgp?.ipv6Address].filter((a): a is string => !!a).map((a) => addressOf(a));
  for (const other of nodes) {
    if (other.metadata.name === name) continue;
    const o = (other.spec ?? {}) as NodeSpec;
    for (const a of [o.bgp?.ipv4Address, o.bgp?.ipv6Address]) {
      if (a && mine.includes(addressOf(a))) return `${other.metadata.name} (${a})`;
    }
  }
  return undefined;
}

/**
 * Creates or updates this host's Node. Retries when another writer changed the Node meanwhile;
 * refuses an address another Node already uses.
 */
export async function registerNode(store: ResourceStore, options: NodeRegistrationOptions, sources: AutodetectSources): Promise<NodeRegistration> {
  for (let attempt = 0; ; attempt++) {
    const existing = await store.get(nodeKind, options.nodeName);
    const { node, detected, warnings } = await desiredNode(existing, options, sources);
    const conflict = conflictingNode((await store.list(nodeKind)).items, options.nodeName, (node.spec ?? {}) as NodeSpec);
    if (conflict) {
      throw new MargayError('MARGAY_ERR_ALREADY_EXISTS', `node ${options.nodeName}: its address is already used by node ${conflict}; set IP/IP6 or the autodetection method`);
    }
    try {
      if (!existing) {
        const res = await store.create(node);
        return { node: res.resource, outcome: 'created', detected, warnings };
      }
      node.metadata.resourceVersion = existing.metadata.resourceVersion;
      const res = await store.replace(node);
      return { node: res.resource, outcome: res.outcome === 'unchanged' ? 'unchanged' : 'updated', detected, warnings };
    } catch (err) {
      if (attempt < 5 && (hasCode(err, 'MARGAY_ERR_CONFLICT') || hasCode(err, 'MARGAY_ERR_ALREADY_EXISTS') || hasCode(err, 'MARGAY_ERR_NOT_FOUND'))) continue;
      throw err;
    }
  }
}

/** calico/node's default pools (`CALICO_IPV4POOL_*`, `CALICO_IPV6POOL_*`, `NO_DEFAULT_POOLS`). */
export interface DefaultPoolOptions {
  /** Create nothing (NO_DEFAULT_POOLS). */
  noDefaultPools?: boolean;
  /** IPv4 pool CIDR (default 192.168.0.0/16); `ipv4: false` skips it. */
  ipv4?: boolean;
  ipv4Cidr?: string;
  ipv4BlockSize?: number;
  /** natOutgoing of the IPv4 pool (default true). */
  ipv4NatOutgoing?: boolean;
  ipv4VxlanMode?: 'Never' | 'Always' | 'CrossSubnet';
  ipv4NodeSelector?: string;
  /** Create an IPv6 pool too (default false: only when asked). */
  ipv6?: boolean;
  /** IPv6 pool CIDR (default: a random unique local /48, as Calico generates). */
  ipv6Cidr?: string;
  ipv6BlockSize?: number;
  ipv6NatOutgoing?: boolean;
  ipv6VxlanMode?: 'Never' | 'Always' | 'CrossSubnet';
  ipv6NodeSelector?: string;
}

/** A random unique local IPv6 /48 (fdXX:XXXX:XXXX::/48), as Calico picks for its default IPv6 pool. */
export function randomUlaPrefix(random: (n: number) => Buffer = randomBytes): string {
  const b = random(5);
  const hex = (i: number) => b[i]!.toString(16).padStart(2, '0');
  const text = `fd${hex(0)}:${hex(1)}${hex(2)}:${hex(3)}${hex(4)}::/48`;
  return canonicalCidr(text) ?? text;
}

/**
 * Creates `default-ipv4-ippool` (and `default-ipv6-ippool` when asked) when no pool of that
 * family exists. Safe to run on every host at once: a pool someone else just created is kept.
 * Returns the pools it created.
 */
export async function ensureDefaultPools(store: ResourceStore, options: DefaultPoolOptions = {}): Promise<Resource[]> {
  if (options.noDefaultPools) return [];
  const created: Resource[] = [];
  const existing = (await store.list(ipPoolKind)).items;
  const hasFamily = (family: 4 | 6) => existing.some((p) => parseCidrOrIp(String((p.spec ?? {}).cidr ?? ''))?.family === family);
  const wanted: { family: 4 | 6; name: string; spec: Record<string, unknown> }[] = [];
  if ((options.ipv4 ?? true) && !hasFamily(4)) {
    wanted.push({
      family: 4,
      name: 'default-ipv4-ippool',
      spec: {
        cidr: options.ipv4Cidr ?? '192.168.0.0/16',
        ...(options.ipv4BlockSize !== undefined ? { blockSize: options.ipv4BlockSize } : {}),
        natOutgoing: options.ipv4NatOutgoing ?? true,
        ipipMode: 'Never',
        vxlanMode: options.ipv4VxlanMode ?? 'Never',
        nodeSelector: options.ipv4NodeSelector ?? 'all()',
      },
    });
  }
  if (options.ipv6 && !hasFamily(6)) {
    wanted.push({
      family: 6,
      name: 'default-ipv6-ippool',
      spec: {
        cidr: options.ipv6Cidr ?? randomUlaPrefix(),
        ...(options.ipv6BlockSize !== undefined ? { blockSize: options.ipv6BlockSize } : {}),
        natOutgoing: options.ipv6NatOutgoing ?? false,
        vxlanMode: options.ipv6VxlanMode ?? 'Never',
        nodeSelector: options.ipv6NodeSelector ?? 'all()',
      },
    });
  }
  for (const w of wanted) {
    const cidr = parseCidrOrIp(String(w.spec.cidr));
    if (!cidr || cidr.family !== w.family) {
      throw new MargayError('MARGAY_ERR_CONFIG', `default IPv${w.family} pool CIDR ${String(w.spec.cidr)} is not an IPv${w.family} CIDR`);
    }
    const pool = validateResource({ apiVersion: API_VERSION, kind: 'IPPool', metadata: { name: w.name }, spec: w.spec });
    try {
      const res = await store.create(pool, { skipExists: true });
      if (res.outcome === 'created') created.push(res.resource);
    } catch (err) {
      // Another host created this pool, or an overlapping one of the same family, first: fine.
      if (hasCode(err, 'MARGAY_ERR_ALREADY_EXISTS')) continue;
      if (hasCode(err, 'MARGAY_ERR_VALIDATION') && (await store.list(ipPoolKind)).items.some((p) => parseCidrOrIp(String((p.spec ?? {}).cidr ?? ''))?.family === w.family)) continue;
      throw err;
    }
  }
  return created;
}
