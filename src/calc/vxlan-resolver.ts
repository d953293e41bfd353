/**
 * The VXLAN resolver (Felix's `VXLANResolver`, with the route choice of its VXLAN manager): from
 * the Nodes, the IP pools and the IPAM blocks, what this host's kernel needs so that pools with
 * vxlanMode `Always` or `CrossSubnet` work (calico-facts §1), with Margay's names:
 *
 *  - one device per family with a VXLAN pool: `vxlan.margay` (IPv4 underlay) / `vxlan-v6.margay`
 *    (IPv6 underlay), VNI 4096, UDP port 4789, learning off, the Node's `vxlanTunnelMACAddr`
 *    (`…V6`) as its MAC and its `ipv4VXLANTunnelAddr` (`ipv6…`) as its only address (/32, /128);
 *  - per remote VTEP (another Node with a tunnel address, MAC and BGP address of the family): a
 *    permanent neighbour entry `tunnelIP → MAC` and a permanent FDB entry `MAC → node IP`;
 *  - per remote block of a VXLAN pool: `block via <remote tunnel IP> dev vxlan.margay onlink`;
 *    with `CrossSubnet`, a remote host on this host's own subnet gets `block via <node IP>`
 *    instead (plain routing, no encapsulation);
 *  - the same for addresses a remote host's workloads borrowed from other blocks (/32, /128).
 *
 * Pure. The plan goes to the dataplane whole ({@link VxlanPlan}, one `vxlan-update`), when it
 * changed; its VXLAN manager programs it (src/dataplane/vxlan/). A host without VXLAN pools gets
 * no message at all: the dataplane's starting plan is {@link noVxlanPlan}.
 */
import type { IPPoolSpec } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { type BlockRouting, blockRouting } from '../ipam/mod.ts';
import type { VxlanCallbacks } from './callbacks.ts';
import type { IpFamily, VxlanPlan } from './model.ts';
import { type Cidr, cidrContainsCidr, formatCidr, type HostAddress, parseCidrOrIp, parseHostAddress, sameSubnet } from '../net/mod.ts';

/** The IPv4 VXLAN device. */
export const VXLAN_DEVICE_V4 = 'vxlan.margay';
/** The IPv6 VXLAN device. */
export const VXLAN_DEVICE_V6 = 'vxlan-v6.margay';
/** Calico's VNI and port. */
export const VXLAN_VNI = 4096;
export const VXLAN_PORT = 4789;

/** The plan of a host without VXLAN (no VXLAN pool): no device of either family. */
export function noVxlanPlan(): VxlanPlan {
  return { devices: [], vteps: [], routes: [], absent: [4, 6], warnings: [] };
}

/** A block as the planner needs it. */
export type VxlanBlock = Pick<BlockRouting, 'cidr' | 'family' | 'host'> & { borrowedBy?: BlockRouting['borrowedBy'] };

/** The planner's input. */
export interface VxlanPlanInput {
  nodeName: string;
  nodes: Resource[];
  pools: Resource[];
  blocks: VxlanBlock[];
}

/** The Node fields the planner reads. */
interface NodeFields {
  bgp?: { ipv4Address?: string; ipv6Address?: string };
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
}

interface NodeInfo {
  name: string;
  addr: Partial<Record<IpFamily, HostAddress>>;
  tunnel: Partial<Record<IpFamily, { ip: string; mac: string }>>;
}

function nodeInfo(res: Resource): NodeInfo {
  const spec = (res.spec ?? {}) as NodeFields;
  const info: NodeInfo = { name: res.metadata?.name ?? '', addr: {}, tunnel: {} };
  const v4 = parseHostAddress(spec.bgp?.ipv4Address);
  const v6 = parseHostAddress(spec.bgp?.ipv6Address);
  if (v4?.family === 4) info.addr[4] = v4;
  if (v6?.family === 6) info.addr[6] = v6;
  const t4 = parseHostAddress(spec.ipv4VXLANTunnelAddr);
  const t6 = parseHostAddress(spec.ipv6VXLANTunnelAddr);
  if (t4?.family === 4 && spec.vxlanTunnelMACAddr) info.tunnel[4] = { ip: t4.ip, mac: spec.vxlanTunnelMACAddr.toLowerCase() };
  if (t6?.family === 6 && spec.vxlanTunnelMACAddrV6) info.tunnel[6] = { ip: t6.ip, mac: spec.vxlanTunnelMACAddrV6.toLowerCase() };
  return info;
}

type VxlanMode = 'Always' | 'CrossSubnet';

/** VXLAN pools of a family: their CIDR and mode. */
function vxlanPools(pools: Resource[], family: IpFamily): { cidr: Cidr; mode: VxlanMode }[] {
  const out: { cidr: Cidr; mode: VxlanMode }[] = [];
  for (const p of pools) {
    const spec = (p.spec ?? {}) as unknown as IPPoolSpec;
    if (spec.vxlanMode !== 'Always' && spec.vxlanMode !== 'CrossSubnet') continue;
    const cidr = parseCidrOrIp(spec.cidr ?? '');
    if (cidr && cidr.family === family) out.push({ cidr, mode: spec.vxlanMode });
  }
  return out;
}

