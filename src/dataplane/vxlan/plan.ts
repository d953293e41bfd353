/**
 * The VXLAN planner (pure): what this host's kernel needs so that pools with vxlanMode `Always`
 * or `CrossSubnet` work, as Felix's VXLAN manager does it (calico-facts §1), with Margay's names:
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
 * Routes carry their own protocol number ({@link MARGAY_VXLAN_ROUTE_PROTOCOL}), distinct from the
 * agent's route driver (77), which sweeps every route of its own protocol.
 */
import type { IPPoolSpec } from '../../api/kinds/ip-pool.ts';
import type { Resource } from '../../api/resource.ts';
import { type Cidr, cidrContainsCidr, formatCidr, type HostAddress, parseCidrOrIp, parseHostAddress, sameSubnet } from '../../net/mod.ts';
import type { NodeSpec } from '../../bgp/types.ts';

/** The IPv4 VXLAN device. */
export const VXLAN_DEVICE_V4 = 'vxlan.margay';
/** The IPv6 VXLAN device. */
export const VXLAN_DEVICE_V6 = 'vxlan-v6.margay';
/** Calico's VNI and port. */
export const VXLAN_VNI = 4096;
export const VXLAN_PORT = 4789;
/** Route protocol of VXLAN routes: 78 (0x4e), next to the agent's 77 and unassigned in rt_protos. */
export const MARGAY_VXLAN_ROUTE_PROTOCOL = 78;
/** Bytes of VXLAN encapsulation: 50 over IPv4, 70 over IPv6. */
export const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const;

/** A block as the planner needs it (see BgpView.blocks()). */
export interface VxlanBlock {
  cidr: string;
  family: 4 | 6;
  host?: string;
  /** node → addresses its workloads use in this block (when not the block's host). */
  borrowedBy?: Map<string, string[]>;
}

/** The planner's input. */
export interface VxlanPlanInput {
  nodeName: string;
  nodes: Resource[];
  pools: Resource[];
  blocks: VxlanBlock[];
}

/** This host's VXLAN device of one family. */
export interface VxlanDevicePlan {
  family: 4 | 6;
  name: string;
  vni: number;
  port: number;
  /** Underlay source: this host's BGP address. */
  localIp: string;
  mac: string;
  /** The tunnel address (`10.244.1.0`), given /32 or /128 on the device. */
  tunnelIp: string;
}

/** A remote VXLAN endpoint. */
export interface VtepPlan {
  family: 4 | 6;
  node: string;
  tunnelIp: string;
  mac: string;
  nodeIp: string;
}

/** A route the VXLAN driver owns. */
export interface VxlanRoutePlan {
  /** Normalised destination CIDR. */
  dst: string;
  family: 4 | 6;
  /** The next hop: the remote tunnel address (encapsulated) or node address (CrossSubnet, same subnet). */
  via: string;
  /** Set for encapsulated routes (`onlink` through the device). */
  dev?: string;
  /** The remote host. */
  node: string;
}

/** Everything the VXLAN driver programs. */
export interface VxlanPlan {
  devices: VxlanDevicePlan[];
  vteps: VtepPlan[];
  routes: VxlanRoutePlan[];
  /** Families whose device must not exist (no VXLAN pool, or this host is not ready). */
  absent: (4 | 6)[];
  warnings: string[];
}

interface NodeInfo {
  name: string;
  addr: Partial<Record<4 | 6, HostAddress>>;
  tunnel: Partial<Record<4 | 6, { ip: string; mac: string }>>;
}

function nodeInfo(res: Resource): NodeInfo {
  const spec = (res.spec ?? {}) as NodeSpec;
  const v4 = parseHostAddress(spec.bgp?.ipv4Address);
  const v6 = parseHostAddress(spec.bgp?.ipv6Address);
  const info: NodeInfo = { name: res.metadata.name, addr: {}, tunnel: {} };
  if (v4?.family === 4) info.addr[4] = v4;
  if (v6?.family === 6) info.addr[6] = v6;
  const t4 = parseHostAddress(spec.ipv4VXLANTunnelAddr);
  const t6 = parseHostAddress(spec.ipv6VXLANTunnelAddr);
  if (t4?.family === 4 && spec.vxlanTunnelMACAddr) info.tunnel[4] = { ip: t4.ip, mac: spec.vxlanTunnelMACAddr.toLowerCase() };
  if (t6?.family === 6 && spec.vxlanTunnelMACAddrV6) info.tunnel[6] = { ip: t6.ip, mac: spec.vxlanTunnelMACAddrV6.toLowerCase() };
  return info;
}

