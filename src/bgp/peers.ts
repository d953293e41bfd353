/**
 * Which BGP sessions a host has (pure): the node-to-node mesh, explicit global and per-node
 * BGPPeers (by address, by peerSelector with automatic reverse peering, or unnumbered over an
 * interface), route-reflector roles, and every per-session option. Calico's rules
 * (calico-facts §5): one `Mesh_<ip>` per other node, the lexically greater address passive;
 * a node with a route-reflector cluster id skips the mesh and makes its iBGP peers of another
 * cluster its clients; explicit peers are `Global_<ip>` or `Node_<ip>` (`_port_<p>` appended).
 */
import { parseGoDuration } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { parseSelector } from '../selector/mod.ts';
import {
  bfdFromAnnotations,
  type BfdSettings,
  DEFAULT_BFD,
  isSafeInterfaceName,
  peerDiscovery,
  peerInterfaces,
} from './extensions.ts';
import { formatIp, type HostAddress, isLinkLocal, parseHostAddress, parseIpPort, sameSubnet } from '../net/mod.ts';
import { addressId, asNumberOf } from './ids.ts';
import type { BGPConfigurationSpec, BGPPeerSpec, BirdConfigInput, NodeSpec, PeerKind, SecretKeyRef } from './types.ts';

/** Calico's default AS number. */
export const DEFAULT_AS_NUMBER = 64512;

/** A node as the BGP room sees it. */
export interface BgpNode {
  name: string;
  labels: Record<string, string>;
  v4?: HostAddress;
  v6?: HostAddress;
  /** The node's own AS number (undefined: the cluster default). */
  as?: number;
  rrClusterId?: string;
}

/** One session, with everything the renderer writes for it. */
export interface Session {
  protocol: string;
  kind: PeerKind;
  family: 4 | 6;
  /** Peer address (or the `fe80::/10` range of an unnumbered peer). */
  address: string;
  port?: number;
  /** Link-local or unnumbered: the interface the peer is on. */
  iface?: string;
  /** Unnumbered: accept whichever link-local peer connects on `iface` (BIRD dynamic BGP). */
  dynamic: boolean;
  remoteAs: number | 'external';
  localAs: number;
  internal: boolean;
  /** Local (source) address of the TCP connection. */
  localAddress?: string;
  /** Listening port of this node (BGPConfiguration listenPort). */
  localPort?: number;
  strictBind: boolean;
  passive: boolean;
  /** `direct` (peer on a connected subnet) or `multihop` (TTL 64, or the given hop count). */
  connection: { type: 'direct' } | { type: 'multihop'; hops?: number };
  ttlSecurity: boolean;
  gatewayDirect: boolean;
  password?: string;
  gracefulRestartTime?: number;
  longLivedStaleTime?: number;
  keepaliveTime?: number;
  holdTime?: number;
  allowLocalAs?: number;
  nextHop?: 'self' | 'keep';
  rrClient: boolean;
  rrClusterId?: string;
  bfd: BfdSettings;
  /** BGPFilter names, in order. */
  filters: string[];
  /** Carry IPv4 over this IPv6 session (RFC 5549 extended next hop). */
  extendedNextHop: boolean;
  /** What it came from (`BGPPeer/<name>`, `BGPConfiguration/default`). */
  source: string;
}

/** The cluster-wide and per-node BGP settings, merged as Calico merges them. */
export interface BgpSettings {
  global?: Resource;
  /** `node.<this node>`. */
  local?: Resource;
  globalSpec: BGPConfigurationSpec;
  localSpec: BGPConfigurationSpec;
  asNumber: number;
  meshEnabled: boolean;
  /** Listen port of a node: its `node.<name>` config, else the global one. */
  listenPortOf(node: string): number | undefined;
}

