/**
 * The BIRD 2 configuration renderer (pure): one `bird.conf` for IPv4 and IPv6 from a snapshot of
 * the datastore and this host's IPAM view. The agent checks the result with `bird -p` before it
 * reaches the daemon (see bird-process.ts).
 *
 * What the text does (calico-facts §5, in BIRD 2 form):
 *  - `protocol static`: a blackhole route per affine block and per borrowed address, so BIRD has
 *    something to announce. They never reach the kernel: the agent owns those routes.
 *  - `margay_export_v4/v6(internal_peer)`: what goes to peers. Disabled and disableBGPExport
 *    pools never; the host's blocks aggregated (the block, nothing beneath it) and its borrowed
 *    addresses; service ranges; routes of enabled pools learned over BGP (route reflection,
 *    transit to eBGP peers). Never routes learned from the kernel, never tunnel routes to iBGP.
 *  - `margay_kernel_v4/v6`: what BIRD programs into the kernel. Only BGP-learned routes; not
 *    VXLAN pools (the agent programs those); not pools `programClusterRoutes` gives to the agent.
 *  - `protocol kernel`: learn, persist, scan time 2, graceful restart, merge paths (as Calico);
 *    routes go in with `proto bird` and metric `ipv4NormalRoutePriority` (default 1024).
 *  - one `protocol bgp` per session (see peers.ts), BFD and router advertisements when needed.
 */
import type { Resource } from '../api/mod.ts';
import type { IPPoolSpec } from '../api/mod.ts';
import { addCommunityStatement, filterFunctionName, renderFilterFunction, type FilterList } from './bird-filters.ts';
import { isSafeInterfaceName } from './extensions.ts';
import { formatCidr, parseCidrOrIp } from '../net/mod.ts';
import { hashToIPv4 } from './ids.ts';
import { bgpNode, bgpSettings, type BgpNode, type BgpSettings, planSessions, type Session } from './peers.ts';
import type { BGPConfigurationSpec, BirdConfigInput, BirdConfigResult, BirdLogTarget, PeerPlan } from './types.ts';
import { interfacePrefixes } from '../api/mod.ts';
import { VXLAN_DEVICE_V4, VXLAN_DEVICE_V6 } from '../calc/mod.ts';

/** The route protocol of the agent's workload routes (src/dataplane's default `routeProtocol`). */
export const WORKLOAD_ROUTE_PROTOCOL = 77;

/** The agent's VXLAN devices (src/calc/vxlan-resolver.ts names them). */
export const DEFAULT_VXLAN_INTERFACES = [VXLAN_DEVICE_V4, VXLAN_DEVICE_V6];

const DEFAULT_TIMERS = { connectDelay: 1, connectRetry: 3, errorWaitMin: 5, errorWaitMax: 60 };

/**
 * The error back-off of a session over an interface (an unnumbered uplink), seconds. Its errors
 * are the link's (carrier or BFD down), and the router is ready again as soon as the link is (FRR
 * connects every second); with the template's back-off (5..60, doubled for every error within
 * BIRD's 300 s "error forget time") an uplink stayed down for up to a minute after it came back,
 * longer with every flap (measured under load: 5, 9, 16, 40, 51, 53 s after flaps 15 s apart),
 * refusing the router's connections meanwhile.
 */
const LINK_ERROR_WAIT = { min: 1, max: 10, forget: 60 };

/** Pools sorted into what the filters need, per family. */
interface PoolClasses {
  /** Enabled pools whose routes are announced. */
  exported: string[];
  /** Disabled pools and disableBGPExport pools: never announced. */
  neverExported: string[];
  /** Pools whose remote routes the agent programs (VXLAN), or that BIRD must not program. */
  notProgrammed: string[];
}

