/**
 * Compiles one {@link CompiledRule} into nftables rule bodies (pure).
 *
 * A rule that names addresses (nets, IP sets, named ports) or ICMP is written once per address
 * family, because in an `inet` table `ip saddr …` only ever matches IPv4 packets; a rule without
 * them (`tcp dport 80`) is written once for both families. A family in which the rule can never
 * match (its `nets` are all of the other family) gets no rule at all.
 *
 * The one OR a single nftables rule cannot express, "port in `ports` OR (address, protocol, port)
 * in one of `namedPortIpSets`", is written as a few rules that set a scratch mark bit, followed by
 * the rule itself matching on that bit (Calico does the same with iptables marks).
 *
 * Lists avoid anonymous sets: every anonymous set is a set of its own in the kernel, and the
 * kernel looks sets up by a linear search of the table's sets, so thousands of them make loading a
 * large table quadratic (measured: 67 s instead of 10 s for 4,000 policies). A short OR-list
 * (`ports`, `nets`) becomes one rule per element — the elements are disjoint once merged, so a
 * packet matches at most one of them and even a Log rule fires once — and a short NOT-list becomes
 * a chain of `!=` conditions. Only lists longer than {@link MAX_INLINE} use an anonymous set.
 */
import type { CompiledRule, EndpointMatch, IcmpMatch, MatchCriteria, PortRange } from '../../calc/mod.ts';
import { disjointNets, type Family } from '../../net/mod.ts';
import type { SetKind } from './names.ts';
import { hex, type MarkBits } from './settings.ts';
import { rule, type RenderedRule } from './state.ts';

/** What rendering needs from its surroundings. */
export interface RuleRenderContext {
  marks: MarkBits;
  /** Families in use (IPv6 only when enabled). */
  families: readonly Family[];
  /** The default log prefix (settings `logPrefix`). */
  logPrefix: string;
  /**
   * Returns the named set holding one family of an IP set, or undefined when that family has no
   * members (Margay creates no empty sets: a match on one can never hold, a `not` match always does).
   */
  setName(kind: SetKind, family: Family, id: string): string | undefined;
  /** Reports a problem that made the renderer skip something (invalid CIDR, …). */
  warn?(message: string): void;
}

/** How allowed packets are handed back: normal chains set the accept mark; untracked ones also `notrack`. */
export type PolicyFlavor = 'normal' | 'untracked';

/** The named set of layer-4 protocols that have ports (defined with the fixed chains). */
export const PORT_PROTOCOLS_SET = 'l4-port-protocols';

/** Lists up to this long are written without an anonymous set; OR-lists expand to at most this many rules. */
export const MAX_INLINE = 16;

function present<T>(xs: T[] | undefined): xs is T[] {
  return xs !== undefined && xs.length > 0;
}

function sideIsFamilySpecific(s: EndpointMatch): boolean {
  return (
    present(s.nets) ||
    present(s.notNets) ||
    present(s.ipSets) ||
    present(s.notIpSets) ||
    present(s.namedPortIpSets) ||
    present(s.notNamedPortIpSets)
  );
}

/** The families a rule is written for; `[null]` means once, family-neutral. */
export function ruleFamilies(m: MatchCriteria, enabled: readonly Family[]): (Family | null)[] {
  const hasIcmp = m.icmp !== undefined || m.notIcmp !== undefined;
  const specific = m.ipVersion !== undefined || hasIcmp || sideIsFamilySpecific(m.src) || sideIsFamilySpecific(m.dst);
  let fams: Family[] = [...enabled];
  if (m.ipVersion !== undefined) fams = fams.filter((f) => f === m.ipVersion);
  if (hasIcmp) {
    const icmpFamily: Family = m.protocol === 58 ? 6 : m.protocol === 1 ? 4 : (m.ipVersion ?? 4);
    fams = fams.filter((f) => f === icmpFamily);
  }
  if (!specific) return fams.length > 0 ? [null] : [];
  return fams;
}

