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

function splitPorts(ports: Port[] | undefined): { numeric: PortRange[]; named: string[] } {
  if (ports === undefined || ports.length === 0) return NO_PORTS;
  const numeric: PortRange[] = [];
  const named: string[] = [];
  for (const p of ports ?? []) {
    const parsed = parsePort(p);
    if ('error' in parsed) continue; // validated upstream
    if (parsed.kind === 'named') named.push(parsed.name);
    else numeric.push({ first: parsed.min, last: parsed.max });
  }
  return { numeric, named };
}

/**
 * Canonical CIDRs by their text as written: policies repeat the same nets (a cold start compiles
 * thousands of rules), and parsing and formatting each was ~15 ms of it. Bounded: cleared when full.
 */
const canonicalNets = new Map<string, string | null>();
const CANONICAL_NETS_MAX = 4096;

function canonicalNet(text: string): string | undefined {
  let cidr = canonicalNets.get(text);
  if (cidr === undefined) {
    if (canonicalNets.size >= CANONICAL_NETS_MAX) canonicalNets.clear();
    cidr = canonicalCidr(text) ?? null;
    canonicalNets.set(text, cidr);
  }
  return cidr ?? undefined;
}

/** The canonical CIDRs of a list; undefined when there are none. */
function nets(list: string[] | undefined): string[] | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const out: string[] = [];
  for (const text of list) {
    const cidr = canonicalNet(text);
    if (cidr !== undefined) out.push(cidr);
  }
  return out;
}

/** Felix's `combineMatchesIfPossible`: fold a notSelector into a positive selector. */
function combineSelectors(positive: string, negative: string): { positive: string; negative: string } {
  if (positive === '' || negative === '') return { positive, negative };
  return { positive: `(${positive}) && (!(${negative}))`, negative: '' };
}

function compileSide(
  side: EntityRule | undefined,
  namespace: string | undefined,
  protocol: PortProtocol,
  sets: Map<string, IpSetSpec>,
): EndpointMatch {
  const out: EndpointMatch = {};
  if (side === undefined) return out;
  const { positive, negative } = combineSelectors(entityRuleSelectorText(side, namespace), side.notSelector ?? '');
  const positiveSel = positive !== '' ? parseSelector(positive) : undefined;
  const negativeSel = negative !== '' ? parseSelector(negative) : undefined;
  const ports = splitPorts(side.ports);
  const notPorts = splitPorts(side.notPorts);

  const n = nets(side.nets);
  if (n !== undefined && n.length > 0) out.nets = n;
  const nn = nets(side.notNets);
  if (nn !== undefined && nn.length > 0) out.notNets = nn;

  const addNamed = (names: string[]): string[] => {
    const sel = positiveSel ?? ALL;
    return names.map((name) => {
      const id = namedPortSetId(sel.id, protocol, name);
      sets.set(id, { id, kind: 'ip-port', selector: sel, namedPort: { name, protocol } });
      return id;
    });
  };

  const ipSets: string[] = [];
  if (positiveSel !== undefined && (ports.numeric.length > 0 || ports.named.length === 0)) {
    sets.set(positiveSel.id, { id: positiveSel.id, kind: 'net', selector: positiveSel });
    ipSets.push(positiveSel.id);
  }
  const services = side.services;
  if (services !== undefined && services.name !== undefined && services.name !== '') {
    const svc = `${services.namespace ?? namespace ?? ''}/${services.name}`;
    const id = serviceSetId(services.namespace ?? namespace ?? '', services.name, false);
    sets.set(id, { id, kind: 'net', selector: ALL, service: svc });
    ipSets.push(id);
  }
  if (ipSets.length > 0) out.ipSets = ipSets;
  if (negativeSel !== undefined) {
    sets.set(negativeSel.id, { id: negativeSel.id, kind: 'net', selector: negativeSel });
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