/** Reads the BGPConfiguration resources. */
export function bgpSettings(input: Pick<BirdConfigInput, 'bgpConfigurations' | 'nodeName'>): BgpSettings {
  const byName = new Map(input.bgpConfigurations.map((r) => [r.metadata.name, r]));
  const global = byName.get('default');
  const local = byName.get(`node.${input.nodeName}`);
  const globalSpec = (global?.spec ?? {}) as BGPConfigurationSpec;
  const localSpec = (local?.spec ?? {}) as BGPConfigurationSpec;
  return {
    ...(global ? { global } : {}),
    ...(local ? { local } : {}),
    globalSpec,
    localSpec,
    asNumber: asNumberOf(globalSpec.asNumber) ?? DEFAULT_AS_NUMBER,
    meshEnabled: globalSpec.nodeToNodeMeshEnabled ?? true,
    listenPortOf(node) {
      const spec = byName.get(`node.${node}`)?.spec as BGPConfigurationSpec | undefined;
      return spec?.listenPort ?? globalSpec.listenPort;
    },
  };
}

/** Reads a Node resource. */
export function bgpNode(res: Resource): BgpNode {
  const spec = (res.spec ?? {}) as NodeSpec;
  const v4 = parseHostAddress(spec.bgp?.ipv4Address);
  const v6 = parseHostAddress(spec.bgp?.ipv6Address);
  const as = asNumberOf(spec.bgp?.asNumber);
  const rr = spec.bgp?.routeReflectorClusterID;
  return {
    name: res.metadata.name,
    labels: res.metadata.labels ?? {},
    ...(v4?.family === 4 ? { v4 } : {}),
    ...(v6?.family === 6 ? { v6 } : {}),
    ...(as === undefined ? {} : { as }),
    ...(rr ? { rrClusterId: rr } : {}),
  };
}

function matches(selector: string | undefined, labels: Record<string, string>): boolean {
  if (selector === undefined || selector.trim() === '') return true;
  try {
    return parseSelector(selector).matches(labels);
  } catch {
    return false;
  }
}

function seconds(duration: string | undefined): number | undefined {
  if (!duration) return undefined;
  const s = parseGoDuration(duration);
  return s === undefined ? undefined : Math.round(s);
}

/** A peer before its options are worked out. */
interface Target {
  kind: PeerKind;
  family: 4 | 6;
  ip: string;
  port?: number;
  iface?: string;
  dynamic: boolean;
  remoteAs: number | 'external';
  /** The peer is another Margay node (mesh, peerSelector, or a peerIP that is a node's address). */
  peerNode?: BgpNode;
  /** Chosen by a peerSelector (or its automatic reverse): both sides have the session, so it is made one-way. */
  fromSelector?: boolean;
  peer?: Resource;
}

/** Options of {@link planSessions}. */
export interface PlanContext {
  input: BirdConfigInput;
  settings: BgpSettings;
  local: BgpNode;
  nodes: BgpNode[];
  warnings: string[];
}

/** The family's address of a node. */
function addressOf(node: BgpNode, family: 4 | 6): HostAddress | undefined {
  return family === 4 ? node.v4 : node.v6;
}

/** The BGPPeer applies to the local node (by `node`, by `nodeSelector`, or globally). */
export function peerAppliesTo(spec: BGPPeerSpec, node: BgpNode): boolean {
  if (spec.node) return spec.node === node.name;
  if (spec.nodeSelector) return matches(spec.nodeSelector, node.labels);
  return true;
}

function isGlobalPeer(spec: BGPPeerSpec): boolean {
  return !spec.node && !spec.nodeSelector;
}

