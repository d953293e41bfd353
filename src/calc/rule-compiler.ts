/**
 * Compiles one Calico rule into the model's {@link CompiledRule}, listing the IP sets it needs.
 * This is Felix's rule conversion (`updateprocessors/rules.go` then `calc/rule_scanner.go`):
 *
 * - Each side's selector fields become one selector (see selector-rewrite.ts); when a side has
 *   both a selector and a notSelector, the notSelector is folded in (`(s) && (!(n))`) so one set
 *   suffices; a lone notSelector is its own set, not limited to the namespace.
 * - Numeric ports stay in the rule; each named port becomes an address·port set of the endpoints
 *   the side's selector matches (all endpoints without one) that declare that port, with the
 *   rule's protocol (TCP unless the rule says UDP or SCTP). When a side has named ports and no
 *   numeric ones, its selector set is left out: the named-port sets are already filtered by it.
 * - A `services` match becomes a service set (`svcnoport:` id, a `net` set that every packet must
 *   be in); this graph has no Kubernetes Service data, so those sets stay empty and such a rule
 *   side matches nothing.
 * - `http` is not enforced by the kernel dataplane: the rule is compiled without it and flagged.
 */
import { parsePort, protocolNumber } from '../api/mod.ts';
import type { Action, EntityRule, Port, Rule } from '../api/mod.ts';
import { parseSelector, type Selector } from '../selector/mod.ts';
import { type PortProtocol, namedPortSetId, serviceSetId } from './ids.ts';
import type { CompiledRule, EndpointMatch, IpSetKind, MatchCriteria, PortRange, RuleAction } from './model.ts';
import { ClearingMemo, ClearingMemo2 } from '../memo/mod.ts';
import { canonicalCidr } from '../net/mod.ts';
import { entityRuleSelectorText } from './selector-rewrite.ts';

/** An IP set a compiled rule refers to, and what decides its members. */
export interface IpSetSpec {
  id: string;
  kind: IpSetKind;
  /** The endpoints (and, for `net` sets, network sets) whose addresses are members. */
  selector: Selector;
  /** For an address·port set: the named port and protocol whose (address, port) pairs are members. */
  namedPort?: { name: string; protocol: PortProtocol };
  /** For a service set (always empty here): `<namespace>/<name>`. */
  service?: string;
}

/** Where the rule is, for its origin and log prefix. */
export interface RuleContext {
  /** The policy or profile key. */
  policy: string;
  direction: 'ingress' | 'egress';
  index: number;
  /** The NetworkPolicy's namespace; undefined for global policies and profiles. */
  namespace: string | undefined;
  /** The base of Log rule prefixes (FelixConfiguration `logPrefix`). */
  logPrefix: string;
}

/** The output of {@link compileRule}. */
export interface CompiledRuleAndSets {
  rule: CompiledRule;
  ipSets: IpSetSpec[];
}

const ALL = parseSelector('all()');

const ACTIONS: Record<Action, RuleAction> = { Allow: 'allow', Deny: 'deny', Pass: 'pass', Log: 'log' };

/** The prefix a Log rule logs with: the base, the policy key, the direction and the rule index. */
export function logPrefixFor(base: string, policy: string, direction: 'ingress' | 'egress', index: number): string {
  return `${base} ${policy} ${direction} ${index}`;
}

function namedPortProtocol(protocol: Rule['protocol']): PortProtocol {
  if (protocol === undefined) return 'tcp';
  const n = protocolNumber(protocol);
  return n === 17 ? 'udp' : n === 132 ? 'sctp' : 'tcp';
}

/**
 * A side without ports (most of them: sources, nearly every `notPorts`), shared rather than made
 * per rule (a cold start compiles 10,000 rules). Only read: a list goes into a rule when not empty.
 */
const NO_PORTS: { numeric: PortRange[]; named: string[] } = { numeric: [], named: [] };

/**
 * Ports by their stored value (`80`, `"8000:8100"`, `"http"`): a range (frozen, shared by the
 * rules that name it), a port name, or null when invalid. Policies repeat the same few ports, and
 * parsing each again was ~10 MiB of garbage at a cold start. Bounded: cleared when full.
 */
