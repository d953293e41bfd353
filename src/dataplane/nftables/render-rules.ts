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
 */
import type { CompiledRule, EndpointMatch, IcmpMatch, MatchCriteria, PortRange } from '../../calc/model.ts';
import { canonicalNets, type Family } from './cidr.ts';
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
  /** Returns the named set for an IP set id (recording the reference). */
  setName(kind: SetKind, family: Family, id: string): string;
  /** Reports a problem that made the renderer skip something (invalid CIDR, …). */
  warn?(message: string): void;
}

/** How allowed packets are handed back: normal chains set the accept mark; untracked ones also `notrack`. */
export type PolicyFlavor = 'normal' | 'untracked';

/** Layer-4 protocols that have ports. */
const PORT_PROTOCOLS = '{ 6, 17, 33, 132, 136 }';

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

/** Sorts and merges port ranges; renders `80`, `1000-2000` or `{ 80, 443, 1000-2000 }`. */
export function portLiteral(ports: PortRange[]): string {
  const sorted = ports.map((p) => ({ first: Math.min(p.first, p.last), last: Math.max(p.first, p.last) })).sort((a, b) => a.first - b.first);
  const merged: PortRange[] = [];
  for (const p of sorted) {
    const last = merged[merged.length - 1];
    if (last && p.first <= last.last + 1) last.last = Math.max(last.last, p.last);
    else merged.push({ ...p });
  }
  const items = merged.map((p) => (p.first === p.last ? String(p.first) : `${p.first}-${p.last}`));
  return items.length === 1 ? (items[0] as string) : `{ ${items.join(', ')} }`;
}

/** Renders CIDRs as one element or an anonymous set. */
export function netLiteral(cidrs: string[]): string {
  return cidrs.length === 1 ? (cidrs[0] as string) : `{ ${cidrs.join(', ')} }`;
}

function addrExpr(fam: Family, dir: 'saddr' | 'daddr'): string {
  return `${fam === 4 ? 'ip' : 'ip6'} ${dir}`;
}

function familyNets(nets: string[], fam: Family, ctx: RuleRenderContext): string[] {
  const c = canonicalNets(nets);
  for (const bad of c.invalid) ctx.warn?.(`ignoring invalid CIDR ${JSON.stringify(bad)} in a rule`);
  return fam === 4 ? c.v4 : c.v6;
}

interface SideOutput {
  conds: string[];
  prelude: string[];
}

function renderSide(
  s: EndpointMatch,
  which: 'src' | 'dst',
  fam: Family | null,
  ctx: RuleRenderContext,
): SideOutput | null {
  const dir = which === 'src' ? 'saddr' : 'daddr';
  const portDir = which === 'src' ? 'sport' : 'dport';
  const bit = which === 'src' ? ctx.marks.scratch0 : ctx.marks.scratch1;
  const conds: string[] = [];
  const prelude: string[] = [];
  if (fam === null) {
    // Family-neutral: only port conditions can be present here.
    if (present(s.ports)) conds.push(`th ${portDir} ${portLiteral(s.ports)}`);
    if (present(s.notPorts)) conds.push(`th ${portDir} != ${portLiteral(s.notPorts)}`);
    return { conds, prelude };
  }
  const addr = addrExpr(fam, dir);
  if (present(s.nets)) {
    const nets = familyNets(s.nets, fam, ctx);
    if (nets.length === 0) return null;
    conds.push(`${addr} ${netLiteral(nets)}`);
  }
  if (present(s.notNets)) {
    const nets = familyNets(s.notNets, fam, ctx);
    if (nets.length > 0) conds.push(`${addr} != ${netLiteral(nets)}`);
  }
  for (const id of s.ipSets ?? []) conds.push(`${addr} @${ctx.setName('net', fam, id)}`);
  for (const id of s.notIpSets ?? []) conds.push(`${addr} != @${ctx.setName('net', fam, id)}`);
  const alternatives: string[] = [];
  if (present(s.ports)) alternatives.push(`th ${portDir} ${portLiteral(s.ports)}`);
  for (const id of s.namedPortIpSets ?? []) {
    alternatives.push(`${addr} . meta l4proto . th ${portDir} @${ctx.setName('ip-port', fam, id)}`);
  }
  if (alternatives.length === 1) {
    conds.push(alternatives[0] as string);
  } else if (alternatives.length > 1) {
    prelude.push(`meta mark set meta mark & ${hex(~bit >>> 0)}`);
    for (const alt of alternatives) prelude.push(`${alt} meta mark set meta mark | ${hex(bit)}`);
    conds.push(`meta mark & ${hex(bit)} == ${hex(bit)}`);
  }
  if (present(s.notPorts)) conds.push(`th ${portDir} != ${portLiteral(s.notPorts)}`);
  for (const id of s.notNamedPortIpSets ?? []) {
    conds.push(`${addr} . meta l4proto . th ${portDir} != @${ctx.setName('ip-port', fam, id)}`);
  }
  return { conds, prelude };
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

/** Renders one compiled rule as zero or more nftables rules, in order. */
export function renderRule(r: CompiledRule, flavor: PolicyFlavor, ctx: RuleRenderContext, desc?: string): RenderedRule[] {
  const m = r.match;
  const out: RenderedRule[] = [];
  const d = desc ?? `${r.origin.policy} ${r.origin.direction} ${r.origin.index}${r.httpNotEnforced ? ' http-not-enforced' : ''}`;
  for (const fam of ruleFamilies(m, ctx.families)) {
    const conds: string[] = [];
    if (m.protocol !== undefined) conds.push(`meta l4proto ${m.protocol}`);
    else if (usesPorts(m)) conds.push(`meta l4proto ${PORT_PROTOCOLS}`);
    if (m.notProtocol !== undefined) conds.push(`meta l4proto != ${m.notProtocol}`);
    conds.push(...icmpConds(m, fam));
    const src = renderSide(m.src, 'src', fam, ctx);
    if (!src) continue;
    const dst = renderSide(m.dst, 'dst', fam, ctx);
    if (!dst) continue;
    const hasAddr = [...src.conds, ...dst.conds].some((c) => c.startsWith('ip ') || c.startsWith('ip6 '));
    if (fam !== null && !hasAddr && !(m.icmp || m.notIcmp)) conds.unshift(`meta nfproto ${fam === 4 ? 'ipv4' : 'ipv6'}`);
    for (const p of [...src.prelude, ...dst.prelude]) out.push(rule(p, `${d} or-ports`));
    const body = [...conds, ...src.conds, ...dst.conds, actionText(r, flavor, ctx)].join(' ');
    out.push(rule(body, d));
  }
  return out;
}
