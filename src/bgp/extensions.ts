/**
 * Margay's BGP extensions: annotations that Calico ignores, read from BGPConfiguration (for the
 * node-to-node mesh) and BGPPeer (for that peer's sessions). Documented in docs/bgp.md.
 *
 * | annotation | on | values |
 * |---|---|---|
 * | `margay.io/bfd` | BGPConfiguration `default` / `node.<name>` (mesh), BGPPeer | `true` (BFD down ⇒ session down, routes withdrawn), `graceful` (BFD down ⇒ graceful restart, Calico's `bfd graceful`), `false` |
 * | `margay.io/bfd-interval-ms` | same | transmit/receive interval, 10–60000 (default 100) |
 * | `margay.io/bfd-multiplier` | same | detect multiplier, 1–255 (default 3) |
 * | `margay.io/peer-interface` | BGPPeer | peer over these interfaces (comma-separated) with IPv6 link-local addresses (BGP unnumbered) |
 * | `margay.io/peer-discovery` | BGPPeer with peer-interface, no peerIP | `wait` (default: the router connects), `neighbors` (also connect to the link-local routers found on the interface) |
 */
import type { Resource } from '../api/mod.ts';

export const BFD_ANNOTATION = 'margay.io/bfd';
export const BFD_INTERVAL_ANNOTATION = 'margay.io/bfd-interval-ms';
export const BFD_MULTIPLIER_ANNOTATION = 'margay.io/bfd-multiplier';
export const PEER_INTERFACE_ANNOTATION = 'margay.io/peer-interface';
export const PEER_DISCOVERY_ANNOTATION = 'margay.io/peer-discovery';

/** How an unnumbered session comes up: the host waits for the router, or also connects to the routers it sees. */
export type PeerDiscovery = 'wait' | 'neighbors';

/** BFD mode of a session. `on`: BFD down tears the session down; `graceful`: it starts a graceful restart. */
export type BfdMode = 'off' | 'on' | 'graceful';

/** BFD settings of a session. */
export interface BfdSettings {
  mode: BfdMode;
  intervalMs: number;
  multiplier: number;
}

/** Default BFD timing: 100 ms × 3, so a dead peer is noticed in 300 ms. */
export const DEFAULT_BFD = { intervalMs: 100, multiplier: 3 } as const;

/** Reads `margay.io/bfd*` from a resource; `mode` is undefined when the annotation is absent. */
export function bfdFromAnnotations(
  res: Resource | undefined,
  defaults: { intervalMs: number; multiplier: number } = DEFAULT_BFD,
): { mode?: BfdMode; intervalMs: number; multiplier: number; problems: string[] } {
  const annotations = res?.metadata.annotations ?? {};
  const problems: string[] = [];
  let mode: BfdMode | undefined;
  const raw = annotations[BFD_ANNOTATION];
  if (raw !== undefined) {
    const v = raw.trim().toLowerCase();
    if (v === 'true' || v === 'on' || v === 'enabled') mode = 'on';
    else if (v === 'graceful') mode = 'graceful';
    else if (v === 'false' || v === 'off' || v === 'disabled' || v === '') mode = 'off';
    else problems.push(`${BFD_ANNOTATION}: ${JSON.stringify(raw)} is not one of true, graceful, false`);
  }
  const intervalMs = intAnnotation(annotations, BFD_INTERVAL_ANNOTATION, 10, 60_000, defaults.intervalMs, problems);
  const multiplier = intAnnotation(annotations, BFD_MULTIPLIER_ANNOTATION, 1, 255, defaults.multiplier, problems);
  return { ...(mode === undefined ? {} : { mode }), intervalMs, multiplier, problems };
}

function intAnnotation(
  annotations: Record<string, string>,
  key: string,
  min: number,
  max: number,
  fallback: number,
  problems: string[],
): number {
  const raw = annotations[key];
  if (raw === undefined) return fallback;
  const n = Number(raw.trim());
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${key}: ${JSON.stringify(raw)} is not an integer from ${min} to ${max}; using ${fallback}`);
    return fallback;
  }
  return n;
}

/** The `margay.io/peer-interface` of a BGPPeer, when it names a plausible interface (the text as written). */
export function peerInterface(res: Resource): string | undefined {
  const v = res.metadata.annotations?.[PEER_INTERFACE_ANNOTATION]?.trim();
  return v ? v : undefined;
}

/** The interfaces `margay.io/peer-interface` lists (`uplink0,uplink1`: one session per uplink of a dual-homed host). */
export function peerInterfaces(res: Resource): string[] {
  return [...new Set((peerInterface(res) ?? '').split(',').map((s) => s.trim()).filter(Boolean))];
}

/** `margay.io/peer-discovery` of a BGPPeer; `problem` when the value is not one of the allowed. */
export function peerDiscovery(res: Resource): { mode: PeerDiscovery; problem?: string } {
  const raw = res.metadata.annotations?.[PEER_DISCOVERY_ANNOTATION];
  const v = raw?.trim().toLowerCase();
  if (v === undefined || v === '' || v === 'wait') return { mode: 'wait' };
  if (v === 'neighbors' || v === 'neighbours') return { mode: 'neighbors' };
  return { mode: 'wait', problem: `${PEER_DISCOVERY_ANNOTATION}: ${JSON.stringify(raw)} is not one of wait, neighbors; waiting for the router` };
}

/** True when `name` can be written inside a BIRD string (interface names, patterns). */
export function isSafeInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.:@*-]{1,15}$/.test(name);
}
