/**
 * The policy evaluator: the verdict the dataplane gives a new connection's first packet,
 * computed from a {@link ModelSnapshot} with the dataplane's own semantics, and what decided it.
 * `margay policy trace` and `policy matrix` are built on it.
 *
 * For a packet from endpoint A to endpoint B:
 * 1. A == B: allowed (the packet never leaves the workload; Kubernetes' tests call it loopback).
 * 2. A's egress, if A is known: the source address must be one of A's addresses or allowed
 *    spoofed prefixes (anti-spoofing), else the packet is dropped. Then A's tiers in order, each
 *    with at least one egress policy: policies in order, first matching rule of each (Log rules
 *    log and go on): Allow accepts (this direction is done), Deny drops, Pass leaves the tier.
 *    When no policy of the tier allows, denies or passes, the tier's default action applies
 *    (Deny drops at the end of the tier; Pass goes on). After the tiers, A's profiles in order
 *    (first matching rule; Pass goes to the next profile); when none accepts, the packet drops.
 * 3. B's ingress, if B is known, the same way.
 * Host endpoints are handled minimally: the failsafe ports (inbound for traffic to the host
 * endpoint, outbound for traffic from it) are accepted first, then its normal tiers and
 * profiles, and a host endpoint with neither drops. An address that is no endpoint's is outside
 * the model: no policy applies on its side.
 *
 * Not modelled: conntrack (replies of allowed connections), the workload-to-host default action,
 * preDNAT/doNotTrack/forward tiers, NAT.
 */
import { protocolNumber } from '../api/mod.ts';
import type {
  CompiledPolicy,
  CompiledRule,
  EndpointMatch,
  FailsafePort,
  HostEndpointPlan,
  MatchCriteria,
  TierPlan,
  WorkloadEndpointPlan,
} from './model.ts';
import { type Cidr, cidrContainsIp, formatIp, isHostCidr, type Ip, parseCidrOrIp, parseIp } from '../net/mod.ts';
import type { IpSetState, ModelSnapshot } from './snapshot.ts';

/** A packet: the first packet of a connection. */
export interface Packet {
  srcIp: string;
  dstIp: string;
  /** A protocol name (`tcp`, `udp`, `sctp`, `icmp`, `icmpv6`, any case) or number. */
  protocol: string | number;
  srcPort?: number;
  dstPort?: number;
  icmpType?: number;
  icmpCode?: number;
}

/** Which endpoints send and receive; each is looked up by address when not given. */
export interface TraceOptions {
  /** The sending endpoint: a workload key `<namespace>/<name>` or a host endpoint name. */
  from?: string;
  /** The receiving endpoint, likewise. */
  to?: string;
}

/** Why a step happened. */
export type TraceReason =
  /** A policy rule matched (its action says what it did). */
  | 'rule'
  /** No policy of the tier decided: the tier's default action applied. */
  | 'end-of-tier'
  /** A profile rule matched. */
  | 'profile'
  /** Profiles were tried and none accepted: the end of the endpoint's chain drops. */
  | 'end-of-profiles'
  /** The endpoint has no profiles (and no policy decided): the end of its chain drops. */
  | 'no-profile-default-deny'
  /** The source address is not the sending workload's. */
  | 'anti-spoofing'
  /** The sender is the receiver. */
  | 'same-endpoint'
  /** A host endpoint's failsafe port. */
  | 'failsafe';

/** One step of a trace. */
export interface TraceStep {
  /** The endpoint's key (workload `<ns>/<name>` or host endpoint name). */
  endpoint: string;
  endpointKind: 'workload' | 'host';
  direction: 'ingress' | 'egress';
  tier?: string;
  /** The policy or profile key. */
  policy?: string;
  ruleIndex?: number;
  action: 'allow' | 'deny' | 'pass' | 'log';
  reason: TraceReason;
  /** For Log rules: the prefix logged. */
  logPrefix?: string;
}

/** A trace's result. */
export interface TraceResult {
  verdict: 'allow' | 'deny';
  /** The sending endpoint, when known. */
  from?: string;
  /** The receiving endpoint, when known. */
  to?: string;
  steps: TraceStep[];
}

