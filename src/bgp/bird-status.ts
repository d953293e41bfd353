/**
 * Parsers for BIRD's status output (pure): `show protocols all` → BGP peers, and
 * `show bfd sessions` → BFD sessions. They take the text as birdc prints it (with or without the
 * `BIRD x.y ready.` banner), so they work on both the socket client's replies and captured output.
 */

/** A protocol line of `show protocols [all]`, with its detail lines when present. */
export interface BirdProtocol {
  name: string;
  proto: string;
  table: string;
  /** `up`, `start`, `down`, `stop`, `feed`, `flush`. */
  state: string;
  since: string;
  /** The Info column, blanks collapsed (`Established`, `Active Socket: Connection refused`). */
  info: string;
  /** `Key: value` detail lines (first occurrence of each key). */
  details: Record<string, string>;
  /** Route counts of each channel (`ipv4`, `ipv6`). */
  channels: Record<string, { imported: number; exported: number; preferred?: number }>;
}

/** How a session came about, in calicoctl's words. */
export type PeerTypeLabel = 'node-to-node mesh' | 'global' | 'node specific' | 'unnumbered' | 'other';

/** One BGP peer as `margay node status` shows it. */
export interface BgpPeerStatus {
  protocol: string;
  type: PeerTypeLabel;
  family: 4 | 6;
  address: string;
  port?: number;
  interface?: string;
  /** Protocol state (`up`, `start`, …). */
  state: string;
  since: string;
  /** `Established`, `Active Socket: Connection refused`, `Passive`, … */
  info: string;
  /** From `show protocols all`: the BGP state, the peer's AS, the last error. */
  bgpState?: string;
  neighborAs?: number;
  lastError?: string;
  routes?: { imported: number; exported: number };
}

/** One BFD session of `show bfd sessions`. */
export interface BfdSessionStatus {
  /** The BFD protocol instance. */
  protocol: string;
  address: string;
  interface: string;
  /** `Up`, `Down`, `Init`, `AdminDown`. */
  state: string;
  since: string;
  /** Seconds. */
  interval: number;
  timeout: number;
}

