/**
 * Renders chains (pure): policy and profile chains, workload and host endpoint chains, and the
 * fixed chains (hooks, dispatch, failsafe, NAT). Semantics follow Felix (calico-facts §1): an
 * endpoint chain runs its tiers in order (clear Pass, call each policy while Pass is clear, return
 * on Accept, drop at the end of a tier unless its default action is Pass), then its profiles, then
 * drops. Policy chains say Allow by setting the accept mark and returning, Pass by setting the pass
 * mark and returning, Deny by dropping, and Log by logging and carrying on.
 */
import type {
  CompiledPolicy,
  CompiledRule,
  DataplaneSettings,
  FailsafePort,
  HostEndpointPlan,
  TierPlan,
  WorkloadEndpointPlan,
} from '../../calc/mod.ts';
import { ClearingMemo } from '../../memo/mod.ts';
import { disjointNets, type Family, formatCidr, parseCidrOrIp } from '../../net/mod.ts';
import { BaseChains, DispatchMaps, interfaceChain, natSetName, StaticChains, workloadSourceSet, type InterfaceChainKind } from './names.ts';
import { dispatchTier, sequenceRules, type Guard, type TierPolicy } from './render-dispatch.ts';
import { renderRuleInto, type RuleRenderContext } from './render-rules.ts';
import { hex, type MarkBits } from './settings.ts';
import { rule, type ChainSpec, type RenderedRule } from './state.ts';

/** What chain rendering needs besides rule rendering. */
export interface ChainRenderContext extends RuleRenderContext {
  /** Returns the chain of one direction of a policy or profile (recording the reference). */
  policyChain(direction: 'ingress' | 'egress', key: string): string;
  /** Where one direction of a policy can match (`any` when unknown); without it tiers are not dispatched. */
  policyGuard?(direction: 'ingress' | 'egress', key: string): Guard;
}

type Direction = 'ingress' | 'egress';

const ZERO = '0x00000000';

function markIsSet(bit: number): string {
  return `meta mark & ${hex(bit)} == ${hex(bit)}`;
}

function clearMarks(bits: number): string {
  return `meta mark set meta mark & ${hex(~bits >>> 0)}`;
}

function allMarks(m: MarkBits): number {
  return (m.accept | m.pass | m.scratch0 | m.scratch1) >>> 0;
}

/** Both chains of a policy or profile. Policies with `doNotTrack` also `notrack` what they allow. */
export function renderPolicyChains(
  policy: CompiledPolicy,
  ingressName: string,
  egressName: string,
  ctx: ChainRenderContext,
): { ingress: ChainSpec; egress: ChainSpec } {
  const flavor = policy.doNotTrack ? 'untracked' : 'normal';
  const render = (rules: readonly CompiledRule[]): RenderedRule[] => {
    const out: RenderedRule[] = [];
    for (let i = 0; i < rules.length; i++) renderRuleInto(out, rules[i] as CompiledRule, flavor, ctx);
    return out;
  };
  return { ingress: { name: ingressName, rules: render(policy.ingress) }, egress: { name: egressName, rules: render(policy.egress) } };
}

/**
 * The tier section of an endpoint chain. With `dispatch`, a tier with enough port-limited
 * policies dispatches by protocol and port (render-dispatch.ts): its chains, named after
 * `dispatch.base`, are added to `dispatch.out`. The caller clears the accept and pass marks just
 * before (every endpoint chain does): the first tier does not clear pass again.
 */
export function tierRules(
  tiers: readonly TierPlan[],
  dir: Direction,
  endOfTierDrop: boolean,
  ctx: ChainRenderContext,
  dispatch?: { base: string; out: ChainSpec[] },
): RenderedRule[] {
  const { accept, pass } = ctx.marks;
  const out: RenderedRule[] = [];
  let first = true;
  tiers.forEach((tier, t) => {
    const keys = tier[dir];
    if (keys.length === 0) return;
    if (!first) out.push(fixedRule(clearMarks(pass), `tier ${tier.name}`));
    first = false;
    const guarded = dispatch !== undefined && ctx.policyGuard !== undefined;
    // Each policy's entry made once, with its guard when the tier may dispatch (no copy per policy).
    const policies = keys.map((key) =>
      guarded ? { key, chain: ctx.policyChain(dir, key), guard: ctx.policyGuard!(dir, key) } : { key, chain: ctx.policyChain(dir, key) },
    );
    const chains =
      dispatch && guarded
        ? dispatchTier({ policies: policies as (TierPolicy & { guard: Guard })[], base: `${dispatch.base}.${t}`, tier: tier.name, marks: ctx.marks })
        : undefined;
    if (chains) {
      dispatch?.out.push(...chains);
      out.push(rule(`jump ${dispatch?.base}.${t}`, `tier ${tier.name} dispatch`));
      out.push(fixedRule(`${markIsSet(accept)} return`, `tier ${tier.name} allowed`));
    } else {
      out.push(...sequenceRules(policies, { tier: tier.name, marks: ctx.marks }));
    }
    if (endOfTierDrop && tier.defaultAction !== 'Pass') {
      out.push(fixedRule(`meta mark & ${hex(pass)} == ${ZERO} counter drop`, `end of tier ${tier.name}`));
    }
  });
  return out;
}