type EndpointRef = { kind: 'workload'; plan: WorkloadEndpointPlan } | { kind: 'host'; plan: HostEndpointPlan };

type DirectionResult = 'allow' | 'deny';

interface SetIndex {
  hosts: Set<string>;
  nets: Cidr[];
}

const PORT_PROTOCOLS: Record<number, string> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

function packetProtocol(p: string | number): number | undefined {
  if (typeof p === 'number') return p;
  const lower = p.toLowerCase();
  const named: Record<string, number> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58, sctp: 132, udplite: 136 };
  if (named[lower] !== undefined) return named[lower];
  if (/^\d+$/.test(p)) return Number(p);
  return protocolNumber(p);
}

/**
 * Evaluates packets against one snapshot. Build it once per snapshot state (it indexes the IP
 * sets lazily); after the snapshot changes, build a new one.
 */
export class PolicyEvaluator {
  readonly #snapshot: ModelSnapshot;
  readonly #setIndexes = new Map<string, SetIndex>();
  #byAddress: Map<string, EndpointRef> | undefined;

  constructor(snapshot: ModelSnapshot) {
    this.#snapshot = snapshot;
  }

  /** The verdict for a packet and the steps that led to it. */
  trace(packet: Packet, options: TraceOptions = {}): TraceResult {
    const steps: TraceStep[] = [];
    const src = parseAddress(packet.srcIp);
    const dst = parseAddress(packet.dstIp);
    if (src === undefined || dst === undefined) throw new Error(`not an IP address: ${src === undefined ? packet.srcIp : packet.dstIp}`);
    if (src.family !== dst.family) throw new Error(`source ${packet.srcIp} and destination ${packet.dstIp} are different IP families`);
    const protocol = packetProtocol(packet.protocol);
    if (protocol === undefined) throw new Error(`unknown protocol ${String(packet.protocol)}`);
    const ctx: PacketContext = { packet, src, dst, protocol };

    const from = options.from !== undefined ? this.#endpoint(options.from) : this.#endpointByAddress(src.text);
    const to = options.to !== undefined ? this.#endpoint(options.to) : this.#endpointByAddress(dst.text);
    const result: TraceResult = {
      verdict: 'allow',
      ...(from !== undefined ? { from: from.plan.key } : {}),
      ...(to !== undefined ? { to: to.plan.key } : {}),
      steps,
    };

    if (from !== undefined && to !== undefined && from.kind === to.kind && from.plan.key === to.plan.key) {
      steps.push({ endpoint: from.plan.key, endpointKind: from.kind, direction: 'egress', action: 'allow', reason: 'same-endpoint' });
      return result;
    }
    if (from !== undefined && this.#run(from, 'egress', ctx, steps) === 'deny') {
      result.verdict = 'deny';
      return result;
    }
    if (to !== undefined && this.#run(to, 'ingress', ctx, steps) === 'deny') result.verdict = 'deny';
    return result;
  }

  /** The endpoint with this key (`<ns>/<name>` workload, else a host endpoint name). */
  #endpoint(key: string): EndpointRef {
    const wl = this.#snapshot.workloads.get(key);
    if (wl !== undefined) return { kind: 'workload', plan: wl };
    const hep = this.#snapshot.hostEndpoints.get(key);
    if (hep !== undefined) return { kind: 'host', plan: hep };
    throw new Error(`no endpoint ${key} in the model`);
  }

