/**
 * This host's VXLAN tunnel addresses, kept with the rest of the Node's registration
 * (node-registration.ts), as calico/node's `allocateip` keeps them: when a pool with
 * vxlanMode Always/CrossSubnet applies to the node, the Node gets `ipv4VXLANTunnelAddr` (from
 * such a pool, through IPAM, handle `vxlan-tunnel-addr-<node>`, use Tunnel) and
 * `vxlanTunnelMACAddr`; IPv6 the same with `ipv6VXLANTunnelAddr`, `vxlanTunnelMACAddrV6` and
 * handle `vxlan-v6-tunnel-addr-<node>`. When no VXLAN pool applies any more, the address is
 * released and removed from the Node. The MAC is derived from the node name (stable across
 * restarts, locally administered unicast), unless the Node already has one.
 */
import { createHash } from 'node:crypto';
import { nodeKind } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { validateResource } from '../api/mod.ts';
import type { Datastore } from '../datastore/mod.ts';
import { ResourceStore } from '../datastore/mod.ts';
import { hasCode } from '../errors/mod.ts';
import { Ipam } from '../ipam/mod.ts';
import { cidrContainsIp, parseIp } from '../net/mod.ts';
import { poolFromResource } from '../ipam/mod.ts';
import { parseSelector } from '../selector/mod.ts';

/** The IPAM handle of a node's VXLAN tunnel address. */
export function vxlanTunnelHandle(node: string, family: 4 | 6): string {
  return family === 4 ? `vxlan-tunnel-addr-${node}` : `vxlan-v6-tunnel-addr-${node}`;
}

/** A stable, locally administered unicast MAC for a node's VXLAN device. */
export function vxlanMacFor(node: string, family: 4 | 6): string {
  const d = createHash('sha256').update(`margay-vxlan-v${family}:${node}`).digest();
  return ['66', ...[0, 1, 2, 3, 4].map((i) => d[i]!.toString(16).padStart(2, '0'))].join(':');
}

const FIELDS = {
  4: { addr: 'ipv4VXLANTunnelAddr', mac: 'vxlanTunnelMACAddr', type: 'vxlanTunnelAddress' },
  6: { addr: 'ipv6VXLANTunnelAddr', mac: 'vxlanTunnelMACAddrV6', type: 'vxlanV6TunnelAddress' },
} as const;

/** What changed on the Node. */
export interface TunnelAddressChange {
  node: Resource;
  ipv4?: string | null;
  ipv6?: string | null;
}

function matchesNode(selector: string, labels: Record<string, string>): boolean {
  try {
    return parseSelector(selector).matches(labels);
  } catch {
    return false;
  }
}

/**
 * Makes the Node's VXLAN tunnel addresses match the pools. Returns the updated Node when it
 * changed, undefined otherwise. Safe to call on every pool change.
 */
export async function ensureVxlanTunnelAddress(datastore: Datastore, nodeName: string, pools: Resource[]): Promise<TunnelAddressChange | undefined> {
  const store = new ResourceStore(datastore);
  const ipam = new Ipam(datastore);
  for (let attempt = 0; ; attempt++) {
    const node = await store.get(nodeKind, nodeName);
    if (!node) return undefined;
    const labels = node.metadata.labels ?? {};
    const spec = { ...((node.spec ?? {}) as Record<string, unknown>) };
    const change: TunnelAddressChange = { node };
    let dirty = false;
    for (const family of [4, 6] as const) {
      const f = FIELDS[family];
      const usable = pools
        .filter((p) => {
          const s = (p.spec ?? {}) as Record<string, unknown>;
          return s.vxlanMode === 'Always' || s.vxlanMode === 'CrossSubnet';
        })
        .map(poolFromResource)
        .filter((p) => p !== undefined && p.cidr.family === family && !p.disabled && p.allowedUses.includes('Tunnel') && matchesNode(p.nodeSelector, labels));
      const current = typeof spec[f.addr] === 'string' ? (spec[f.addr] as string) : undefined;
      const currentIp = current ? parseIp(current.split('/')[0]!) : undefined;
      const handle = vxlanTunnelHandle(nodeName, family);
      if (usable.length === 0) {
        if (current !== undefined) {
          await ipam.releaseByHandle(handle).catch(() => []);
          delete spec[f.addr];
          delete spec[f.mac];
          change[family === 4 ? 'ipv4' : 'ipv6'] = null;
          dirty = true;
        }
        continue;
      }
      if (!currentIp || !usable.some((p) => cidrContainsIp(p!.cidr, currentIp))) {
        // Reuse an address the handle already holds in a usable pool (a write that failed after IPAM).
        const held = (await ipam.ipsByHandle(handle)).find((ip) => {
          const parsed = parseIp(ip);
          return parsed && usable.some((p) => cidrContainsIp(p!.cidr, parsed));
        });
        let address = held;
        if (!address) {
          if (current !== undefined) await ipam.releaseByHandle(handle).catch(() => []);
          const res = await ipam.autoAssign({
            handle,
            node: nodeName,
            ...(family === 4 ? { num4: 1, pools4: usable.map((p) => p!.name) } : { num6: 1, pools6: usable.map((p) => p!.name) }),
            attrs: { type: f.type },
            use: 'Tunnel',
          });
          address = (family === 4 ? res.ipv4 : res.ipv6)[0]?.address;
        }
        if (!address) continue;
        spec[f.addr] = address;
        change[family === 4 ? 'ipv4' : 'ipv6'] = address;
        dirty = true;
      }
      if (typeof spec[f.mac] !== 'string') {
        spec[f.mac] = vxlanMacFor(nodeName, family);
        dirty = true;
      }
    }
    if (!dirty) return undefined;
    try {
      const next = validateResource({ apiVersion: node.apiVersion, kind: node.kind, metadata: { ...node.metadata }, spec });
      next.metadata.resourceVersion = node.metadata.resourceVersion;
      if (node.status !== undefined) next.status = node.status;
      const res = await store.replace(next);
      return { ...change, node: res.resource };
    } catch (err) {
      if (attempt < 5 && hasCode(err, 'MARGAY_ERR_CONFLICT')) continue;
      throw err;
    }
  }
}