function classifyPools(pools: Resource[], family: 4 | 6, programClusterRoutes: BGPConfigurationSpec['programClusterRoutes']): PoolClasses {
  const out: PoolClasses = { exported: [], neverExported: [], notProgrammed: [] };
  const mode = programClusterRoutes ?? 'EnabledNoEncapOnly';
  const birdNoEncap = mode === 'Enabled' || mode === 'EnabledNoEncapOnly';
  const birdIpip = mode === 'Enabled' || mode === 'EnabledIPIPOnly';
  const sorted = [...pools].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  for (const pool of sorted) {
    const spec = (pool.spec ?? {}) as unknown as IPPoolSpec;
    const net = parseCidrOrIp(spec.cidr ?? '');
    if (!net || net.family !== family) continue;
    const cidr = formatCidr(net);
    if (spec.disabled || spec.disableBGPExport) out.neverExported.push(cidr);
    else out.exported.push(cidr);
    const vxlan = spec.vxlanMode === 'Always' || spec.vxlanMode === 'CrossSubnet';
    const ipip = spec.ipipMode === 'Always' || spec.ipipMode === 'CrossSubnet';
    if (vxlan || (ipip && !birdIpip) || (!ipip && !birdNoEncap)) out.notProgrammed.push(cidr);
  }
  return out;
}

function prefixSet(cidrs: string[], orLonger = true): string {
  return `[ ${cidrs.map((c) => (orLonger ? `${c}+` : c)).join(', ')} ]`;
}

function uniqueSorted(values: string[]): string[] {
  return [...new Set(values)].sort();
}

/** Normalises CIDRs (and bare addresses to host routes) of one family. */
function cidrsOf(values: string[] | undefined, family: 4 | 6, warnings: string[], what: string): string[] {
  const out: string[] = [];
  for (const v of values ?? []) {
    const net = parseCidrOrIp(v);
    if (!net) {
      warnings.push(`${what}: ${JSON.stringify(v)} is not an address or CIDR; ignored`);
      continue;
    }
    if (net.family === family) out.push(formatCidr(net));
  }
  return uniqueSorted(out);
}

function debugClause(level: string | undefined): string | undefined {
  switch ((level ?? 'Info').toLowerCase()) {
    case 'trace':
    case 'debug':
      return 'debug all;';
    case 'info':
      return 'debug { states };';
    default:
      return undefined;
  }
}