  #endpointByAddress(ip: string): EndpointRef | undefined {
    if (this.#byAddress === undefined) {
      const map = new Map<string, EndpointRef>();
      for (const hep of [...this.#snapshot.hostEndpoints.values()].sort((a, b) => (a.key < b.key ? 1 : -1))) {
        for (const a of hep.addresses) map.set(a.slice(0, a.indexOf('/')), { kind: 'host', plan: hep });
      }
      // Workloads win over host endpoints; among workloads, the smallest key.
      for (const wl of [...this.#snapshot.workloads.values()].sort((a, b) => (a.key < b.key ? 1 : -1))) {
        for (const a of wl.addresses) map.set(a.slice(0, a.indexOf('/')), { kind: 'workload', plan: wl });
      }
      this.#byAddress = map;
    }
    return this.#byAddress.get(ip);
  }

  #run(ep: EndpointRef, direction: 'ingress' | 'egress', ctx: PacketContext, steps: TraceStep[]): DirectionResult {
    const base = { endpoint: ep.plan.key, endpointKind: ep.kind, direction } as const;
    if (ep.kind === 'workload' && direction === 'egress' && !this.#sourceAllowed(ep.plan, ctx.src)) {
      steps.push({ ...base, action: 'deny', reason: 'anti-spoofing' });
      return 'deny';
    }
    if (ep.kind === 'host') {
      const settings = this.#snapshot.settings;
      const failsafe = direction === 'ingress' ? settings?.failsafeInbound : settings?.failsafeOutbound;
      if (failsafe !== undefined && this.#failsafe(failsafe, direction, ctx)) {
        steps.push({ ...base, action: 'allow', reason: 'failsafe' });
        return 'allow';
      }
    }
    for (const tier of ep.plan.tiers) {
      const keys = tier[direction];
      if (keys.length === 0) continue;
      const decided = this.#runTier(tier, keys, base, ctx, steps);
      if (decided === 'allow' || decided === 'deny') return decided;
      if (decided === 'pass') continue;
      if (tier.defaultAction === 'Deny') {
        steps.push({ ...base, tier: tier.name, action: 'deny', reason: 'end-of-tier' });
        return 'deny';
      }
      steps.push({ ...base, tier: tier.name, action: 'pass', reason: 'end-of-tier' });
    }
    for (const key of ep.plan.profiles) {
      const profile = this.#snapshot.policies.get(key);
      if (profile === undefined) continue;
      const hit = this.#runRules(profile, direction, ctx, (rule) => steps.push({ ...base, policy: key, ruleIndex: rule.origin.index, action: 'log', reason: 'profile', ...logPrefix(rule) }));
      if (hit === undefined) continue;
      if (hit.action === 'pass') continue;
      const action = hit.action === 'allow' ? 'allow' : 'deny';
      steps.push({ ...base, policy: key, ruleIndex: hit.origin.index, action, reason: 'profile' });
      return action;
    }
    steps.push({ ...base, action: 'deny', reason: ep.plan.profiles.length === 0 ? 'no-profile-default-deny' : 'end-of-profiles' });
    return 'deny';
  }