function profileRules(profiles: readonly string[], dir: Direction, ctx: ChainRenderContext): RenderedRule[] {
  const out: RenderedRule[] = [];
  for (const key of profiles) {
    out.push(rule(`jump ${ctx.policyChain(dir, key)}`, `profile ${key}`));
    out.push(rule(`${markIsSet(ctx.marks.accept)} return`, `profile ${key} allowed`));
  }
  return out;
}

function conntrackRules(): RenderedRule[] {
  return [fixedRule('ct state established,related accept', 'conntrack'), fixedRule('ct state invalid counter drop', 'conntrack invalid')];
}

/**
 * The rules every endpoint or policy-list chain repeats (conntrack, clear marks, tier headers,
 * final drops), fingerprinted once: a cold start would hash the same few texts thousands of times.
 * Bounded, since the settings (marks, tier names) may change while the agent runs.
 */
const fixedRules = new ClearingMemo<string, RenderedRule>(1024);

function fixedRule(body: string, desc: string): RenderedRule {
  const key = `${body}\n${desc}`;
  let r = fixedRules.get(key);
  if (r === undefined) {
    fixedRules.set(key, (r = rule(body, desc)));
  }
  return r;
}

/** The nets a workload may send from (its addresses and allowed prefixes), per family, disjoint. */
export function workloadSources(ep: WorkloadEndpointPlan, warn?: (message: string) => void): { v4: string[]; v6: string[] } {
  const allowed = disjointNets([...ep.addresses, ...ep.allowSpoofedSourcePrefixes]);
  for (const bad of allowed.invalid) warn?.(`workload ${ep.key}: ignoring invalid address ${JSON.stringify(bad)}`);
  return { v4: allowed.v4, v6: allowed.v6 };
}

/**
 * The identity of a workload's policy list in one direction: the tiers that have policies in it
 * (name, default action, policies in order) and the profiles. Workloads with the same key share
 * one chain.
 */
export function policyListKey(ep: Pick<WorkloadEndpointPlan, 'tiers' | 'profiles'>, dir: Direction): string {
  const tiers = ep.tiers.filter((t) => t[dir].length > 0).map((t) => [t.name, t.defaultAction, t[dir]]);
  return JSON.stringify([dir, tiers, ep.profiles]);
}

/**
 * The chain shared by the workloads of one policy list in one direction (`egress`: traffic from
 * them; `ingress`: to them): conntrack, tiers, profiles, drop; first in the result, followed by
 * the chains of its dispatched tiers. Anti-spoofing is not here but in the from-workload dispatch
 * (one set lookup), so nothing in it depends on the workload.
 */
export function renderPolicyListChain(
  ep: Pick<WorkloadEndpointPlan, 'tiers' | 'profiles'>,
  dir: Direction,
  name: string,
  ctx: ChainRenderContext,
): ChainSpec[] {
  const { accept, pass } = ctx.marks;
  const aux: ChainSpec[] = [];
  const rules = [
    ...conntrackRules(),
    fixedRule(clearMarks(accept | pass), 'clear marks'),
    // Only the tiers with policies in this direction, so their indices (names) follow the key.
    ...tierRules(ep.tiers.filter((t) => t[dir].length > 0), dir, true, ctx, { base: name, out: aux }),
    ...profileRules(ep.profiles, dir, ctx),
    fixedRule('counter drop', 'no policy or profile allowed'),
  ];
  return [{ name, rules }, ...aux];
}

/** A host endpoint chain and the dispatch map that leads to it. */
export interface HostChain {
  kind: InterfaceChainKind;
  map: string;
  chain: ChainSpec;
}

function hasPolicies(tiers: readonly TierPlan[], dir: Direction): boolean {
  return tiers.some((t) => t[dir].length > 0);
}

