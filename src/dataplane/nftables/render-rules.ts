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
import { ClearingMemo, ClearingMemo2 } from '../../memo/mod.ts';
import { type DisjointNets, disjointNets, type Family } from '../../net/mod.ts';
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

const FAMILY_NEUTRAL: readonly (Family | null)[] = Object.freeze([null]);
const NO_FAMILIES: readonly (Family | null)[] = Object.freeze([]);

/** The families a rule is written for; `[null]` means once, family-neutral. Only read (it may be `enabled` itself). */
export function ruleFamilies(m: MatchCriteria, enabled: readonly Family[]): readonly (Family | null)[] {
  const hasIcmp = m.icmp !== undefined || m.notIcmp !== undefined;
  const specific = m.ipVersion !== undefined || hasIcmp || sideIsFamilySpecific(m.src) || sideIsFamilySpecific(m.dst);
  // Most rules: no IP version, no ICMP; no copy of the list for each of them.
  if (m.ipVersion === undefined && !hasIcmp) return specific ? enabled : enabled.length > 0 ? FAMILY_NEUTRAL : NO_FAMILIES;
  let fams: Family[] = [...enabled];
  if (m.ipVersion !== undefined) fams = fams.filter((f) => f === m.ipVersion);
  if (hasIcmp) {
    const icmpFamily: Family = m.protocol === 58 ? 6 : m.protocol === 1 ? 4 : (m.ipVersion ?? 4);
    fams = fams.filter((f) => f === icmpFamily);
  }
  if (!specific) return fams.length > 0 ? FAMILY_NEUTRAL : NO_FAMILIES;
  return fams;
}