/** Sorts and merges port ranges into disjoint items: `80`, `1000-2000`. */
export function portItems(ports: PortRange[]): string[] {
  const sorted = ports.map((p) => ({ first: Math.min(p.first, p.last), last: Math.max(p.first, p.last) })).sort((a, b) => a.first - b.first);
  const merged: PortRange[] = [];
  for (const p of sorted) {
    const last = merged[merged.length - 1];
    if (last && p.first <= last.last + 1) last.last = Math.max(last.last, p.last);
    else merged.push({ ...p });
  }
  return merged.map((p) => (p.first === p.last ? String(p.first) : `${p.first}-${p.last}`));
}

/** Renders port ranges as one item or an anonymous set. */
export function portLiteral(ports: PortRange[]): string {
  return setLiteral(portItems(ports));
}

/** One element as is, several as an anonymous set. */
export function setLiteral(items: string[]): string {
  return items.length === 1 ? (items[0] as string) : `{ ${items.join(', ')} }`;
}

/** Renders CIDRs as one element or an anonymous set. */
export function netLiteral(cidrs: string[]): string {
  return setLiteral(cidrs);
}

/** `expr != a expr != b …` for short lists, `expr != { a, b, … }` for long ones. */
export function notInList(expr: string, items: string[]): string[] {
  if (items.length === 0) return [];
  if (items.length > MAX_INLINE) return [`${expr} != ${setLiteral(items)}`];
  return items.map((i) => `${expr} != ${i}`);
}

function addrExpr(fam: Family, dir: 'saddr' | 'daddr'): string {
  return `${fam === 4 ? 'ip' : 'ip6'} ${dir}`;
}

function familyNets(nets: string[], fam: Family, ctx: RuleRenderContext): string[] {
  const c = disjointNets(nets);
  for (const bad of c.invalid) ctx.warn?.(`ignoring invalid CIDR ${JSON.stringify(bad)} in a rule`);
  return fam === 4 ? c.v4 : c.v6;
}

interface SideOutput {
  /** Conditions that must all hold. */
  conds: string[];
  /** OR-dimensions: the rule holds when one alternative of each holds. */
  alternatives: string[][];
  /** Rules to run before the rule (the scratch-mark OR of ports and named ports). */
  prelude: string[];
}

/** The output of a side that matches on nothing (most sources); shared, never changed. */
const NO_SIDE: SideOutput = Object.freeze({ conds: [], alternatives: [], prelude: [] });

function sideIsEmpty(s: EndpointMatch): boolean {
  return !sideIsFamilySpecific(s) && !present(s.ports) && !present(s.notPorts);
}

function renderSide(
  s: EndpointMatch,
  which: 'src' | 'dst',
  fam: Family | null,
  ctx: RuleRenderContext,
): SideOutput | null {
  if (sideIsEmpty(s)) return NO_SIDE;
  const dir = which === 'src' ? 'saddr' : 'daddr';
  const portDir = which === 'src' ? 'sport' : 'dport';
  const bit = which === 'src' ? ctx.marks.scratch0 : ctx.marks.scratch1;
  const out: SideOutput = { conds: [], alternatives: [], prelude: [] };
  const portExpr = `th ${portDir}`;
  if (present(s.notPorts)) out.conds.push(...notInList(portExpr, portItems(s.notPorts)));
  if (fam === null) {
    // Family-neutral: only port conditions can be present here.
    if (present(s.ports)) out.alternatives.push(portItems(s.ports).map((p) => `${portExpr} ${p}`));
    return out;
  }
  const addr = addrExpr(fam, dir);
  if (present(s.nets)) {
    const nets = familyNets(s.nets, fam, ctx);
    if (nets.length === 0) return null;
    out.alternatives.push(nets.map((n) => `${addr} ${n}`));
  }
  if (present(s.notNets)) out.conds.push(...notInList(addr, familyNets(s.notNets, fam, ctx)));
  for (const id of s.ipSets ?? []) {
    const name = ctx.setName('net', fam, id);
    if (name === undefined) return null;
    out.conds.push(`${addr} @${name}`);
  }
  for (const id of s.notIpSets ?? []) {
    const name = ctx.setName('net', fam, id);
    if (name !== undefined) out.conds.push(`${addr} != @${name}`);
  }
  const named: string[] = [];
  for (const id of s.namedPortIpSets ?? []) {
    const name = ctx.setName('ip-port', fam, id);
    if (name !== undefined) named.push(`${addr} . meta l4proto . ${portExpr} @${name}`);
  }
  if (present(s.namedPortIpSets) && named.length === 0 && !present(s.ports)) return null;
  if (named.length === 0) {
    if (present(s.ports)) out.alternatives.push(portItems(s.ports).map((p) => `${portExpr} ${p}`));
  } else if (named.length === 1 && !present(s.ports)) {
    out.conds.push(named[0] as string);
  } else {
    const ports = present(s.ports) ? portItems(s.ports) : [];
    const portAlts = ports.length > MAX_INLINE ? [`${portExpr} ${setLiteral(ports)}`] : ports.map((p) => `${portExpr} ${p}`);
    out.prelude.push(`meta mark set meta mark & ${hex(~bit >>> 0)}`);
    for (const alt of [...portAlts, ...named]) out.prelude.push(`${alt} meta mark set meta mark | ${hex(bit)}`);
    out.conds.push(`meta mark & ${hex(bit)} == ${hex(bit)}`);
  }
  for (const id of s.notNamedPortIpSets ?? []) {
    const name = ctx.setName('ip-port', fam, id);
    if (name !== undefined) out.conds.push(`${addr} . meta l4proto . ${portExpr} != @${name}`);
  }
  return out;
}