const parsedPorts = new ClearingMemo<Port, PortRange | string | null>(4096);

function portOf(port: Port): PortRange | string | undefined {
  let v = parsedPorts.get(port);
  if (v === undefined) {
    const parsed = parsePort(port);
    v = 'error' in parsed ? null : parsed.kind === 'named' ? parsed.name : Object.freeze({ first: parsed.min, last: parsed.max });
    parsedPorts.set(port, v);
  }
  return v ?? undefined; // null: invalid, validated upstream
}

/**
 * Split port lists by their text (`80,443,8000:8100,http`): rules repeat the same lists, and the
 * lists (frozen) go into the compiled rules as they are, one copy for all. Bounded: cleared when full.
 */
const splitLists = new ClearingMemo<string, { numeric: PortRange[]; named: string[] }>(4096);

function splitPorts(ports: Port[] | undefined): { numeric: PortRange[]; named: string[] } {
  if (ports === undefined || ports.length === 0) return NO_PORTS;
  // The text is a key only when no element holds a `,` (none valid does; an invalid `"80,81"`
  // must not share the split of `[80, 81]`).
  const keyed = ports.every((p) => typeof p === 'number' || (typeof p === 'string' && !p.includes(',')));
  const text = keyed ? ports.join(',') : undefined;
  let split = text === undefined ? undefined : splitLists.get(text);
  if (split === undefined) {
    const numeric: PortRange[] = [];
    const named: string[] = [];
    for (const p of ports) {
      const v = portOf(p);
      if (v === undefined) continue;
      if (typeof v === 'string') named.push(v);
      else numeric.push(v);
    }
    split = { numeric: Object.freeze(numeric.slice()) as PortRange[], named: Object.freeze(named.slice()) as string[] };
    if (text !== undefined) splitLists.set(text, split);
  }
  return split;
}

/**
 * Canonical CIDRs by their text as written: policies repeat the same nets (a cold start compiles
 * thousands of rules), and parsing and formatting each was ~15 ms of it. Bounded: cleared when full.
 */
const canonicalNets = new ClearingMemo<string, string | null>(4096);

function canonicalNet(text: string): string | undefined {
  let cidr = canonicalNets.get(text);
  if (cidr === undefined) {
    cidr = canonicalCidr(text) ?? null;
    canonicalNets.set(text, cidr);
  }
  return cidr ?? undefined;
}

/** The canonical CIDRs of a list; undefined when there are none. */
function nets(list: string[] | undefined): string[] | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const out = list.map(canonicalNet); // at its size: the rule keeps it
  return out.includes(undefined) ? (out.filter((c) => c !== undefined) as string[]) : (out as string[]);
}

/** Felix's `combineMatchesIfPossible`: fold a notSelector into a positive selector. */
function combineSelectors(positive: string, negative: string): { positive: string; negative: string } {
  if (positive === '' || negative === '') return { positive, negative };
  return { positive: `(${positive}) && (!(${negative}))`, negative: '' };
}

/** The selectors of a rule side: its positive set's, and a lone notSelector's. */
interface SideSelectors {
  readonly positive: Selector | undefined;
  readonly negative: Selector | undefined;
}

function sideSelectorsOf(side: EntityRule, namespace: string | undefined): SideSelectors {
  const { positive, negative } = combineSelectors(entityRuleSelectorText(side, namespace), side.notSelector ?? '');
  return { positive: positive !== '' ? parseSelector(positive) : undefined, negative: negative !== '' ? parseSelector(negative) : undefined };
}

/**
 * The selectors of sides that have at most a `selector` (nearly all), by namespace, then by
 * selector text: a cold start's 10,000 rules built and looked up the same ~100 combined texts.
 * Bounded: cleared when full.
 */
const simpleSides = new ClearingMemo2<string, string, SideSelectors>(4096);