/** Sorts and merges port ranges into disjoint items: `80`, `1000-2000`. */
export function portItems(ports: readonly PortRange[]): string[] {
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
export function setLiteral(items: readonly string[]): string {
  return items.length === 1 ? (items[0] as string) : `{ ${items.join(', ')} }`;
}

/** Renders CIDRs as one element or an anonymous set. */
export function netLiteral(cidrs: string[]): string {
  return setLiteral(cidrs);
}

/** `expr != a expr != b …` for short lists, `expr != { a, b, … }` for long ones. */
export function notInList(expr: string, items: readonly string[]): string[] {
  if (items.length === 0) return [];
  if (items.length > MAX_INLINE) return [`${expr} != ${setLiteral(items)}`];
  return items.map((i) => `${expr} != ${i}`);
}

/** An address expression (`ip saddr`, …) and the set conditions made of it, by set name (shared, only read). */
interface AddrExpr {
  text: string;
  /** `<text> @<set>` by set name. */
  inSet: ClearingMemo<string, string>;
  /** `<text> != @<set>` by set name. */
  notInSet: ClearingMemo<string, string>;
}

const addrEntry = (text: string): AddrExpr => ({ text, inSet: new ClearingMemo(8_192), notInSet: new ClearingMemo(8_192) });
/** By family and direction: one string each, not one per rule (a cold start renders ~17,000 policy rules). */
const ADDR_EXPRS: Record<Family, { saddr: AddrExpr; daddr: AddrExpr }> = {
  4: { saddr: addrEntry('ip saddr'), daddr: addrEntry('ip daddr') },
  6: { saddr: addrEntry('ip6 saddr'), daddr: addrEntry('ip6 daddr') },
};

function addrExpr(fam: Family, dir: 'saddr' | 'daddr'): AddrExpr {
  return ADDR_EXPRS[fam][dir];
}

/** `<addr> @<set>` (or `!= @<set>`), made once per set and expression. */
function setCond(addr: AddrExpr, name: string, negate: boolean): string {
  const memo = negate ? addr.notInSet : addr.inSet;
  let cond = memo.get(name);
  if (cond === undefined) memo.set(name, (cond = negate ? `${addr.text} != @${name}` : `${addr.text} @${name}`));
  return cond;
}

/** A list of nets as disjoint nets, and the address conditions made of them (by expression). */
interface NetsEntry {
  nets: DisjointNets;
  /** `ip saddr 10.0.0.0/8`, … by address expression (`ip saddr`, `ip6 daddr`, …), made on first use. */
  conds: Map<string, readonly string[]>;
}

/**
 * Lists of nets by their text: a cold start renders thousands of rules whose nets are a few
 * hundred distinct lists, and parsing, sorting and formatting them again for each rule was a
 * sixth of the policy render's allocations. Bounded by the nets it holds, not by lists (cleared
 * when full: a large list edited now and then must not leave each version behind); what it holds
 * is only read.
 */
const NETS = new ClearingMemo<string, NetsEntry>(16_384); // nets in all (each with its disjoint form and up to four condition texts: a few MiB)

function netsEntry(nets: readonly string[]): NetsEntry {
  // Joined by line feeds: remembered only when no element holds one (two lists never share a text).
  const key = nets.length === 1 ? (nets[0] as string) : nets.join('\n');
  const memo = !nets.some((n) => n.includes('\n'));
  let e = memo ? NETS.get(key) : undefined;
  if (e === undefined) {
    e = { nets: disjointNets(nets), conds: new Map() };
    if (memo) NETS.set(key, e, nets.length);
  }
  return e;
}

/** The disjoint nets of one family (warning about the invalid ones, at every use as before). */
function familyNets(e: NetsEntry, fam: Family, ctx: RuleRenderContext): readonly string[] {
  for (const bad of e.nets.invalid) ctx.warn?.(`ignoring invalid CIDR ${JSON.stringify(bad)} in a rule`);
  return fam === 4 ? e.nets.v4 : e.nets.v6;
}

/** `<addr> <net>` for each disjoint net of the address's family (shared, only read). */
function netConds(e: NetsEntry, addr: string, nets: readonly string[]): readonly string[] {
  let conds = e.conds.get(addr);
  if (conds === undefined) e.conds.set(addr, (conds = nets.map((n) => `${addr} ${n}`)));
  return conds;
}

/** What one side of a rule renders to (only read once made: its lists may be shared). */
interface SideOutput {
  /** Conditions that must all hold. */
  conds: readonly string[];
  /** OR-dimensions: the rule holds when one alternative of each holds. */
  alternatives: readonly (readonly string[])[];
  /** Rules to run before the rule (the scratch-mark OR of ports and named ports). */
  prelude: readonly string[];
}

/** An empty list of a side's output, shared until something is added (most lists stay empty). */
const NONE: readonly never[] = Object.freeze([]);

/** `list` with `item` added: a new array in place of {@link NONE}, else `list` itself. */
function plus<T>(list: readonly T[], item: T): readonly T[] {
  const out = list === NONE ? [] : (list as T[]);
  out.push(item);
  return out;
}

/** `list` with `items` added (no rest parameters: no array per call), as {@link plus}. */
function plusEach<T>(list: readonly T[], items: readonly T[]): readonly T[] {
  if (items.length === 0) return list;
  const out = list === NONE ? [] : (list as T[]);
  for (let i = 0; i < items.length; i++) out.push(items[i] as T);
  return out;
}

/** The output of a side that matches on nothing (most sources); shared, never changed. */
const NO_SIDE: SideOutput = Object.freeze({ conds: NONE, alternatives: NONE, prelude: NONE });

/**
 * `th dport 80`, … for a list of ports, by the list (the rule compiler shares the port lists of
 * equal rules: a cold start's 5,000 policies name a few) and direction; shared, only read.
 */
const PORT_CONDS = new WeakMap<readonly PortRange[], { sport?: readonly string[]; dport?: readonly string[] }>();

function portConds(ports: readonly PortRange[], portDir: 'sport' | 'dport'): readonly string[] {
  let e = PORT_CONDS.get(ports);
  if (e === undefined) PORT_CONDS.set(ports, (e = {}));
  let conds = e[portDir];
  if (conds === undefined) e[portDir] = conds = portItems(ports).map((p) => `th ${portDir} ${p}`);
  return conds;
}

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
  const out: SideOutput = { conds: NONE, alternatives: NONE, prelude: NONE };
  const portExpr = which === 'src' ? 'th sport' : 'th dport';
  if (present(s.notPorts)) out.conds = plusEach(out.conds, notInList(portExpr, portItems(s.notPorts)));
  if (fam === null) {
    // Family-neutral: only port conditions can be present here.
    if (present(s.ports)) out.alternatives = plus(out.alternatives, portConds(s.ports, portDir));
    return out;
  }
  const addrs = addrExpr(fam, dir);
  const addr = addrs.text;
  if (present(s.nets)) {
    const e = netsEntry(s.nets);
    const nets = familyNets(e, fam, ctx);
    if (nets.length === 0) return null;
    out.alternatives = plus(out.alternatives, netConds(e, addr, nets));
  }
  if (present(s.notNets)) out.conds = plusEach(out.conds, notInList(addr, familyNets(netsEntry(s.notNets), fam, ctx)));
  for (const id of s.ipSets ?? NONE) {
    const name = ctx.setName('net', fam, id);
    if (name === undefined) return null;
    out.conds = plus(out.conds, setCond(addrs, name, false));
  }
  for (const id of s.notIpSets ?? NONE) {
    const name = ctx.setName('net', fam, id);
    if (name !== undefined) out.conds = plus(out.conds, setCond(addrs, name, true));
  }
  const named: string[] = [];
  for (const id of s.namedPortIpSets ?? NONE) {
    const name = ctx.setName('ip-port', fam, id);
    if (name !== undefined) named.push(`${addr} . meta l4proto . ${portExpr} @${name}`);
  }
  if (present(s.namedPortIpSets) && named.length === 0 && !present(s.ports)) return null;
  if (named.length === 0) {
    if (present(s.ports)) out.alternatives = plus(out.alternatives, portConds(s.ports, portDir));
  } else if (named.length === 1 && !present(s.ports)) {
    out.conds = plus(out.conds, named[0] as string);
  } else {
    const ports = present(s.ports) ? portItems(s.ports) : [];
    const portAlts = ports.length > MAX_INLINE ? [`${portExpr} ${setLiteral(ports)}`] : ports.map((p) => `${portExpr} ${p}`);
    const prelude = [`meta mark set meta mark & ${hex(~bit >>> 0)}`];
    for (const alt of [...portAlts, ...named]) prelude.push(`${alt} meta mark set meta mark | ${hex(bit)}`);
    out.prelude = prelude;
    out.conds = plus(out.conds, `meta mark & ${hex(bit)} == ${hex(bit)}`);
  }
  for (const id of s.notNamedPortIpSets ?? NONE) {
    const name = ctx.setName('ip-port', fam, id);
    if (name !== undefined) out.conds = plus(out.conds, `${addr} . meta l4proto . ${portExpr} != @${name}`);
  }
  return out;
}