/** Plans one family: its device, the other VTEPs and the routes (appended to `plan`). */
function planFamily(plan: VxlanPlan, family: IpFamily, pools: { cidr: Cidr; mode: VxlanMode }[], input: VxlanPlanInput, nodes: Map<string, NodeInfo>): void {
  const name = family === 4 ? VXLAN_DEVICE_V4 : VXLAN_DEVICE_V6;
  const me = nodes.get(input.nodeName);
  const myAddr = me?.addr[family];
  const myTunnel = me?.tunnel[family];
  if (!me || !myAddr || !myTunnel) {
    plan.warnings.push(
      `IPv${family} VXLAN: node ${input.nodeName} has no ${!myAddr ? `IPv${family} BGP address` : 'VXLAN tunnel address and MAC'} yet; ${name} not programmed`,
    );
    plan.absent.push(family);
    return;
  }
  plan.devices.push({ family, name, vni: VXLAN_VNI, port: VXLAN_PORT, localIp: myAddr.ip, mac: myTunnel.mac, tunnelIp: myTunnel.ip });
  for (const n of [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (n.name === input.nodeName) continue;
    const addr = n.addr[family];
    const t = n.tunnel[family];
    if (addr && t) plan.vteps.push({ family, node: n.name, tunnelIp: t.ip, mac: t.mac, nodeIp: addr.ip });
  }
  const routeTo = (dst: string, host: string, mode: VxlanMode) => {
    const remote = nodes.get(host);
    const addr = remote?.addr[family];
    if (!remote || !addr) {
      plan.warnings.push(`IPv${family} VXLAN: ${dst} belongs to ${host}, which has no IPv${family} address; no route`);
      return;
    }
    if (mode === 'CrossSubnet' && sameSubnet(myAddr, addr.ip)) {
      plan.routes.push({ dst, family, via: addr.ip, node: host });
      return;
    }
    const t = remote.tunnel[family];
    if (!t) {
      plan.warnings.push(`IPv${family} VXLAN: ${host} has no VXLAN tunnel address yet; no route to ${dst}`);
      return;
    }
    plan.routes.push({ dst, family, via: t.ip, dev: name, node: host });
  };
  const seen = new Set<string>();
  const route = (dst: string, host: string, mode: VxlanMode) => {
    if (seen.has(dst)) return;
    seen.add(dst);
    routeTo(dst, host, mode);
  };
  for (const b of [...input.blocks].sort((x, y) => (x.cidr < y.cidr ? -1 : 1))) {
    const net = b.family === family ? parseCidrOrIp(b.cidr) : undefined;
    const pool = net && pools.find((p) => cidrContainsCidr(p.cidr, net));
    if (!net || !pool) continue;
    if (b.host && b.host !== input.nodeName) route(formatCidr(net), b.host, pool.mode);
    for (const [node, ips] of [...(b.borrowedBy ?? new Map<string, string[]>())].sort()) {
      if (node === input.nodeName) continue;
      for (const ip of ips) route(formatCidr(parseCidrOrIp(ip)!), node, pool.mode);
    }
  }
}

/** Plans this host's VXLAN state. Deterministic: output sorted. */
export function planVxlan(input: VxlanPlanInput): VxlanPlan {
  const plan: VxlanPlan = { ...noVxlanPlan(), absent: [] };
  const pools = { 4: vxlanPools(input.pools, 4), 6: vxlanPools(input.pools, 6) };
  // Without a VXLAN pool nobody's Node matters: no need to read them.
  const nodes = pools[4].length + pools[6].length > 0 ? new Map(input.nodes.map((n) => [n.metadata?.name ?? '', nodeInfo(n)])) : new Map<string, NodeInfo>();
  for (const family of [4, 6] as const) {
    if (pools[family].length === 0) plan.absent.push(family);
    else planFamily(plan, family, pools[family], input, nodes);
  }
  plan.routes.sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
  return plan;
}

/** Follows Nodes, pools and blocks and reports this host's {@link VxlanPlan} when it changes. */
export class VxlanResolver {
  readonly #hostname: string;
  readonly #out: VxlanCallbacks;
  readonly #nodes = new Map<string, Resource>();
  readonly #pools = new Map<string, Resource>();
  readonly #blocks = new Map<string, VxlanBlock>();
  #dirty = false;
  /** The plan last reported; the dataplane starts from {@link noVxlanPlan}, so that one is never sent. */
  #sent = JSON.stringify(noVxlanPlan());

  constructor(hostname: string, out: VxlanCallbacks) {
    this.#hostname = hostname;
    this.#out = out;
  }

  /** A Node (undefined: deleted). */
  onNodeUpdate(name: string, node: Resource | undefined): void {
    this.#set(this.#nodes, name, node);
  }

  /** An IPPool (undefined: deleted). */
  onPoolUpdate(name: string, pool: Resource | undefined): void {
    this.#set(this.#pools, name, pool);
  }

  /** An IPAM block by its datastore key, as stored (undefined: deleted). */
  onBlockUpdate(key: string, value: unknown): void {
    this.#set(this.#blocks, key, blockRouting(value));
  }

  /** Plans again if something changed since the last flush, and reports a changed plan. */
  flush(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    const plan = planVxlan({ nodeName: this.#hostname, nodes: [...this.#nodes.values()], pools: [...this.#pools.values()], blocks: [...this.#blocks.values()] });
    const text = JSON.stringify(plan);
    if (text === this.#sent) return;
    this.#sent = text;
    this.#out.onVxlanPlan(plan);
  }

  #set<T>(map: Map<string, T>, key: string, value: T | undefined): void {
    if (value === undefined) {
      if (map.delete(key)) this.#dirty = true;
      return;
    }
    map.set(key, value);
    this.#dirty = true;
  }
}