/** VXLAN pools of a family: their CIDR and mode. */
function vxlanPools(pools: Resource[], family: 4 | 6): { cidr: Cidr; mode: 'Always' | 'CrossSubnet' }[] {
  const out: { cidr: Cidr; mode: 'Always' | 'CrossSubnet' }[] = [];
  for (const p of pools) {
    const spec = (p.spec ?? {}) as unknown as IPPoolSpec;
    if (spec.vxlanMode !== 'Always' && spec.vxlanMode !== 'CrossSubnet') continue;
    const cidr = parseCidrOrIp(spec.cidr ?? '');
    if (cidr && cidr.family === family) out.push({ cidr, mode: spec.vxlanMode });
  }
  return out;
}

/** Plans this host's VXLAN state. Deterministic: output sorted. */
export function planVxlan(input: VxlanPlanInput): VxlanPlan {
  const plan: VxlanPlan = { devices: [], vteps: [], routes: [], absent: [], warnings: [] };
  const nodes = new Map(input.nodes.map((n) => [n.metadata.name, nodeInfo(n)]));
  const me = nodes.get(input.nodeName);
  for (const family of [4, 6] as const) {
    const pools = vxlanPools(input.pools, family);
    const name = family === 4 ? VXLAN_DEVICE_V4 : VXLAN_DEVICE_V6;
    if (pools.length === 0) {
      plan.absent.push(family);
      continue;
    }
    const myAddr = me?.addr[family];
    const myTunnel = me?.tunnel[family];
    if (!me || !myAddr || !myTunnel) {
      plan.warnings.push(
        `IPv${family} VXLAN: node ${input.nodeName} has no ${!myAddr ? `IPv${family} BGP address` : 'VXLAN tunnel address and MAC'} yet; ${name} not programmed`,
      );
      plan.absent.push(family);
      continue;
    }
    plan.devices.push({ family, name, vni: VXLAN_VNI, port: VXLAN_PORT, localIp: myAddr.ip, mac: myTunnel.mac, tunnelIp: myTunnel.ip });
    for (const n of [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (n.name === input.nodeName) continue;
      const addr = n.addr[family];
      const t = n.tunnel[family];
      if (addr && t) plan.vteps.push({ family, node: n.name, tunnelIp: t.ip, mac: t.mac, nodeIp: addr.ip });
    }
    const routeTo = (dst: string, host: string, mode: 'Always' | 'CrossSubnet') => {
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
    const poolOf = (cidrText: string) => {
      const net = parseCidrOrIp(cidrText);
      return net ? pools.find((p) => cidrContainsCidr(p.cidr, net)) : undefined;
    };
    const seen = new Set<string>();
    for (const b of [...input.blocks].sort((x, y) => (x.cidr < y.cidr ? -1 : 1))) {
      if (b.family !== family) continue;
      const pool = poolOf(b.cidr);
      if (!pool) continue;
      if (b.host && b.host !== input.nodeName) {
        const dst = formatCidr(parseCidrOrIp(b.cidr)!);
        if (!seen.has(dst)) {
          seen.add(dst);
          routeTo(dst, b.host, pool.mode);
        }
      }
      for (const [node, ips] of [...(b.borrowedBy ?? new Map<string, string[]>())].sort()) {
        if (node === input.nodeName) continue;
        for (const ip of ips) {
          const dst = formatCidr(parseCidrOrIp(ip)!);
          if (seen.has(dst)) continue;
          seen.add(dst);
          routeTo(dst, node, pool.mode);
        }
      }
    }
  }
  plan.routes.sort((a, b) => (a.dst < b.dst ? -1 : a.dst > b.dst ? 1 : 0));
  return plan;
}