/**
 * Expands OR-dimensions into rules (their cartesian product), first folding the longest
 * dimensions into anonymous sets until at most {@link MAX_INLINE} rules remain.
 */
export function expandAlternatives(dims: readonly (readonly string[])[]): string[][] {
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
function foldToSet(alts: readonly string[]): string {
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

/** The verdict texts that depend on the mark bits only, by mark bits (every rule of a policy ends in one). */
const VERDICTS = new WeakMap<MarkBits, { accept: number; pass: number; allow: string; allowUntracked: string; passText: string }>();

/** The verdict part of a rule. */
export function actionText(r: CompiledRule, flavor: PolicyFlavor, ctx: RuleRenderContext): string {
  switch (r.action) {
    case 'allow':
    case 'pass': {
      const { accept, pass } = ctx.marks;
      let v = VERDICTS.get(ctx.marks);
      if (v === undefined || v.accept !== accept || v.pass !== pass) {
        const allow = `meta mark set meta mark | ${hex(accept)} return`;
        VERDICTS.set(ctx.marks, (v = { accept, pass, allow, allowUntracked: `notrack ${allow}`, passText: `meta mark set meta mark | ${hex(pass)} return` }));
      }
      return r.action === 'pass' ? v.passText : flavor === 'untracked' ? v.allowUntracked : v.allow;
    }
    case 'deny':
      return 'counter drop';
    case 'log':
      return `log prefix "${sanitizeLogPrefix(r.logPrefix ?? ctx.logPrefix)}" counter`;
  }
}

/** Characters of rule text {@link WHOLE_BODIES} holds at most (~1 MiB of memo). */
const WHOLE_BODIES_WEIGHT = 512 * 1024;

/**
 * Rule bodies without OR-dimension by verdict and conditions: policies repeat the same few (a cold
 * start's 5,000 egress rules are one text), and one string for each is made once, kept once and
 * looked up by the stream with its hash known. Bounded by the text it holds (a long `!=` list
 * of nets weighs its length; each entry also ~64 for the maps' own cost): cleared when full.
 */
const WHOLE_BODIES = new ClearingMemo2<string, string, string>(WHOLE_BODIES_WEIGHT);

function wholeBody(head: string, action: string): string {
  let body = WHOLE_BODIES.get(action, head);
  if (body === undefined) WHOLE_BODIES.set(action, head, (body = `${head} ${action}`), body.length + 64);
  return body;
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
  const out: RenderedRule[] = [];
  renderRuleInto(out, r, flavor, ctx, desc);
  return out;
}

/** The description of a compiled rule's nftables rules: its policy, direction and index. */
function ruleDesc(r: CompiledRule): string {
  return `${r.origin.policy} ${r.origin.direction} ${r.origin.index}${r.httpNotEnforced ? ' http-not-enforced' : ''}`;
}

/**
 * {@link renderRule}, appending to `out` (a policy's chain collects its rules in one array). At a
 * cold start this runs for 10,000 rules in code not yet optimized: conditions are collected
 * without spreads or intermediate lists, the most common shape (no OR-dimension, or one) joined
 * directly.
 */
export function renderRuleInto(out: RenderedRule[], r: CompiledRule, flavor: PolicyFlavor, ctx: RuleRenderContext, desc?: string): void {
  const m = r.match;
  // Made when the first rule goes out: a rule whose sets have no members renders to nothing.
  let d = desc;
  const families = ruleFamilies(m, ctx.families);
  for (let f = 0; f < families.length; f++) {
    const fam = families[f] as Family | null;
    const src = renderSide(m.src, 'src', fam, ctx);
    if (!src) continue;
    const dst = renderSide(m.dst, 'dst', fam, ctx);
    if (!dst) continue;
    const conds: string[] = [];
    if (fam !== null && !(m.icmp || m.notIcmp) && !namesAddress(src) && !namesAddress(dst)) conds.push(`meta nfproto ${fam === 4 ? 'ipv4' : 'ipv6'}`);
    if (m.protocol !== undefined) conds.push(`meta l4proto ${m.protocol}`);
    else if (usesPorts(m)) conds.push(`meta l4proto @${PORT_PROTOCOLS_SET}`);
    if (m.notProtocol !== undefined) conds.push(`meta l4proto != ${m.notProtocol}`);
    if (m.icmp !== undefined || m.notIcmp !== undefined) conds.push(...icmpConds(m, fam));
    // Indexed loops: for...of makes an iterator object per loop in code not yet optimized.
    for (let i = 0; i < src.prelude.length; i++) out.push(rule(src.prelude[i] as string, `${(d ??= ruleDesc(r))} or-ports`));
    for (let i = 0; i < dst.prelude.length; i++) out.push(rule(dst.prelude[i] as string, `${(d ??= ruleDesc(r))} or-ports`));
    const action = actionText(r, flavor, ctx);
    // The fixed conditions, joined once for all combinations (no condition is empty, so joining
    // in parts gives the same text).
    const srcConds = keepNegationsApart(src.conds, dst.conds);
    for (let i = 0; i < srcConds.length; i++) conds.push(srcConds[i] as string);
    for (let i = 0; i < dst.conds.length; i++) conds.push(dst.conds[i] as string);
    const head = conds.join(' ');
    const dims = src.alternatives.length === 0 ? dst.alternatives : dst.alternatives.length === 0 ? src.alternatives : [...src.alternatives, ...dst.alternatives];
    if (dims.length === 0) {
      out.push(rule(head === '' ? action : wholeBody(head, action), (d ??= ruleDesc(r))));
      continue;
    }
    if (dims.length === 1) {
      // One OR-dimension (a list of ports, of nets): one rule per alternative, or one with a set.
      const alts = dims[0] as readonly string[];
      if (alts.length <= MAX_INLINE) {
        d ??= ruleDesc(r);
        for (let i = 0; i < alts.length; i++) out.push(rule(head === '' ? `${alts[i]} ${action}` : `${head} ${alts[i]} ${action}`, d));
        continue;
      }
    }
    for (const combo of expandAlternatives(dims)) {
      // Alternatives go where the single condition would be: after the fixed conditions of their side.
      const tail = combo.length === 0 ? action : `${combo.join(' ')} ${action}`;
      out.push(rule(head === '' ? tail : `${head} ${tail}`, (d ??= ruleDesc(r))));
    }
  }
}
