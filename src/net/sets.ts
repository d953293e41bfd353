/**
 * Lists of networks reduced to disjoint elements, as an nftables interval set needs them (a named
 * interval set rejects overlapping elements). CIDRs either nest or are disjoint, so dropping every
 * network contained in another one is enough.
 */
import { type Cidr, formatCidr, parseCidrOrIp } from './cidr.ts';
import { cidrLast } from './maths.ts';

/** Networks split by family, reduced to disjoint elements and sorted, in canonical text; invalid inputs apart. */
export interface DisjointNets {
  v4: string[];
  v6: string[];
  invalid: string[];
}

/** The networks of one family without duplicates and without those nested in another, sorted. */
export function disjointCidrs(cidrs: readonly Cidr[]): Cidr[] {
  const sorted = [...cidrs].sort((a, b) => (a.base < b.base ? -1 : a.base > b.base ? 1 : a.prefix - b.prefix));
  const out: Cidr[] = [];
  let lastEnd = -1n;
  for (const c of sorted) {
    if (c.base <= lastEnd) continue; // nested in the previous kept network
    out.push(c);
    lastEnd = cidrLast(c);
  }
  return out;
}

/** Splits CIDRs (or bare addresses) by family and drops duplicates and networks nested in another. */
export function disjointNets(texts: Iterable<string>): DisjointNets {
  const v4: Cidr[] = [];
  const v6: Cidr[] = [];
  const invalid: string[] = [];
  for (const text of texts) {
    const c = parseCidrOrIp(text);
    if (c === undefined) invalid.push(text);
    else (c.family === 4 ? v4 : v6).push(c);
  }
  return { v4: disjointCidrs(v4).map(formatCidr), v6: disjointCidrs(v6).map(formatCidr), invalid };
}