function dropBanner(text: string): string[] {
  return text.split('\n').filter((l) => !/^BIRD [\d.]+ ready\.$/.test(l.trim()) && !/^\d{4}[ -]/.test(l));
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIME = /^\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/** Parses `show protocols` or `show protocols all`. */
export function parseProtocols(text: string): BirdProtocol[] {
  const out: BirdProtocol[] = [];
  let current: BirdProtocol | undefined;
  let channel: string | undefined;
  for (const line of dropBanner(text)) {
    if (line.trim() === '') continue;
    if (!/^\s/.test(line)) {
      const tokens = line.trim().split(/\s+/);
      if (tokens[0] === 'Name' && tokens[1] === 'Proto') continue;
      if (tokens.length < 5) continue;
      let rest = tokens.slice(5);
      let since = tokens[4]!;
      if (DATE.test(since) && rest[0] !== undefined && TIME.test(rest[0])) {
        since = `${since} ${rest[0]}`;
        rest = rest.slice(1);
      }
      current = {
        name: tokens[0]!,
        proto: tokens[1]!,
        table: tokens[2]!,
        state: tokens[3]!,
        since,
        info: rest.join(' '),
        details: {},
        channels: {},
      };
      channel = undefined;
      out.push(current);
      continue;
    }
    if (!current) continue;
    const ch = /^\s*Channel (\S+)/.exec(line);
    if (ch) {
      channel = ch[1];
      continue;
    }
    const routes = /^\s*Routes:\s+(\d+) imported, (?:(\d+) filtered, )?(\d+) exported(?:, (\d+) preferred)?/.exec(line);
    if (routes && channel) {
      current.channels[channel] = {
        imported: Number(routes[1]),
        exported: Number(routes[3]),
        ...(routes[4] !== undefined ? { preferred: Number(routes[4]) } : {}),
      };
      continue;
    }
    const kv = /^\s*([A-Za-z][A-Za-z0-9 ]*?):\s+(.*)$/.exec(line);
    if (kv && !(kv[1]! in current.details)) current.details[kv[1]!] = kv[2]!.trim();
  }
  return out;
}

function typeOf(name: string): PeerTypeLabel {
  if (name.startsWith('Mesh_')) return 'node-to-node mesh';
  if (name.startsWith('Global_')) return 'global';
  if (name.startsWith('Node_')) return 'node specific';
  if (name.startsWith('Iface_')) return 'unnumbered';
  return 'other';
}

/** Decodes `Mesh_192_0_2_12_port_1179` → 192.0.2.12, port 1179 (Calico's naming). */
export function addressFromProtocolName(name: string): { address: string; port?: number } | undefined {
  const m = /^(?:Mesh|Global|Node)_(.+?)(?:_port_(\d+))?$/.exec(name);
  if (!m) return undefined;
  const id = m[1]!;
  const port = m[2] !== undefined ? Number(m[2]) : undefined;
  const v4 = /^(\d{1,3})_(\d{1,3})_(\d{1,3})_(\d{1,3})$/.exec(id);
  const address = v4 ? v4.slice(1).join('.') : id.replace(/_/g, ':');
  return { address, ...(port !== undefined ? { port } : {}) };
}

/** The BGP peers among parsed protocols (templates of unnumbered peers included while they wait). */
export function bgpPeers(protocols: BirdProtocol[]): BgpPeerStatus[] {
  const bgp = protocols.filter((p) => p.proto === 'BGP');
  const out: BgpPeerStatus[] = [];
  for (const p of bgp) {
    const type = typeOf(p.name);
    // An unnumbered template that has spawned a session is shown through that session only.
    if (type === 'unnumbered' && p.info === 'Passive' && bgp.some((q) => q !== p && q.name.startsWith(`${p.name}_`))) continue;
    const fromName = addressFromProtocolName(p.name);
    let address = p.details['Neighbor address'] ?? fromName?.address ?? '';
    let iface: string | undefined;
    const scoped = /^(.*)%(.+)$/.exec(address);
    if (scoped) [address, iface] = [scoped[1]!, scoped[2]!];
    if (type === 'unnumbered' && !address) address = 'fe80::/10';
    // A session of a dynamic unnumbered peer (`Iface_uplink0_1`) is named after its interface.
    if (type === 'unnumbered' && iface === undefined) iface = /^Iface_(.+?)(?:_\d+)?$/.exec(p.name)?.[1];
    const neighborAs = p.details['Neighbor AS'] !== undefined ? Number(p.details['Neighbor AS']) : undefined;
    const routes = Object.values(p.channels).reduce<{ imported: number; exported: number } | undefined>(
      (acc, c) => ({ imported: (acc?.imported ?? 0) + c.imported, exported: (acc?.exported ?? 0) + c.exported }),
      undefined,
    );
    out.push({
      protocol: p.name,
      type,
      family: address.includes(':') ? 6 : 4,
      address,
      ...(fromName?.port !== undefined ? { port: fromName.port } : {}),
      ...(iface !== undefined ? { interface: iface } : {}),
      state: p.state,
      since: p.since,
      info: p.info,
      ...(p.details['BGP state'] !== undefined ? { bgpState: p.details['BGP state'] } : {}),
      ...(neighborAs !== undefined && Number.isFinite(neighborAs) ? { neighborAs } : {}),
      ...(p.details['Last error'] !== undefined ? { lastError: p.details['Last error'] } : {}),
      ...(routes ? { routes } : {}),
    });
  }
  return out;
}

/** Parses `show bfd sessions`. */
export function parseBfdSessions(text: string): BfdSessionStatus[] {
  const out: BfdSessionStatus[] = [];
  let protocol = '';
  for (const line of dropBanner(text)) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    const header = /^(\S+):$/.exec(trimmed);
    if (header) {
      protocol = header[1]!;
      continue;
    }
    if (trimmed.startsWith('IP address')) continue;
    const tokens = trimmed.split(/\s+/);
    if (tokens.length < 6) continue;
    let since = tokens[3]!;
    let rest = tokens.slice(4);
    if (DATE.test(since) && rest[0] !== undefined && TIME.test(rest[0])) {
      since = `${since} ${rest[0]}`;
      rest = rest.slice(1);
    }
    const interval = Number(rest[0]);
    const timeout = Number(rest[1]);
    if (!Number.isFinite(interval) || !Number.isFinite(timeout)) continue;
    out.push({ protocol, address: tokens[0]!, interface: tokens[1]!, state: tokens[2]!, since, interval, timeout });
  }
  return out;
}