/** Computes every session of the local node, sorted by protocol name, duplicates removed. */
export function planSessions(ctx: PlanContext): Session[] {
  const { local, nodes, settings, warnings } = ctx;
  const sessions: Session[] = [];
  const others = nodes.filter((n) => n.name !== local.name).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const localAs = local.as ?? settings.asNumber;

  // Node-to-node mesh.
  if (local.rrClusterId) {
    // A route reflector never takes part in the mesh.
  } else if (settings.meshEnabled) {
    const meshBfd = meshBfdSettings(ctx);
    const password = resolvePassword(ctx, settings.globalSpec.nodeMeshPassword?.secretKeyRef, 'BGPConfiguration default nodeMeshPassword');
    const meshRestart = seconds(settings.globalSpec.nodeMeshMaxRestartTime);
    for (const node of others) {
      if (node.rrClusterId) continue;
      for (const family of [4, 6] as const) {
        const mine = addressOf(local, family);
        const theirs = addressOf(node, family);
        if (!mine || !theirs || mine.ip === theirs.ip) continue;
        if (password === null) continue;
        const port = settings.listenPortOf(node.name);
        const remoteAs = node.as ?? settings.asNumber;
        sessions.push(
          baseSession(ctx, {
            protocol: `Mesh_${addressId(theirs.ip)}`,
            kind: 'mesh',
            family,
            address: theirs.ip,
            ...(port !== undefined && port !== 179 ? { port } : {}),
            remoteAs,
            localAs,
            localAddress: mine.ip,
            passive: theirs.ip > mine.ip,
            connection: { type: 'multihop' },
            bfd: meshBfd,
            source: 'BGPConfiguration/default',
            ...(password ? { password } : {}),
            ...(meshRestart !== undefined ? { gracefulRestartTime: meshRestart } : {}),
            rr: node.rrClusterId,
          }),
        );
      }
    }
  }

  // Explicit peers, in name order.
  const peers = [...ctx.input.peers].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  for (const peer of peers) {
    const spec = (peer.spec ?? {}) as BGPPeerSpec;
    const targets: Target[] = [];
    if (peerAppliesTo(spec, local)) targets.push(...targetsOf(ctx, peer, spec));
    // Automatic reverse peering: the nodes a peerSelector picks peer back with the nodes the
    // BGPPeer applies to.
    if (spec.peerSelector && spec.reversePeering !== 'Manual' && matches(spec.peerSelector, local.labels)) {
      for (const node of others) {
        if (peerAppliesTo(spec, node)) targets.push(...selectedNodeTargets(ctx, node, 'node', peer));
      }
    }
    for (const target of targets) {
      const session = explicitSession(ctx, peer, spec, target, localAs);
      if (session) sessions.push(session);
    }
  }
  return dedupe(sessions, warnings);
}

/** Explicit sessions win over the mesh; node-specific ones over global ones. */
function dedupe(sessions: Session[], warnings: string[]): Session[] {
  const rank: Record<PeerKind, number> = { unnumbered: 0, node: 1, global: 2, mesh: 3 };
  const ordered = [...sessions].sort((a, b) => rank[a.kind] - rank[b.kind]);
  const byKey = new Map<string, Session>();
  const byName = new Map<string, Session>();
  for (const s of ordered) {
    const key = `${s.family}|${s.address}|${s.port ?? 179}|${s.iface ?? ''}`;
    const existing = byKey.get(key) ?? byName.get(s.protocol);
    if (existing) {
      if (existing.source !== s.source || existing.protocol !== s.protocol) {
        warnings.push(`peer ${s.address}${s.port ? ` port ${s.port}` : ''} from ${s.source} is already configured by ${existing.source} (${existing.protocol}); ignored`);
      }
      continue;
    }
    byKey.set(key, s);
    byName.set(s.protocol, s);
  }
  return [...byKey.values()].sort((a, b) => (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0));
}

function meshBfdSettings(ctx: PlanContext): BfdSettings {
  const defaults = ctx.input.options?.bfdDefaults ?? DEFAULT_BFD;
  const fromGlobal = bfdFromAnnotations(ctx.settings.global, defaults);
  const fromLocal = bfdFromAnnotations(ctx.settings.local, { intervalMs: fromGlobal.intervalMs, multiplier: fromGlobal.multiplier });
  for (const p of [...fromGlobal.problems, ...fromLocal.problems]) ctx.warnings.push(`BGPConfiguration: ${p}`);
  return { mode: fromLocal.mode ?? fromGlobal.mode ?? 'off', intervalMs: fromLocal.intervalMs, multiplier: fromLocal.multiplier };
}

/**
 * Resolves a password reference: the password, undefined when none is needed, or null when the
 * session must be left out (a required secret is missing, or the password cannot be written).
 */
