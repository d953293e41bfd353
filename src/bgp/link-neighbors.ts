/**
 * The routers on a host's unnumbered uplinks, for `margay.io/peer-discovery: neighbors`. BIRD
 * 2.0.12 cannot discover a peer's link-local address (docs/bgp.md §5), so the controller does:
 * it reads the interface's IPv6 neighbour table (a router's advertisements put it there, flagged
 * `router`), and when the table has none it asks with one echo to the all-routers group
 * (`ff02::2`), whose answers fill it. On a point-to-point uplink every link-local neighbour is
 * the router; entries marked `router` are preferred when there are several.
 */
import type { Resource } from '../api/mod.ts';
import type { CommandRunner } from '../os/mod.ts';
import { isSafeInterfaceName, peerDiscovery, peerInterfaces } from './extensions.ts';
import { bgpNode, peerAppliesTo } from './peers.ts';
import type { BGPPeerSpec } from './types.ts';

/** One entry of `ip -6 -j neigh show dev X`. */
interface NeighborEntry {
  dst?: string;
  state?: string[];
  router?: unknown;
}

/** States in which a neighbour is no use: it did not answer. */
const DEAD_STATES = new Set(['FAILED', 'INCOMPLETE', 'NOARP']);

/** The link-local routers among `ip -6 -j neigh` entries (router-flagged first; any live link-local one otherwise), sorted. */
export function linkLocalRouters(json: string): string[] {
  const entries = JSON.parse(json || '[]') as NeighborEntry[];
  const live = entries.filter((e) => e.dst?.toLowerCase().startsWith('fe80:') && !(e.state ?? []).some((s) => DEAD_STATES.has(s)));
  const routers = live.filter((e) => 'router' in e);
  return [...new Set((routers.length > 0 ? routers : live).map((e) => e.dst!.toLowerCase()))].sort();
}

/** The interfaces whose routers the host of `node` (its Node resource) must discover: those of the BGPPeers that apply to it with `peer-discovery: neighbors` and no peerIP. */
export function discoveryInterfaces(peers: Resource[], node: Resource | undefined): string[] {
  if (!node) return [];
  const local = bgpNode(node);
  const out = new Set<string>();
  for (const peer of peers) {
    const spec = (peer.spec ?? {}) as BGPPeerSpec;
    if (spec.peerIP || peerDiscovery(peer).mode !== 'neighbors' || !peerAppliesTo(spec, local)) continue;
    for (const iface of peerInterfaces(peer)) if (isSafeInterfaceName(iface) && !iface.includes('*')) out.add(iface);
  }
  return [...out].sort();
}

/** Reads the link-local routers of each interface through `runner` (in the host's namespace); an interface that is missing has none. */
export async function readLinkNeighbors(runner: CommandRunner, ifaces: string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const iface of ifaces) {
    const read = async () => {
      const res = await runner('ip', ['-6', '-j', 'neigh', 'show', 'dev', iface], { allowFail: true });
      return res.code === 0 ? linkLocalRouters(res.stdout) : [];
    };
    let found = await read();
    if (found.length === 0) {
      // Routers answer an echo to ff02::2 from their link-local address; the answers fill the table.
      await runner('ping', ['-6', '-n', '-q', '-c', '1', '-W', '1', `ff02::2%${iface}`], { allowFail: true, timeoutMs: 3000 });
      found = await read();
    }
    out[iface] = found;
  }
  return out;
}

/** When each router was last seen on each interface (interface → address → ms), kept by {@link rememberRouters}. */
export type SeenRouters = Record<string, Record<string, number>>;

/**
 * The routers to connect to on each interface of `found` (what the neighbour table shows now):
 * those found now, and those seen within `forgetMs` before `now`. A link that goes down for a
 * moment empties its neighbour table; forgetting its router then would swap the session for a
 * waiting one and back (a needless reset). Updates `seen`; interfaces no longer asked about are dropped.
 */
export function rememberRouters(seen: SeenRouters, found: Record<string, string[]>, now: number, forgetMs: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const iface of Object.keys(seen)) if (!(iface in found)) delete seen[iface];
  for (const [iface, routers] of Object.entries(found)) {
    const times = (seen[iface] ??= {});
    for (const ip of routers) times[ip] = now;
    for (const [ip, at] of Object.entries(times)) if (now - at > forgetMs) delete times[ip];
    out[iface] = Object.keys(times).sort();
  }
  return out;
}