/** The chains of one host endpoint, each with the map that dispatches to it. */
export function renderHostEndpointChains(ep: HostEndpointPlan, ctx: ChainRenderContext): HostChain[] {
  const { accept, pass } = ctx.marks;
  const clear = fixedRule(clearMarks(accept | pass), 'clear marks');
  const iface = ep.interfaceName;
  const out: HostChain[] = [];
  const add = (kind: InterfaceChainKind, map: string, rules: RenderedRule[]): void => {
    out.push({ kind, map, chain: { name: interfaceChain(kind, iface), rules } });
  };
  // Traffic to and from host processes: failsafe first, default deny.
  add('fh', DispatchMaps.fromHost, [
    ...conntrackRules(),
    rule(`jump ${StaticChains.failsafeIn}`, 'failsafe'),
    clear,
    ...tierRules(ep.tiers, 'ingress', true, ctx),
    ...profileRules(ep.profiles, 'ingress', ctx),
    fixedRule('counter drop', 'no policy or profile allowed'),
  ]);
  add('th', DispatchMaps.toHost, [
    ...conntrackRules(),
    rule(`jump ${StaticChains.failsafeOut}`, 'failsafe'),
    clear,
    ...tierRules(ep.tiers, 'egress', true, ctx),
    ...profileRules(ep.profiles, 'egress', ctx),
    fixedRule('counter drop', 'no policy or profile allowed'),
  ]);
  // Forwarded traffic: allowed unless applyOnForward policies apply in that direction.
  for (const [dir, kind, map] of [
    ['ingress', 'fhfw', DispatchMaps.fromHostForward],
    ['egress', 'thfw', DispatchMaps.toHostForward],
  ] as const) {
    if (!hasPolicies(ep.forwardTiers, dir)) continue;
    add(kind, map, [...conntrackRules(), clear, ...tierRules(ep.forwardTiers, dir, true, ctx), rule('counter drop', 'no policy allowed')]);
  }
  // preDNAT (ingress only) and doNotTrack: no end-of-tier drop, no profiles, no final drop.
  if (hasPolicies(ep.preDnatTiers, 'ingress')) {
    add('fhpd', DispatchMaps.fromHostPreDnat, [
      rule(`jump ${StaticChains.failsafeIn}`, 'failsafe'),
      clear,
      ...tierRules(ep.preDnatTiers, 'ingress', false, ctx),
    ]);
  }
  if (hasPolicies(ep.untrackedTiers, 'ingress')) {
    add('fhu', DispatchMaps.fromHostRaw, [
      rule(`jump ${StaticChains.failsafeInRaw}`, 'failsafe'),
      clear,
      ...tierRules(ep.untrackedTiers, 'ingress', false, ctx),
    ]);
  }
  if (hasPolicies(ep.untrackedTiers, 'egress')) {
    add('thu', DispatchMaps.toHostRaw, [
      rule(`jump ${StaticChains.failsafeOutRaw}`, 'failsafe'),
      clear,
      ...tierRules(ep.untrackedTiers, 'egress', false, ctx),
    ]);
  }
  return out;
}

const PROTO_NUMBERS: Record<FailsafePort['protocol'], number> = { tcp: 6, udp: 17, sctp: 132 };

function failsafeRule(p: FailsafePort, portDir: 'sport' | 'dport', netDir: 'saddr' | 'daddr', ctx: RuleRenderContext): RenderedRule | undefined {
  const port = `meta l4proto ${PROTO_NUMBERS[p.protocol]} th ${portDir} ${p.port}`;
  const desc = `failsafe ${p.protocol}:${p.port}${p.net ? ` ${p.net}` : ''}`;
  if (!p.net) return rule(`${port} accept`, desc);
  const net = parseCidrOrIp(p.net);
  if (!net) {
    ctx.warn?.(`ignoring failsafe port with invalid net ${JSON.stringify(p.net)}`);
    return undefined;
  }
  if (!ctx.families.includes(net.family)) return undefined;
  const text = formatCidr(net);
  return rule(`${net.family === 4 ? 'ip' : 'ip6'} ${netDir} ${text} ${port} accept`, desc);
}

/**
 * Felix's OpenStack special cases in the workload-to-host chain, before the workload's egress
 * policy: DHCP (v4 and v6) and DNS to the host, and the metadata server.
 */
function openstackToHostRules(settings: DataplaneSettings, ctx: RuleRenderContext): RenderedRule[] {
  const os = settings.openstack;
  if (os === undefined) return [];
  const out: RenderedRule[] = [];
  if (os.metadataAddr !== undefined && ctx.families.includes(4)) {
    out.push(rule(`ip daddr ${os.metadataAddr} tcp dport ${os.metadataPort} accept`, 'openstack metadata'));
  }
  if (ctx.families.includes(4)) out.push(rule('meta nfproto ipv4 udp sport 68 udp dport 67 accept', 'openstack dhcp'));
  if (ctx.families.includes(6)) out.push(rule('meta nfproto ipv6 udp sport 546 udp dport 547 accept', 'openstack dhcpv6'));
  out.push(rule('udp dport 53 accept', 'openstack dns'));
  return out;
}