function resolvePassword(ctx: PlanContext, ref: SecretKeyRef | undefined, what: string): string | undefined | null {
  if (!ref) return undefined;
  const value = ctx.input.secrets?.(ref);
  if (value === undefined) {
    if (ref.optional) return undefined;
    ctx.warnings.push(`${what}: secret ${ref.name ?? ''}/${ref.key} not found; sessions that need it are left out`);
    return null;
  }
  if (/["\n\r\\]/.test(value) || value.length === 0 || value.length > 80) {
    ctx.warnings.push(`${what}: the password from secret ${ref.name ?? ''}/${ref.key} is empty, longer than 80 characters or contains a quote, backslash or newline, which BIRD cannot take; sessions that need it are left out`);
    return null;
  }
  return value;
}

/** Sessions to another Margay node a peerSelector picked: one per family both nodes have. */
function selectedNodeTargets(ctx: PlanContext, node: BgpNode, kind: PeerKind, peer: Resource): Target[] {
  const { local, settings } = ctx;
  const out: Target[] = [];
  for (const family of [4, 6] as const) {
    const theirs = addressOf(node, family);
    if (!theirs || !addressOf(local, family)) continue;
    const port = settings.listenPortOf(node.name);
    out.push({
      kind,
      family,
      ip: theirs.ip,
      ...(port !== undefined && port !== 179 ? { port } : {}),
      dynamic: false,
      remoteAs: node.as ?? settings.asNumber,
      peerNode: node,
      fromSelector: true,
      peer,
    });
  }
  return out;
}

function targetsOf(ctx: PlanContext, peer: Resource, spec: BGPPeerSpec): Target[] {
  const { local, nodes, settings, warnings } = ctx;
  const what = `BGPPeer ${peer.metadata.name}`;
  const kind: PeerKind = isGlobalPeer(spec) ? 'global' : 'node';
  const ifaces = peerInterfaces(peer);
  const unsafe = ifaces.find((i) => !isSafeInterfaceName(i));
  if (unsafe !== undefined) {
    warnings.push(`${what}: margay.io/peer-interface ${JSON.stringify(unsafe)} is not an interface name; left out`);
    return [];
  }
  if (spec.peerIP && ifaces.length > 1) {
    warnings.push(`${what}: a peerIP is on one interface, but margay.io/peer-interface lists ${ifaces.length}; left out`);
    return [];
  }
  const iface = ifaces[0];
  const remoteAs = asNumberOf(spec.asNumber);
  if (spec.peerIP) {
    const peerIp = parseIpPort(spec.peerIP);
    if (!peerIp) {
      warnings.push(`${what}: peerIP ${spec.peerIP} is not valid; left out`);
      return [];
    }
    const parsed = { ip: formatIp(peerIp.ip), port: peerIp.port, family: peerIp.ip.family };
    if (remoteAs === undefined || remoteAs === 0) {
      warnings.push(`${what}: asNumber is required with peerIP; left out`);
      return [];
    }
    if (peerIp.ip.family === 6 && isLinkLocal(peerIp.ip) && !iface) {
      warnings.push(`${what}: a link-local peerIP needs the margay.io/peer-interface annotation; left out`);
      return [];
    }
    const peerNode = nodes.find((n) => n.v4?.ip === parsed.ip || n.v6?.ip === parsed.ip);
    return [{
      kind,
      family: parsed.family,
      ip: parsed.ip,
      ...(parsed.port ? { port: parsed.port } : {}),
      ...(iface ? { iface } : {}),
      dynamic: false,
      remoteAs,
      ...(peerNode ? { peerNode } : {}),
      peer,
    }];
  }
  if (spec.peerSelector) {
    const out: Target[] = [];
    for (const node of nodes) {
      if (node.name !== local.name && matches(spec.peerSelector, node.labels)) out.push(...selectedNodeTargets(ctx, node, kind, peer));
    }
    return out;
  }
  if (ifaces.length > 0) return unnumberedTargets(ctx, peer, ifaces, remoteAs || 'external');
  if (spec.localWorkloadSelector) warnings.push(`${what}: localWorkloadSelector peerings are not supported; left out`);
  return [];
}

/**
 * Unnumbered peers on each interface: the host waits for the router (BIRD dynamic BGP over
 * `fe80::/10`) or, with `margay.io/peer-discovery: neighbors` once a link-local router has been
 * seen on the interface (BIRD cannot discover them itself: the controller reads them from the
 * neighbour table), connects to each router found. Never both on one interface: a session
 * spawned by the waiting one holds BIRD's lock on the router's address, so the active session
 * would wait for that lock for ever, and refuse the router's connections meanwhile (BIRD hands
 * an incoming connection to the specific session first): after a link flap no session came back.
 */
function unnumberedTargets(ctx: PlanContext, peer: Resource, ifaces: string[], remoteAs: number | 'external'): Target[] {
  const discovery = peerDiscovery(peer);
  if (discovery.problem) ctx.warnings.push(`BGPPeer ${peer.metadata.name}: ${discovery.problem}`);
  return ifaces.flatMap((iface): Target[] => {
    const routers = discovery.mode === 'neighbors' ? (ctx.input.linkNeighbors?.[iface] ?? []) : [];
    if (routers.length === 0) return [{ kind: 'unnumbered', family: 6, ip: 'fe80::/10', iface, dynamic: true, remoteAs, peer }];
    return routers.map((ip): Target => ({ kind: 'unnumbered', family: 6, ip, iface, dynamic: false, remoteAs, peer }));
  });
}

/** What a caller of {@link baseSession} decides; the rest of the {@link Session} follows from it. */
type BaseSessionInit = Pick<
  Session,
  'protocol' | 'kind' | 'family' | 'address' | 'port' | 'iface' | 'remoteAs' | 'localAs' | 'localAddress' | 'passive' | 'connection' | 'bfd' | 'source' | 'password' | 'gracefulRestartTime'
> & {
  dynamic?: boolean;
  /** The peer node's route-reflector cluster id (undefined: the peer is no reflector). */
  rr?: string | undefined;
};

function baseSession(ctx: PlanContext, init: BaseSessionInit): Session {
  const { local, settings } = ctx;
  const internal = init.remoteAs === init.localAs;
  const listenPort = settings.listenPortOf(local.name);
  const rrClient = internal && !!local.rrClusterId && init.rr !== local.rrClusterId;
  return {
    protocol: init.protocol,
    kind: init.kind,
    family: init.family,
    address: init.address,
    ...(init.port !== undefined ? { port: init.port } : {}),
    ...(init.iface !== undefined ? { iface: init.iface } : {}),
    dynamic: init.dynamic ?? false,
    remoteAs: init.remoteAs,
    localAs: init.localAs,
    internal,
    ...(init.localAddress !== undefined ? { localAddress: init.localAddress } : {}),
    ...(listenPort !== undefined && listenPort !== 179 ? { localPort: listenPort } : {}),
    strictBind: settings.globalSpec.bindMode === 'NodeIP' && init.localAddress !== undefined,
    passive: init.passive,
    connection: init.connection,
    ttlSecurity: false,
    gatewayDirect: false,
    ...(init.password !== undefined ? { password: init.password } : {}),
    ...(init.gracefulRestartTime !== undefined ? { gracefulRestartTime: init.gracefulRestartTime } : {}),
    rrClient,
    ...(rrClient ? { rrClusterId: local.rrClusterId! } : {}),
    bfd: init.bfd,
    filters: [],
    extendedNextHop: false,
    source: init.source,
  };
}

function explicitSession(ctx: PlanContext, peer: Resource, spec: BGPPeerSpec, target: Target, nodeAs: number): Session | undefined {
  const { local, warnings } = ctx;
  const what = `BGPPeer ${peer.metadata.name}`;
  const mine = addressOf(local, target.family);
  if (!target.dynamic && target.iface === undefined && !mine) {
    warnings.push(`${what}: this node has no IPv${target.family} address for peer ${target.ip}; left out`);
    return undefined;
  }
  if (mine && mine.ip === target.ip) return undefined;
  const password = resolvePassword(ctx, spec.password?.secretKeyRef, what);
  if (password === null) return undefined;
  const localAs = asNumberOf(spec.localASNumber) || nodeAs;
  const linkLocal = target.dynamic || target.iface !== undefined;
  const useNodeIp = (spec.sourceAddress ?? 'UseNodeIP') === 'UseNodeIP' && !linkLocal;
  const localAddress = useNodeIp ? mine?.ip : undefined;
  const directlyConnected = linkLocal || (mine !== undefined && sameSubnet(mine, target.ip));

  const defaults = ctx.input.options?.bfdDefaults ?? DEFAULT_BFD;
  const fromAnnotations = bfdFromAnnotations(peer, defaults);
  for (const p of fromAnnotations.problems) warnings.push(`${what}: ${p}`);
  let bfdMode = fromAnnotations.mode ?? (spec.failureDetectionMode === 'BFDIfDirectlyConnected' && directlyConnected ? 'on' : 'off');

  const ttl = spec.ttlSecurity ?? 0;
  let connection: Session['connection'];
  let gatewayDirect = false;
  if (linkLocal) {
    connection = { type: 'direct' };
    gatewayDirect = true;
  } else if (ttl > 0) {
    connection = { type: 'multihop', hops: ttl };
  } else if (directlyConnected && (bfdMode !== 'off' || spec.birdGatewayMode === 'DirectIfDirectlyConnected')) {
    connection = { type: 'direct' };
    gatewayDirect = true;
  } else {
    connection = { type: 'multihop' };
  }
  if (bfdMode !== 'off' && connection.type === 'multihop' && localAddress === undefined) {
    warnings.push(`${what}: BFD over a multihop session needs a source address (sourceAddress: UseNodeIP); BFD left off for ${target.ip}`);
    bfdMode = 'off';
  }

  const restart = seconds(spec.maxRestartTime);
  const keepalive = seconds(spec.keepaliveTime);
  const prefix = target.kind === 'global' ? 'Global' : target.kind === 'node' ? 'Node' : 'Iface';
  const protocol = target.dynamic
    ? `Iface_${target.iface!.replace(/[^A-Za-z0-9_]/g, '_')}`
    : `${prefix}_${addressId(target.ip)}${target.iface ? `_${target.iface.replace(/[^A-Za-z0-9_]/g, '_')}` : ''}${target.port ? `_port_${target.port}` : ''}`;
  const session = baseSession(ctx, {
    protocol,
    kind: target.kind,
    family: target.family,
    address: target.ip,
    ...(target.port ? { port: target.port } : {}),
    ...(target.iface ? { iface: target.iface } : {}),
    dynamic: target.dynamic,
    remoteAs: target.remoteAs,
    localAs,
    ...(localAddress !== undefined ? { localAddress } : {}),
    // Calico: a peering between two Calico nodes chosen by a peerSelector exists on both sides and
    // is made one-way, as the mesh is: the node whose peer has the lexically greater address waits.
    passive: target.fromSelector === true && mine !== undefined && target.ip > mine.ip,
    connection,
    bfd: { mode: bfdMode, intervalMs: fromAnnotations.intervalMs, multiplier: fromAnnotations.multiplier },
    source: `BGPPeer/${peer.metadata.name}`,
    ...(password ? { password } : {}),
    ...(restart !== undefined && spec.restartMode !== 'LongLivedGracefulRestart' ? { gracefulRestartTime: restart } : {}),
    rr: target.peerNode?.rrClusterId,
  });
  session.gatewayDirect = gatewayDirect;
  session.ttlSecurity = ttl > 0;
  session.filters = [...(spec.filters ?? [])];
  session.extendedNextHop = target.family === 6 && linkLocal;
  if (target.dynamic) session.passive = true;
  if (spec.restartMode === 'LongLivedGracefulRestart') session.longLivedStaleTime = restart ?? 3600;
  if (keepalive !== undefined && keepalive > 0) {
    session.keepaliveTime = keepalive;
    if (keepalive * 3 > 240) session.holdTime = keepalive * 3;
  }
  if (spec.numAllowedLocalASNumbers) session.allowLocalAs = spec.numAllowedLocalASNumbers;
  if (spec.nextHopMode === 'Self') session.nextHop = 'self';
  else if (spec.nextHopMode === 'Keep') session.nextHop = 'keep';
  else if (spec.keepOriginalNextHop && !session.internal) session.nextHop = 'keep';
  return session;
}