function sideSelectors(side: EntityRule, namespace: string | undefined): SideSelectors {
  const selector = side.selector ?? '';
  if (side.notSelector !== undefined || side.namespaceSelector !== undefined || side.serviceAccounts !== undefined || typeof selector !== 'string') {
    return sideSelectorsOf(side, namespace);
  }
  const ns = namespace ?? '';
  let found = simpleSides.get(ns, selector);
  if (found === undefined) {
    found = sideSelectorsOf(side, namespace); // throws for a bad selector: nothing kept
    simpleSides.set(ns, selector, found);
  }
  return found;
}

/** The `net` set of a selector, one object per selector (shared by the rules that use it; only read). */
const netSets = new WeakMap<Selector, IpSetSpec>();

function netSet(sel: Selector): IpSetSpec {
  let spec = netSets.get(sel);
  if (spec === undefined) netSets.set(sel, (spec = { id: sel.id, kind: 'net', selector: sel }));
  return spec;
}

/** The named-port sets of a selector, likewise. */
const namedPortSets = new WeakMap<Selector, IpSetSpec[]>();

function namedPortSet(sel: Selector, protocol: PortProtocol, name: string): IpSetSpec {
  let list = namedPortSets.get(sel);
  if (list === undefined) namedPortSets.set(sel, (list = []));
  for (const spec of list) if (spec.namedPort?.protocol === protocol && spec.namedPort.name === name) return spec;
  const id = namedPortSetId(sel.id, protocol, name);
  const spec: IpSetSpec = { id, kind: 'ip-port', selector: sel, namedPort: { name, protocol } };
  list.push(spec);
  return spec;
}

/** A compiled side shared by the rules that have it, and the sets it needs. */
interface SharedSide {
  readonly match: EndpointMatch;
  readonly sets: readonly IpSetSpec[];
}

/**
 * Sides that name ports only (most destinations: `ports: [80, 443]`), by their split port lists
 * and the rule's protocol: they compile the same whatever the policy or namespace, so the rules
 * share one (frozen) match (a cold start compiles 10,000 such sides to a handful).
 */
const portOnlySides = new WeakMap<object, WeakMap<object, Partial<Record<PortProtocol, SharedSide>>>>();

function portsOnly(side: EntityRule): boolean {
  return (
    (side.selector === undefined || side.selector === '') &&
    side.notSelector === undefined &&
    side.namespaceSelector === undefined &&
    side.serviceAccounts === undefined &&
    side.nets === undefined &&
    side.notNets === undefined &&
    side.services === undefined
  );
}

function portOnlySide(side: EntityRule, protocol: PortProtocol, sets: Map<string, IpSetSpec>): EndpointMatch {
  const ports = splitPorts(side.ports);
  const notPorts = splitPorts(side.notPorts);
  let byNotPorts = portOnlySides.get(ports);
  if (byNotPorts === undefined) portOnlySides.set(ports, (byNotPorts = new WeakMap()));
  let byProtocol = byNotPorts.get(notPorts);
  if (byProtocol === undefined) byNotPorts.set(notPorts, (byProtocol = {}));
  let shared = byProtocol[protocol];
  if (shared === undefined) {
    const own = new Map<string, IpSetSpec>();
    const match = compileSideOf(side, undefined, protocol, own);
    if (match.namedPortIpSets !== undefined) Object.freeze(match.namedPortIpSets);
    if (match.notNamedPortIpSets !== undefined) Object.freeze(match.notNamedPortIpSets);
    shared = byProtocol[protocol] = { match: Object.freeze(match), sets: [...own.values()] };
  }
  for (const spec of shared.sets) sets.set(spec.id, spec);
  return shared.match;
}

function compileSide(
  side: EntityRule | undefined,
  namespace: string | undefined,
  protocol: PortProtocol,
  sets: Map<string, IpSetSpec>,
): EndpointMatch {
  if (side === undefined) return {};
  return portsOnly(side) ? portOnlySide(side, protocol, sets) : compileSideOf(side, namespace, protocol, sets);
}