/**
 * Expands OR-dimensions into rules (their cartesian product), first folding the longest
 * dimensions into anonymous sets until at most {@link MAX_INLINE} rules remain.
 */
export function expandAlternatives(dims: string[][]): string[][] {
  // Most rules have no OR-dimension or single alternatives: one combination, built without copies.
  if (dims.every((d) => d.length === 1)) return [dims.map((d) => d[0] as string)];
  const work = dims.map((d) => [...d]);
  const product = () => work.reduce((n, d) => n * d.length, 1);
  while (product() > MAX_INLINE) {
    let longest = 0;
    for (let i = 1; i < work.length; i++) if ((work[i] as string[]).length > (work[longest] as string[]).length) longest = i;
    work[longest] = [foldToSet(work[longest] as string[])];
  }
  let combos: string[][] = [[]];
  for (const d of work) combos = combos.flatMap((c) => d.map((alt) => [...c, alt]));
  return combos;
}

/** `[ "ip saddr a", "ip saddr b" ]` → `ip saddr { a, b }` (all alternatives share one expression). */
function foldToSet(alts: string[]): string {
  const split = alts.map((a) => {
    const i = a.lastIndexOf(' ');
    return [a.slice(0, i), a.slice(i + 1)] as const;
  });
  const expr = split[0]?.[0] ?? '';
  return `${expr} ${setLiteral(split.map(([, v]) => v))}`;
}

function icmpConds(m: MatchCriteria, fam: Family | null): string[] {
  const kw = fam === 6 ? 'icmpv6' : 'icmp';
  const out: string[] = [];
  const pos: IcmpMatch | undefined = m.icmp;
  if (pos) {
    out.push(`${kw} type ${pos.type}`);
    if (pos.code !== undefined) out.push(`${kw} code ${pos.code}`);
  }
  const neg: IcmpMatch | undefined = m.notIcmp;
  if (neg) {
    out.push(neg.code !== undefined ? `${kw} type . ${kw} code != { ${neg.type} . ${neg.code} }` : `${kw} type != ${neg.type}`);
  }
  return out;
}

function usesPorts(m: MatchCriteria): boolean {
  const side = (s: EndpointMatch): boolean =>
    present(s.ports) || present(s.notPorts) || present(s.namedPortIpSets) || present(s.notNamedPortIpSets);
  return side(m.src) || side(m.dst);
}