  /** Runs one tier's policies; returns allow/deny/pass when one decided, undefined when none did. */
  #runTier(
    tier: TierPlan,
    keys: readonly string[],
    base: Pick<TraceStep, 'endpoint' | 'endpointKind' | 'direction'>,
    ctx: PacketContext,
    steps: TraceStep[],
  ): 'allow' | 'deny' | 'pass' | undefined {
    for (const key of keys) {
      const policy = this.#snapshot.policies.get(key);
      if (policy === undefined) continue;
      const hit = this.#runRules(policy, base.direction, ctx, (rule) =>
        steps.push({ ...base, tier: tier.name, policy: key, ruleIndex: rule.origin.index, action: 'log', reason: 'rule', ...logPrefix(rule) }),
      );
      if (hit === undefined) continue;
      const action = hit.action as 'allow' | 'deny' | 'pass';
      steps.push({ ...base, tier: tier.name, policy: key, ruleIndex: hit.origin.index, action, reason: 'rule' });
      return action;
    }
    return undefined;
  }

  /** The first matching non-Log rule of a policy's direction; Log rules that match are reported. */
  #runRules(policy: CompiledPolicy, direction: 'ingress' | 'egress', ctx: PacketContext, onLog: (rule: CompiledRule) => void): CompiledRule | undefined {
    for (const rule of policy[direction]) {
      if (!this.#matches(rule.match, ctx)) continue;
      if (rule.action === 'log') {
        onLog(rule);
        continue;
      }
      return rule;
    }
    return undefined;
  }

  #matches(m: MatchCriteria, ctx: PacketContext): boolean {
    if (m.ipVersion !== undefined && m.ipVersion !== ctx.src.family) return false;
    if (m.protocol !== undefined && m.protocol !== ctx.protocol) return false;
    if (m.notProtocol !== undefined && m.notProtocol === ctx.protocol) return false;
    if (m.icmp !== undefined && !icmpMatches(m.icmp, ctx.packet)) return false;
    if (m.notIcmp !== undefined && icmpMatches(m.notIcmp, ctx.packet)) return false;
    return this.#sideMatches(m.src, ctx.src, ctx.packet.srcPort, ctx) && this.#sideMatches(m.dst, ctx.dst, ctx.packet.dstPort, ctx);
  }

  #sideMatches(side: EndpointMatch, addr: Address, port: number | undefined, ctx: PacketContext): boolean {
    if (side.nets !== undefined && !side.nets.some((n) => cidrTextContains(n, addr))) return false;
    if (side.notNets !== undefined && side.notNets.some((n) => cidrTextContains(n, addr))) return false;
    if (side.ipSets !== undefined && !side.ipSets.every((id) => this.#inNetSet(id, addr))) return false;
    if (side.notIpSets !== undefined && side.notIpSets.some((id) => this.#inNetSet(id, addr))) return false;
    if (side.ports !== undefined || side.namedPortIpSets !== undefined) {
      if (port === undefined) return false;
      const inRanges = (side.ports ?? []).some((r) => port >= r.first && port <= r.last);
      if (!inRanges && !(side.namedPortIpSets ?? []).some((id) => this.#inPortSet(id, addr, ctx.protocol, port))) return false;
    }
    if (side.notPorts !== undefined || side.notNamedPortIpSets !== undefined) {
      if (port === undefined) return false;
      if ((side.notPorts ?? []).some((r) => port >= r.first && port <= r.last)) return false;
      if ((side.notNamedPortIpSets ?? []).some((id) => this.#inPortSet(id, addr, ctx.protocol, port))) return false;
    }
    return true;
  }

  #setIndex(id: string): SetIndex {
    let index = this.#setIndexes.get(id);
    if (index !== undefined) return index;
    const set: IpSetState | undefined = this.#snapshot.ipSets.get(id);
    index = { hosts: new Set(), nets: [] };
    for (const member of set?.members ?? []) {
      if (set?.kind === 'ip-port') {
        index.hosts.add(member);
        continue;
      }
      const cidr = parseCidrOrIp(member);
      if (cidr === undefined) continue;
      if (isHostCidr(cidr)) index.hosts.add(formatIp({ family: cidr.family, value: cidr.base }));
      else index.nets.push(cidr);
    }
    this.#setIndexes.set(id, index);
    return index;
  }

  #inNetSet(id: string, addr: Address): boolean {
    const index = this.#setIndex(id);
    return index.hosts.has(addr.text) || index.nets.some((n) => cidrContainsIp(n, addr));
  }

  #inPortSet(id: string, addr: Address, protocol: number, port: number): boolean {
    const name = PORT_PROTOCOLS[protocol];
    if (name === undefined) return false;
    return this.#setIndex(id).hosts.has(`${addr.text},${name}:${port}`);
  }

  #sourceAllowed(plan: WorkloadEndpointPlan, src: Address): boolean {
    return [...plan.addresses, ...plan.allowSpoofedSourcePrefixes].some((n) => cidrTextContains(n, src));
  }

  #failsafe(ports: readonly FailsafePort[], direction: 'ingress' | 'egress', ctx: PacketContext): boolean {
    const name = PORT_PROTOCOLS[ctx.protocol];
    // Both ways the failsafe port is the server's: the destination port.
    const port = ctx.packet.dstPort;
    const peer = direction === 'ingress' ? ctx.src : ctx.dst;
    return ports.some((p) => p.protocol === name && p.port === port && (p.net === undefined || cidrTextContains(p.net, peer)));
  }
}

interface PacketContext {
  packet: Packet;
  src: Address;
  dst: Address;
  protocol: number;
}

/** A packet's address, with its canonical text (the model keys addresses by it). */
type Address = Ip & { text: string };

function parseAddress(text: string): Address | undefined {
  const ip = parseIp(text);
  return ip && { ...ip, text: formatIp(ip) };
}

function cidrTextContains(text: string, addr: Address): boolean {
  const cidr = parseCidrOrIp(text);
  return cidr !== undefined && cidrContainsIp(cidr, addr);
}

function icmpMatches(m: { type: number; code?: number }, packet: Packet): boolean {
  return packet.icmpType === m.type && (m.code === undefined || packet.icmpCode === m.code);
}

function logPrefix(rule: CompiledRule): { logPrefix?: string } {
  return rule.logPrefix !== undefined ? { logPrefix: rule.logPrefix } : {};
}

/** Traces one packet against a snapshot (builds a {@link PolicyEvaluator}; reuse one for many packets). */
export function tracePacket(snapshot: ModelSnapshot, packet: Packet, options: TraceOptions = {}): TraceResult {
  return new PolicyEvaluator(snapshot).trace(packet, options);
}

/** A port (and protocol) a matrix is computed for. */
export interface MatrixPort {
  protocol: 'tcp' | 'udp' | 'sctp';
  port: number;
}

/** Options of {@link policyMatrix}. */
export interface MatrixOptions {
  /** The client's source port (default 49152, the first IANA ephemeral port). */
  sourcePort?: number;
  /** Only this IP family (default: IPv4 where both ends have it, else IPv6). */
  ipVersion?: 4 | 6;
}

/** The verdict for every ordered pair of endpoints, per port. */
export interface PolicyMatrix {
  /** The endpoints, in row and column order. */
  endpoints: string[];
  ports: MatrixPort[];
  /** `verdicts[p][i][j]`: from `endpoints[i]` to `endpoints[j]` on `ports[p]`. */
  verdicts: Array<Array<Array<'allow' | 'deny'>>>;
}

/**
 * The verdict for every ordered pair of `endpoints` (default: every workload, sorted) on each
 * port. Each pair uses the first address of the sender that has a same-family address at the
 * receiver (IPv4 first, or only `options.ipVersion`); a pair with no common family is `deny`.
 */
export function policyMatrix(
  snapshot: ModelSnapshot,
  endpoints: readonly string[] | undefined,
  ports: readonly MatrixPort[],
  options: MatrixOptions = {},
): PolicyMatrix {
  const evaluator = new PolicyEvaluator(snapshot);
  const keys = endpoints !== undefined ? [...endpoints] : [...snapshot.workloads.keys()].sort();
  const addresses = keys.map((k) => {
    const plan = snapshot.workloads.get(k) ?? snapshot.hostEndpoints.get(k);
    if (plan === undefined) throw new Error(`no endpoint ${k} in the model`);
    return plan.addresses.map((a) => a.slice(0, a.indexOf('/'))).sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
  });
  const sourcePort = options.sourcePort ?? 49152;
  const verdicts = ports.map((p) =>
    keys.map((from, i) =>
      keys.map((to, j) => {
        const pair = pickPair(addresses[i]!, addresses[j]!, options.ipVersion);
        if (pair === undefined) return 'deny' as const;
        return evaluator.trace({ srcIp: pair[0], dstIp: pair[1], protocol: p.protocol, srcPort: sourcePort, dstPort: p.port }, { from, to }).verdict;
      }),
    ),
  );
  return { endpoints: keys, ports: [...ports], verdicts };
}

function pickPair(from: readonly string[], to: readonly string[], ipVersion: 4 | 6 | undefined): [string, string] | undefined {
  for (const a of from) {
    const v6 = a.includes(':');
    if (ipVersion !== undefined && v6 !== (ipVersion === 6)) continue;
    const b = to.find((x) => x.includes(':') === v6);
    if (b !== undefined) return [a, b];
  }
  return undefined;
}

/** The verdict of one cell of a matrix. */
export function matrixVerdict(m: PolicyMatrix, from: string, to: string, port: MatrixPort): 'allow' | 'deny' {
  const p = m.ports.findIndex((x) => x.protocol === port.protocol && x.port === port.port);
  const i = m.endpoints.indexOf(from);
  const j = m.endpoints.indexOf(to);
  if (p < 0 || i < 0 || j < 0) throw new Error(`no cell ${from} → ${to} ${port.protocol}/${port.port} in the matrix`);
  return m.verdicts[p]![i]![j]!;
}