function compileSideOf(side: EntityRule, namespace: string | undefined, protocol: PortProtocol, sets: Map<string, IpSetSpec>): EndpointMatch {
  const out: EndpointMatch = {};
  const { positive: positiveSel, negative: negativeSel } = sideSelectors(side, namespace);
  const ports = splitPorts(side.ports);
  const notPorts = splitPorts(side.notPorts);

  const n = nets(side.nets);
  if (n !== undefined && n.length > 0) out.nets = n;
  const nn = nets(side.notNets);
  if (nn !== undefined && nn.length > 0) out.notNets = nn;

  const addNamed = (names: string[]): string[] => {
    const sel = positiveSel ?? ALL;
    return names.map((name) => {
      const spec = namedPortSet(sel, protocol, name);
      sets.set(spec.id, spec);
      return spec.id;
    });
  };

  // Arrays made at their size: the rules keep them (a pushed-to array keeps room for 17).
  let ipSets: string[] | undefined;
  if (positiveSel !== undefined && (ports.numeric.length > 0 || ports.named.length === 0)) {
    sets.set(positiveSel.id, netSet(positiveSel));
    ipSets = [positiveSel.id];
  }
  const services = side.services;
  if (services !== undefined && services.name !== undefined && services.name !== '') {
    const svc = `${services.namespace ?? namespace ?? ''}/${services.name}`;
    const id = serviceSetId(services.namespace ?? namespace ?? '', services.name, false);
    sets.set(id, { id, kind: 'net', selector: ALL, service: svc });
    ipSets = ipSets === undefined ? [id] : [...ipSets, id];
  }
  if (ipSets !== undefined) out.ipSets = ipSets;
  if (negativeSel !== undefined) {
    sets.set(negativeSel.id, netSet(negativeSel));
    out.notIpSets = [negativeSel.id];
  }
  if (ports.numeric.length > 0) out.ports = ports.numeric;
  if (ports.named.length > 0) out.namedPortIpSets = addNamed(ports.named);
  if (notPorts.numeric.length > 0) out.notPorts = notPorts.numeric;
  if (notPorts.named.length > 0) out.notNamedPortIpSets = addNamed(notPorts.named);
  return out;
}

/** Compiles one rule of a policy or profile. */
export function compileRule(rule: Rule, ctx: RuleContext): CompiledRuleAndSets {
  const sets = new Map<string, IpSetSpec>();
  return { rule: compileRuleInto(rule, ctx, sets), ipSets: [...sets.values()] };
}

/** {@link compileRule} adding the IP sets it needs to `sets` (by id): the rule scanner's one map per policy. */
export function compileRuleInto(rule: Rule, ctx: RuleContext, sets: Map<string, IpSetSpec>): CompiledRule {
  const protocol = namedPortProtocol(rule.protocol);
  const match: MatchCriteria = {
    src: compileSide(rule.source, ctx.namespace, protocol, sets),
    dst: compileSide(rule.destination, ctx.namespace, protocol, sets),
  };
  if (rule.ipVersion !== undefined) match.ipVersion = rule.ipVersion;
  if (rule.protocol !== undefined) {
    const n = protocolNumber(rule.protocol);
    if (n !== undefined) match.protocol = n;
  }
  if (rule.notProtocol !== undefined) {
    const n = protocolNumber(rule.notProtocol);
    if (n !== undefined) match.notProtocol = n;
  }
  if (rule.icmp?.type !== undefined) match.icmp = rule.icmp.code !== undefined ? { type: rule.icmp.type, code: rule.icmp.code } : { type: rule.icmp.type };
  if (rule.notICMP?.type !== undefined) {
    match.notIcmp = rule.notICMP.code !== undefined ? { type: rule.notICMP.type, code: rule.notICMP.code } : { type: rule.notICMP.type };
  }
  const action = ACTIONS[rule.action] ?? 'deny';
  const compiled: CompiledRule = {
    match,
    action,
    origin: { policy: ctx.policy, direction: ctx.direction, index: ctx.index },
  };
  if (action === 'log') compiled.logPrefix = logPrefixFor(ctx.logPrefix, ctx.policy, ctx.direction, ctx.index);
  if (rule.http !== undefined) compiled.httpNotEnforced = true;
  return compiled;
}