/** Removes characters nft strings cannot hold and bounds the length of a log prefix. */
export function sanitizeLogPrefix(prefix: string): string {
  let p = prefix.replace(/["\\\r\n\t]/g, '').replace(/[^\x20-\x7e]/g, '');
  if (!/\s$/.test(p)) p += ' ';
  return p.slice(0, 127);
}

/** The verdict part of a rule. */
export function actionText(r: CompiledRule, flavor: PolicyFlavor, ctx: RuleRenderContext): string {
  switch (r.action) {
    case 'allow':
      return `${flavor === 'untracked' ? 'notrack ' : ''}meta mark set meta mark | ${hex(ctx.marks.accept)} return`;
    case 'deny':
      return 'counter drop';
    case 'pass':
      return `meta mark set meta mark | ${hex(ctx.marks.pass)} return`;
    case 'log':
      return `log prefix "${sanitizeLogPrefix(r.logPrefix ?? ctx.logPrefix)}" counter`;
  }
}

/**
 * nft 1.0.6 merges payload comparisons of adjacent fields anywhere in a rule into one load, `!=`
 * ones too: `th sport != 1 … th dport != 2` becomes `(sport, dport) != (1, 2)`, "not both" where
 * the rule means "neither". When both sides negate single ports, the source's are written as
 * one-port ranges (`th sport != 1-1`), which nft keeps as `range` expressions, never merged.
 */
function keepNegationsApart(src: readonly string[], dst: readonly string[]): readonly string[] {
  if (src.length === 0 || !dst.some((c) => SINGLE_DPORT_NEGATION.test(c))) return src;
  return src.map((c) => c.replace(SINGLE_SPORT_NEGATION, 'th sport != $1-$1'));
}
const SINGLE_DPORT_NEGATION = /^th dport != (\d+)$/;
const SINGLE_SPORT_NEGATION = /^th sport != (\d+)$/;

const isAddressCond = (c: string): boolean => c.startsWith('ip ') || c.startsWith('ip6 ');

/** True when a side's conditions or alternatives match on an address (else the rule needs `meta nfproto`). */
function namesAddress(side: SideOutput): boolean {
  return side.conds.some(isAddressCond) || side.alternatives.some((alts) => alts.some(isAddressCond));
}

/** Renders one compiled rule as zero or more nftables rules, in order. */
export function renderRule(r: CompiledRule, flavor: PolicyFlavor, ctx: RuleRenderContext, desc?: string): RenderedRule[] {
  const m = r.match;
  const out: RenderedRule[] = [];
  const d = desc ?? `${r.origin.policy} ${r.origin.direction} ${r.origin.index}${r.httpNotEnforced ? ' http-not-enforced' : ''}`;
  for (const fam of ruleFamilies(m, ctx.families)) {
    const conds: string[] = [];
    if (m.protocol !== undefined) conds.push(`meta l4proto ${m.protocol}`);
    else if (usesPorts(m)) conds.push(`meta l4proto @${PORT_PROTOCOLS_SET}`);
    if (m.notProtocol !== undefined) conds.push(`meta l4proto != ${m.notProtocol}`);
    conds.push(...icmpConds(m, fam));
    const src = renderSide(m.src, 'src', fam, ctx);
    if (!src) continue;
    const dst = renderSide(m.dst, 'dst', fam, ctx);
    if (!dst) continue;
    if (fam !== null && !(m.icmp || m.notIcmp) && !namesAddress(src) && !namesAddress(dst)) conds.unshift(`meta nfproto ${fam === 4 ? 'ipv4' : 'ipv6'}`);
    for (const p of [...src.prelude, ...dst.prelude]) out.push(rule(p, `${d} or-ports`));
    const action = actionText(r, flavor, ctx);
    // The fixed conditions, joined once for all combinations (no condition is empty, so joining
    // in parts gives the same text).
    const head = [...conds, ...keepNegationsApart(src.conds, dst.conds), ...dst.conds].join(' ');
    for (const combo of expandAlternatives([...src.alternatives, ...dst.alternatives])) {
      // Alternatives go where the single condition would be: after the fixed conditions of their side.
      const tail = combo.length === 0 ? action : `${combo.join(' ')} ${action}`;
      out.push(rule(head === '' ? tail : `${head} ${tail}`, d));
    }
  }
  return out;
}