function logClause(target: BirdLogTarget | undefined): string {
  if (target === undefined || target === 'stderr') return 'log stderr all;';
  if (target === 'syslog') return 'log syslog all;';
  if (/["\n]/.test(target.file)) throw new Error(`BIRD log file path cannot contain a quote or newline: ${target.file}`);
  return `log "${target.file}" all;`;
}

/** The communities function of one family (prefixAdvertisements; the node's own list wins). */
function communitiesFunction(settings: BgpSettings, family: 4 | 6, warnings: string[]): string {
  const spec = settings.localSpec.prefixAdvertisements?.length ? settings.localSpec : settings.globalSpec;
  const named = new Map<string, string>();
  for (const c of [...(settings.globalSpec.communities ?? []), ...(spec.communities ?? [])]) {
    if (c.name && c.value) named.set(c.name, c.value);
  }
  const lines = [`function margay_communities_v${family}()`, '{'];
  for (const pa of spec.prefixAdvertisements ?? []) {
    const net = pa.cidr ? parseCidrOrIp(pa.cidr) : undefined;
    if (!net || net.family !== family) continue;
    const stmts: string[] = [];
    for (const c of pa.communities ?? []) {
      const value = /^\d+:\d+(:\d+)?$/.test(c) ? c : named.get(c);
      const stmt = value ? addCommunityStatement(value) : undefined;
      if (stmt) stmts.push(stmt);
      else warnings.push(`prefixAdvertisements ${pa.cidr}: community ${JSON.stringify(c)} is not defined; ignored`);
    }
    if (stmts.length > 0) lines.push(`  if ( net ~ [ ${formatCidr(net)}+ ] ) then { ${stmts.join(' ')} }`);
  }
  lines.push('}');
  return lines.join('\n');
}

interface FamilyRoutes {
  blocks: string[];
  borrowed: string[];
  services: string[];
  pools: PoolClasses;
}

function exportFunction(family: 4 | 6, r: FamilyRoutes, vxlanInterfaces: string[]): string {
  const v = `v${family}`;
  const lines = [`function margay_export_${v}(bool internal_peer)`, '{'];
  if (r.pools.neverExported.length > 0) {
    lines.push('  # Disabled pools and pools with disableBGPExport are never announced.');
    lines.push(`  if ( net ~ ${prefixSet(r.pools.neverExported)} ) then reject;`);
  }
  if (vxlanInterfaces.length > 0) {
    lines.push('  # Routes the agent programs through its tunnel devices are never re-announced to iBGP peers.');
    lines.push(`  if ( internal_peer && defined(ifname) && (${vxlanInterfaces.map((i) => `ifname = "${i}"`).join(' || ')}) ) then reject;`);
  }
  if (r.pools.exported.length > 0) {
    // OpenStack: Neutron assigns VM addresses outside Margay's IPAM blocks, so the host announces
    // each one from the route the agent programs for it (Calico announces such /32s the same way).
    const host = family === 4 ? 32 : 128;
    const outsideBlocks = r.blocks.length > 0 ? ` && !( net ~ ${prefixSet(r.blocks)} )` : '';
    lines.push("  # The agent's workload routes for addresses in no IPAM block (OpenStack's Neutron-assigned addresses).");
    lines.push(
      `  if ( source = RTS_INHERIT && krt_source = ${WORKLOAD_ROUTE_PROTOCOL} && net ~ [ ${r.pools.exported.map((c) => `${c}{${host},${host}}`).join(', ')} ]${outsideBlocks} ) then accept;`,
    );
  }
  lines.push('  # Other routes learned from the kernel are never announced (the host announces from static routes).');
  lines.push('  if ( source = RTS_INHERIT ) then reject;');
  lines.push(`  margay_communities_${v}();`);
  if (r.blocks.length > 0) {
    lines.push("  # This host's blocks, aggregated: the block itself...");
    for (const b of r.blocks) lines.push(`  if ( net = ${b} ) then accept;`);
  }
  if (r.borrowed.length > 0) {
    lines.push('  # ...and its workloads whose addresses come from blocks of other hosts,');
    lines.push(`  if ( net ~ ${prefixSet(r.borrowed, false)} ) then accept;`);
  }
  if (r.blocks.length > 0) {
    lines.push('  # ...but nothing else beneath its blocks.');
    lines.push(`  if ( net ~ ${prefixSet(r.blocks)} ) then reject;`);
  }
  if (r.services.length > 0) {
    lines.push('  # Service address ranges (BGPConfiguration serviceClusterIPs, serviceExternalIPs, serviceLoadBalancerIPs).');
    lines.push(`  if ( net ~ ${prefixSet(r.services, false)} ) then accept;`);
  }
  if (r.pools.exported.length > 0) {
    lines.push('  # Routes of enabled pools learned from other peers (route reflection, transit to eBGP peers).');
    lines.push(`  if ( source = RTS_BGP && net ~ ${prefixSet(r.pools.exported)} ) then accept;`);
  }
  lines.push('  reject;');
  lines.push('}');
  return lines.join('\n');
}

function kernelFilter(family: 4 | 6, r: FamilyRoutes, metric: number): string {
  const lines = [`filter margay_kernel_v${family}`, '{'];
  lines.push('  # BIRD programs only what it learned over BGP; the agent owns every other Margay route.');
  lines.push('  if ( source != RTS_BGP ) then reject;');
  if (r.pools.notProgrammed.length > 0) {
    lines.push('  # VXLAN pools (the agent programs them) and pools programClusterRoutes leaves to the agent.');
    lines.push(`  if ( net ~ ${prefixSet(r.pools.notProgrammed)} ) then reject;`);
  }
  lines.push(`  if ( !defined(krt_metric) ) then krt_metric = ${metric};`);
  lines.push('  accept;');
  lines.push('}');
  return lines.join('\n');
}

function quoted(text: string): string {
  return `"${text}"`;
}

function renderSession(s: Session, filterCalls: (s: Session, list: FilterList) => string[]): string {
  const lines = [`protocol bgp ${s.protocol} from margay_peer {`];
  lines.push(`  description ${quoted(`${s.kind} peer from ${s.source}`)};`);
  const local = ['local', s.localAddress, s.localPort !== undefined ? `port ${s.localPort}` : undefined, `as ${s.localAs}`].filter(Boolean).join(' ');
  lines.push(`  ${local};`);
  const remote = s.remoteAs === 'external' ? 'external' : `as ${s.remoteAs}`;
  if (s.dynamic) {
    lines.push(`  neighbor range ${s.address} ${remote};`);
    lines.push(`  interface ${quoted(s.iface!)};`);
    lines.push(`  dynamic name ${quoted(`${s.protocol}_`)};`);
  } else {
    const addr = s.iface ? `${s.address}%${s.iface}` : s.address;
    lines.push(`  neighbor ${addr}${s.port !== undefined ? ` port ${s.port}` : ''} ${remote};`);
    if (s.iface) lines.push(`  interface ${quoted(s.iface)};`);
  }
  if (s.connection.type === 'direct') lines.push('  direct;');
  else lines.push(s.connection.hops !== undefined ? `  multihop ${s.connection.hops};` : '  multihop;');
  if (s.ttlSecurity) lines.push('  ttl security on;');
  if (s.strictBind) lines.push('  strict bind on;');
  if (s.passive) lines.push('  passive on;');
  if (s.password !== undefined) lines.push(`  password ${quoted(s.password)};`);
  if (s.gracefulRestartTime !== undefined) lines.push(`  graceful restart time ${Math.max(1, Math.min(4095, s.gracefulRestartTime))};`);
  if (s.longLivedStaleTime !== undefined) {
    lines.push('  long lived graceful restart on;');
    lines.push(`  long lived stale time ${Math.max(1, Math.min(16777215, s.longLivedStaleTime))};`);
  }
  // BGP carries hold times (three keepalives) in 16 bits; validation refuses more, this defends it.
  if (s.keepaliveTime !== undefined) lines.push(`  keepalive time ${Math.max(1, Math.min(21845, s.keepaliveTime))};`);
  if (s.holdTime !== undefined) lines.push(`  hold time ${Math.max(3, Math.min(65535, s.holdTime))};`);
  if (s.allowLocalAs !== undefined) lines.push(`  allow local as ${s.allowLocalAs};`);
  if (s.rrClient) {
    lines.push('  rr client;');
    lines.push(`  rr cluster id ${s.rrClusterId};`);
  }
  if (s.bfd.mode !== 'off') {
    lines.push(`  bfd { interval ${s.bfd.intervalMs} ms; multiplier ${s.bfd.multiplier}; };`);
    if (s.bfd.mode === 'graceful') lines.push('  bfd graceful;');
  }
  if (s.iface) {
    lines.push(`  error wait time ${LINK_ERROR_WAIT.min}, ${LINK_ERROR_WAIT.max};`);
    lines.push(`  error forget time ${LINK_ERROR_WAIT.forget};`);
  }
  const families: (4 | 6)[] = s.extendedNextHop ? [4, 6] : [s.family];
  for (const family of families) {
    const v = `v${family}`;
    const imports = [...filterCalls(s, `importV${family}` as FilterList), 'accept;'];
    const exports = [...filterCalls(s, `exportV${family}` as FilterList), `margay_export_${v}(${s.internal});`, 'reject;'];
    lines.push(`  ipv${family} {`);
    lines.push(`    import filter { ${imports.join(' ')} };`);
    lines.push(`    export filter { ${exports.join(' ')} };`);
    if (family === 4 && s.extendedNextHop) lines.push('    extended next hop on;');
    if (s.nextHop === 'self') lines.push('    next hop self;');
    if (s.nextHop === 'keep') lines.push('    next hop keep;');
    lines.push(`    gateway ${s.gatewayDirect ? 'direct' : 'recursive'};`);
    lines.push('    add paths on;');
    lines.push('  };');
  }
  lines.push('}');
  return lines.join('\n');
}

function toPlan(s: Session): PeerPlan {
  return {
    protocol: s.protocol,
    kind: s.kind,
    family: s.family,
    address: s.address,
    ...(s.port !== undefined ? { port: s.port } : {}),
    ...(s.iface !== undefined ? { interface: s.iface } : {}),
    remoteAs: s.remoteAs,
    localAs: s.localAs,
    passive: s.passive,
    bfd: s.bfd.mode,
    source: s.source,
    rrClient: s.rrClient,
  };
}

/** Renders the whole BIRD configuration of `input.nodeName`. Pure; never throws on data problems (see `warnings`). */
export function renderBirdConfig(input: BirdConfigInput): BirdConfigResult {
  const warnings: string[] = [];
  const options = input.options ?? {};
  const settings = bgpSettings(input);
  const nodes = input.nodes.map(bgpNode);
  const local: BgpNode = nodes.find((n) => n.name === input.nodeName) ?? { name: input.nodeName, labels: {} };
  if (!nodes.some((n) => n.name === input.nodeName)) warnings.push(`Node ${input.nodeName} does not exist yet; no BGP sessions`);
  const sessions = nodes.some((n) => n.name === input.nodeName) ? planSessions({ input, settings, local, nodes, warnings }) : [];

  let routerId = options.routerId ?? local.v4?.ip ?? 'hash';
  if (routerId === 'hash') routerId = hashToIPv4(input.nodeName);
  const logLevel = settings.localSpec.logSeverityScreen ?? settings.globalSpec.logSeverityScreen;
  const debug = debugClause(logLevel);
  const programClusterRoutes = settings.globalSpec.programClusterRoutes;
  const vxlanInterfaces = options.vxlanInterfaces ?? DEFAULT_VXLAN_INTERFACES;
  const timers = options.connectTimers ?? DEFAULT_TIMERS;
  const serviceSpec = settings.globalSpec;
  const serviceCidrs = [
    ...(serviceSpec.serviceClusterIPs ?? []),
    ...(serviceSpec.serviceExternalIPs ?? []),
    ...(serviceSpec.serviceLoadBalancerIPs ?? []),
  ].map((s) => s.cidr ?? '').filter(Boolean);

  const routes = (family: 4 | 6): FamilyRoutes => ({
    blocks: cidrsOf(input.affineBlocks, family, warnings, 'affine block'),
    borrowed: cidrsOf(input.borrowedAddresses, family, warnings, 'borrowed address'),
    services: cidrsOf(serviceCidrs, family, warnings, 'service range'),
    pools: classifyPools(input.pools, family, programClusterRoutes),
  });
  const r4 = routes(4);
  const r6 = routes(6);

  // BGPFilters the sessions use.
  const filtersByName = new Map(input.filters.map((f) => [f.metadata.name, f]));
  const usedFilters = new Set<string>();
  for (const s of sessions) {
    for (const name of s.filters) {
      if (filtersByName.has(name)) usedFilters.add(name);
      else warnings.push(`${s.source}: BGPFilter ${name} does not exist; ignored`);
    }
  }
  const filterFunctions = new Map<string, string>();
  for (const name of [...usedFilters].sort()) {
    for (const list of ['importV4', 'exportV4', 'importV6', 'exportV6'] as const) {
      const text = renderFilterFunction(filtersByName.get(name)!, list, warnings);
      if (text) filterFunctions.set(`${name}|${list}`, text);
    }
  }
  const filterCalls = (s: Session, list: FilterList): string[] =>
    s.filters.filter((n) => filterFunctions.has(`${n}|${list}`)).map((n) => `${filterFunctionName(n, list)}(${s.internal});`);

  const out: string[] = [];
  out.push(`# BIRD configuration of node ${input.nodeName}, rendered by Margay from the datastore.`);
  out.push('# Do not edit: the Margay agent rewrites this file and reloads BIRD.');
  out.push(`router id ${routerId};`);
  out.push(logClause(options.log));
  out.push('timeformat protocol "%Y-%m-%dT%H:%M:%S";');
  out.push(`graceful restart wait ${options.gracefulRestartWait ?? 60};`);
  out.push('');
  out.push(communitiesFunction(settings, 4, warnings));
  out.push(communitiesFunction(settings, 6, warnings));
  out.push('');
  out.push(exportFunction(4, r4, vxlanInterfaces));
  out.push(exportFunction(6, r6, vxlanInterfaces));
  out.push('');
  out.push(kernelFilter(4, r4, settings.globalSpec.ipv4NormalRoutePriority ?? 1024));
  out.push(kernelFilter(6, r6, settings.globalSpec.ipv6NormalRoutePriority ?? 1024));
  for (const text of filterFunctions.values()) out.push('', text);
  out.push('');

  const excluded = [
    ...(options.workloadInterfacePrefixes ?? interfacePrefixes()).map((p) => `${p}*`),
    'kube-ipvs*',
    ...(settings.globalSpec.ignoredInterfaces ?? []),
  ].filter((p) => {
    const ok = isSafeInterfaceName(p);
    if (!ok) warnings.push(`interface pattern ${JSON.stringify(p)} cannot be written in BIRD; ignored`);
    return ok;
  });
  out.push('protocol device {');
  out.push('  scan time 2;');
  out.push('}');
  out.push('');
  out.push('# Connected networks, so that BGP next hops resolve (workload interfaces excluded).');
  out.push('protocol direct {');
  if (debug) out.push(`  ${debug}`);
  out.push('  ipv4;');
  out.push('  ipv6;');
  out.push(`  interface ${[...excluded.map((p) => `-${quoted(p)}`), '"*"'].join(', ')};`);
  out.push('}');
  for (const family of [4, 6] as const) {
    out.push('');
    out.push(`protocol kernel kernel${family} {`);
    out.push('  learn;             # learn alien routes from the kernel');
    out.push('  persist;           # keep routes in the kernel when BIRD stops (graceful restart)');
    out.push('  scan time 2;');
    out.push('  graceful restart;  # with -R, wait for the peers before touching the kernel');
    out.push('  merge paths on;    # ECMP');
    out.push('  metric 0;          # per-route krt_metric (default set by the filter)');
    out.push(`  ipv${family} {`);
    out.push('    import all;');
    out.push(`    export filter margay_kernel_v${family};`);
    out.push('  };');
    out.push('}');
  }
  for (const [family, r] of [[4, r4], [6, r6]] as const) {
    out.push('');
    out.push(`# What this host announces: its blocks, borrowed addresses and service ranges (never programmed into the kernel).`);
    out.push(`protocol static static${family} {`);
    out.push(`  ipv${family};`);
    for (const cidr of uniqueSorted([...r.blocks, ...r.borrowed, ...r.services])) out.push(`  route ${cidr} blackhole;`);
    out.push('}');
  }

  const bfdSessions = sessions.filter((s) => s.bfd.mode !== 'off');
  if (bfdSessions.length > 0) {
    const d = options.bfdDefaults ?? { intervalMs: 100, multiplier: 3 };
    out.push('');
    out.push('# BFD (Margay extension, see docs/bgp.md): sessions are requested by the BGP protocols below.');
    out.push('protocol bfd margay_bfd {');
    out.push(`  interface ${[...excluded.map((p) => `-${quoted(p)}`), '"*"'].join(', ')} {`);
    out.push(`    interval ${d.intervalMs} ms;`);
    out.push(`    multiplier ${d.multiplier};`);
    out.push('  };');
    out.push('  multihop {');
    out.push(`    interval ${d.intervalMs} ms;`);
    out.push(`    multiplier ${d.multiplier};`);
    out.push('  };');
    out.push('}');
  }

  const unnumbered = uniqueSorted(sessions.filter((s) => s.iface).map((s) => s.iface!));
  if (unnumbered.length > 0) {
    out.push('');
    out.push('# Router advertisements on link-local peering interfaces: they tell the router our link-local');
    out.push('# address. A router peering by interface (FRR `neighbor IFACE interface`) learns its peers only');
    out.push('# from them: without them it neither connects to us nor accepts our connection, and BIRD');
    out.push('# cannot discover the router by itself.');
    out.push('protocol radv margay_radv {');
    out.push('  ipv6;');
    for (const iface of unnumbered) {
      out.push(`  interface ${quoted(iface)} {`);
      out.push('    min ra interval 3;');
      out.push('    max ra interval 10;');
      out.push('    default lifetime 0;  # not a default router');
      out.push('  };');
    }
    out.push('}');
  }

  out.push('');
  out.push('template bgp margay_peer {');
  if (debug) out.push(`  ${debug}`);
  out.push('  graceful restart on;');
  out.push(`  connect delay time ${timers.connectDelay};`);
  out.push(`  connect retry time ${timers.connectRetry};`);
  out.push(`  error wait time ${timers.errorWaitMin}, ${timers.errorWaitMax};`);
  out.push('}');
  const groups: [string, (s: Session) => boolean][] = [
    ['Node-to-node mesh', (s) => s.kind === 'mesh'],
    ['Global peers', (s) => s.kind === 'global'],
    ['Node-specific peers', (s) => s.kind === 'node'],
    ['Unnumbered peers (Margay extension)', (s) => s.kind === 'unnumbered'],
  ];
  for (const [title, pick] of groups) {
    out.push('');
    out.push(`# ------------- ${title} -------------`);
    const group = sessions.filter(pick);
    if (group.length === 0) {
      out.push(title === 'Node-to-node mesh' && local.rrClusterId ? `# This node is a route reflector (cluster id ${local.rrClusterId}); it skips the mesh.` : '# None.');
    }
    for (const s of group) out.push(renderSession(s, filterCalls));
  }
  out.push('');
  return { text: out.join('\n'), peers: sessions.map(toPlan), warnings };
}