/** Which host endpoint chain kinds have an all-interfaces (`*`) endpoint. */
export type WildcardChains = Partial<Record<InterfaceChainKind, boolean>>;

function prefixMatches(settings: DataplaneSettings, dir: 'iifname' | 'oifname'): string[] {
  return settings.interfacePrefixes.map((p) => `${dir} "${p.replace(/["\\*]/g, '')}*"`);
}

/** The fixed chains: hooks, dispatch, workload-to-host, failsafe and NAT outgoing. */
export function renderStaticChains(settings: DataplaneSettings, wildcard: WildcardChains, ctx: RuleRenderContext): ChainSpec[] {
  const m = ctx.marks;
  const all = allMarks(m);
  const accepted = rule(`${markIsSet(m.accept)} accept`, 'accepted by policy');
  const fromWl = prefixMatches(settings, 'iifname');
  const toWl = prefixMatches(settings, 'oifname');
  const chains: ChainSpec[] = [];
  const base = (name: string, spec: ChainSpec['base'], rules: RenderedRule[]): void => {
    chains.push(spec ? { name, base: spec, rules } : { name, rules });
  };
  const filter = (hook: 'prerouting' | 'input' | 'forward' | 'output', priority: number) =>
    ({ type: 'filter', hook, priority, policy: 'accept' }) as const;

  base(BaseChains.rawPrerouting, filter('prerouting', -300), [
    rule(clearMarks(all), 'clear marks'),
    ...fromWl.map((w) => rule(`${w} return`, 'workload traffic')),
    rule(`jump ${StaticChains.fromHostRawDispatch}`, 'untracked host endpoint policy'),
    accepted,
  ]);
  base(BaseChains.rawOutput, filter('output', -300), [
    rule(clearMarks(all), 'clear marks'),
    rule(`jump ${StaticChains.toHostRawDispatch}`, 'untracked host endpoint policy'),
    accepted,
  ]);
  base(BaseChains.manglePrerouting, filter('prerouting', -150), [
    rule('ct state established,related accept', 'conntrack'),
    accepted,
    ...fromWl.map((w) => rule(`${w} return`, 'workload traffic')),
    rule(`jump ${StaticChains.fromHostPreDnatDispatch}`, 'preDNAT host endpoint policy'),
    accepted,
  ]);
  base(BaseChains.filterInput, filter('input', 0), [
    ...fromWl.map((w) => rule(`${w} goto ${StaticChains.workloadToHost}`, 'from workload to host')),
    accepted,
    rule(clearMarks(all), 'clear marks'),
    rule(`jump ${StaticChains.fromHostDispatch}`, 'host endpoint policy'),
    accepted,
  ]);
  base(BaseChains.filterForward, filter('forward', 0), [
    rule(clearMarks(all & ~m.accept), 'clear marks but accept'),
    rule(`meta mark & ${hex(m.accept)} == ${ZERO} jump ${StaticChains.fromHostForwardDispatch}`, 'forward host endpoint policy'),
    ...fromWl.map((w) => rule(`${w} jump ${StaticChains.fromWorkloadDispatch}`, 'from workload')),
    ...toWl.map((w) => rule(`${w} jump ${StaticChains.toWorkloadDispatch}`, 'to workload')),
    rule(`jump ${StaticChains.toHostForwardDispatch}`, 'forward host endpoint policy'),
    accepted,
  ]);
  base(BaseChains.filterOutput, filter('output', 0), [
    accepted,
    ...toWl.map((w) => rule(`${w} return`, 'host to workload is not policed')),
    rule(clearMarks(all), 'clear marks'),
    rule(`jump ${StaticChains.toHostDispatch}`, 'host endpoint policy'),
    accepted,
  ]);
  base(BaseChains.natPostrouting, { type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' }, [
    rule(`jump ${StaticChains.natOutgoing}`, 'nat outgoing'),
  ]);

  const metadata = settings.openstack?.metadataAddr;
  if (metadata !== undefined && ctx.families.includes(4)) {
    // OpenStack VMs find the metadata server at 169.254.169.254:80 (Felix's special case).
    base(BaseChains.natPrerouting, { type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' }, [
      rule(`ip daddr 169.254.169.254 tcp dport 80 dnat ip to ${metadata}:${settings.openstack!.metadataPort}`, 'openstack metadata'),
    ]);
  }
  base(StaticChains.natOutgoing, undefined, [
    ...ctx.families.map((f: Family) => {
      const a = f === 4 ? 'ip' : 'ip6';
      return rule(`${a} saddr @${natSetName('nat-pools', f)} ${a} daddr != @${natSetName('all-pools', f)} masquerade fully-random`, `nat outgoing v${f}`);
    }),
  ]);
  base(StaticChains.fromWorkloadDispatch, undefined, [
    // Anti-spoofing: a workload sends only from its addresses and allowed prefixes (one lookup).
    rule(`meta nfproto ipv4 iifname . ip saddr != @${workloadSourceSet(4)} counter drop`, 'anti-spoofing v4'),
    rule(`meta nfproto ipv6 iifname . ip6 saddr != @${workloadSourceSet(6)} counter drop`, 'anti-spoofing v6'),
    rule(`iifname vmap @${DispatchMaps.fromWorkload}`, 'dispatch'),
    rule('counter drop', 'unknown workload interface'),
  ]);
  base(StaticChains.toWorkloadDispatch, undefined, [
    rule(`oifname vmap @${DispatchMaps.toWorkload}`, 'dispatch'),
    rule('counter drop', 'unknown workload interface'),
  ]);
  const endpointToHost =
    settings.defaultEndpointToHostAction === 'Accept' ? 'accept' : settings.defaultEndpointToHostAction === 'Return' ? 'return' : 'counter drop';
  base(StaticChains.workloadToHost, undefined, [
    ...(ctx.families.includes(6) ? [rule('meta l4proto 58 icmpv6 type { 130, 131, 132, 133, 135, 136 } accept', 'icmpv6 router and neighbour discovery')] : []),
    ...openstackToHostRules(settings, ctx),
    rule(`jump ${StaticChains.fromWorkloadDispatch}`, 'workload egress policy'),
    rule(endpointToHost, `DefaultEndpointToHostAction ${settings.defaultEndpointToHostAction}`),
  ]);

  const dispatch = (name: string, dir: 'iifname' | 'oifname', map: string, kind: InterfaceChainKind, skipWorkloads: boolean): void => {
    base(name, undefined, [
      ...(skipWorkloads ? (dir === 'iifname' ? fromWl : toWl).map((w) => rule(`${w} return`, 'not a host endpoint')) : []),
      rule(`${dir} vmap @${map}`, 'dispatch'),
      ...(wildcard[kind] ? [rule(`goto ${interfaceChain(kind, '*')}`, 'all-interfaces host endpoint')] : []),
    ]);
  };
  dispatch(StaticChains.fromHostDispatch, 'iifname', DispatchMaps.fromHost, 'fh', false);
  dispatch(StaticChains.toHostDispatch, 'oifname', DispatchMaps.toHost, 'th', true);
  dispatch(StaticChains.fromHostForwardDispatch, 'iifname', DispatchMaps.fromHostForward, 'fhfw', true);
  dispatch(StaticChains.toHostForwardDispatch, 'oifname', DispatchMaps.toHostForward, 'thfw', true);
  dispatch(StaticChains.fromHostRawDispatch, 'iifname', DispatchMaps.fromHostRaw, 'fhu', false);
  dispatch(StaticChains.toHostRawDispatch, 'oifname', DispatchMaps.toHostRaw, 'thu', true);
  dispatch(StaticChains.fromHostPreDnatDispatch, 'iifname', DispatchMaps.fromHostPreDnat, 'fhpd', false);

  const fs = (ports: FailsafePort[], portDir: 'sport' | 'dport', netDir: 'saddr' | 'daddr'): RenderedRule[] =>
    ports.map((p) => failsafeRule(p, portDir, netDir, ctx)).filter((r): r is RenderedRule => r !== undefined);
  base(StaticChains.failsafeIn, undefined, fs(settings.failsafeInbound, 'dport', 'saddr'));
  base(StaticChains.failsafeOut, undefined, fs(settings.failsafeOutbound, 'dport', 'daddr'));
  // Before conntrack, replies to the other direction's failsafe traffic must pass too.
  base(StaticChains.failsafeInRaw, undefined, [...fs(settings.failsafeInbound, 'dport', 'saddr'), ...fs(settings.failsafeOutbound, 'sport', 'saddr')]);
  base(StaticChains.failsafeOutRaw, undefined, [...fs(settings.failsafeOutbound, 'dport', 'daddr'), ...fs(settings.failsafeInbound, 'sport', 'daddr')]);
  return chains;
}

/** Every dispatch map (all keyed on interface names). */
export const ALL_DISPATCH_MAPS: readonly string[] = Object.values(DispatchMaps);
