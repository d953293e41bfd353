/**
 * Address arithmetic the nftables renderer needs: parse and print IPv4/IPv6 addresses and CIDRs
 * in one canonical text form, and reduce a list of CIDRs to the disjoint elements an nftables
 * interval set accepts (a named interval set rejects overlapping elements, and CIDRs either nest
 * or are disjoint, so dropping every CIDR contained in another one is enough).
 */

/** An address family. */
export type Family = 4 | 6;

/** A parsed CIDR: its network address (host bits cleared) and prefix length. */
export interface Cidr {
  family: Family;
  addr: bigint;
  len: number;
}

const V4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseV4(s: string): bigint | undefined {
  const m = V4_RE.exec(s);
  if (!m) return undefined;
  let v = 0n;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] as string;
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.length === 0 || s.includes('%')) return undefined;
  let head = s;
  let tailV4: bigint | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    tailV4 = parseV4(s.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = s.slice(0, lastColon + 1);
    // "::1.2.3.4": keep the double colon; "a:b::c:1.2.3.4" → "a:b::c:" needs a trailing group.
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groupsWanted = tailV4 === undefined ? 8 : 6;
  const dbl = head.indexOf('::');
  if (dbl !== head.lastIndexOf('::')) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const left = parseGroups(head.slice(0, dbl));
    const right = parseGroups(head.slice(dbl + 2));
    // `::` stands for at least one zero group.
    if (!left || !right || left.length + right.length > groupsWanted - 1) return undefined;
    groups = [...left, ...new Array<number>(groupsWanted - left.length - right.length).fill(0), ...right];
  } else {
    const all = parseGroups(head);
    if (!all || all.length !== groupsWanted) return undefined;
    groups = all;
  }
  let v = 0n;
  for (const g of groups) v = (v << 16n) | BigInt(g);
  if (tailV4 !== undefined) v = (v << 32n) | tailV4;
  return v;
}

/** Parses an IPv4 or IPv6 address (no prefix). */
export function parseIp(s: string): { family: Family; addr: bigint } | undefined {
  const t = s.trim();
  if (t.includes(':')) {
    const addr = parseV6(t);
    return addr === undefined ? undefined : { family: 6, addr };
  }
  const addr = parseV4(t);
  return addr === undefined ? undefined : { family: 4, addr };
}

/** Number of address bits of a family. */
export function familyBits(family: Family): number {
  return family === 4 ? 32 : 128;
}

/** Parses `addr` or `addr/len`; host bits are cleared (`10.0.0.5/24` → `10.0.0.0/24`). */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const ip = parseIp(slash < 0 ? s : s.slice(0, slash));
  if (!ip) return undefined;
  const bits = familyBits(ip.family);
  let len = bits;
  if (slash >= 0) {
    const lenText = s.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(lenText)) return undefined;
    len = Number(lenText);
    if (len > bits) return undefined;
  }
  const hostBits = BigInt(bits - len);
  const addr = (ip.addr >> hostBits) << hostBits;
  return { family: ip.family, addr, len };
}

/** Prints an address: dotted quad, or RFC 5952 IPv6 (lowercase, longest zero run as `::`). */
export function formatIp(family: Family, addr: bigint): string {
  if (family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((addr >> s) & 0xffn)).join('.');
  }
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((addr >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Prints a CIDR, always with its prefix length (`10.0.0.5/32`). */
export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.addr)}/${c.len}`;
}

/** The canonical text of a CIDR or address (`10.0.0.5` → `10.0.0.5/32`), or undefined if invalid. */
export function canonicalCidr(s: string): string | undefined {
  const c = parseCidr(s);
  return c ? formatCidr(c) : undefined;
}

/** The canonical text of an address (`FD00:0::1` → `fd00::1`), or undefined if invalid. */
export function canonicalIp(s: string): string | undefined {
  const ip = parseIp(s);
  return ip ? formatIp(ip.family, ip.addr) : undefined;
}

/** CIDRs split by family, reduced to disjoint elements, sorted; invalid inputs listed apart. */
export interface CanonicalNets {
  v4: string[];
  v6: string[];
  invalid: string[];
}

function reduce(cidrs: Cidr[]): string[] {
  cidrs.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : a.len - b.len));
  const out: string[] = [];
  let lastEnd = -1n;
  for (const c of cidrs) {
    const end = c.addr + (1n << BigInt(familyBits(c.family) - c.len)) - 1n;
    if (c.addr <= lastEnd) continue; // nested in the previous kept CIDR (CIDRs never partly overlap)
    out.push(formatCidr(c));
    lastEnd = end;
  }
  return out;
}

/** Splits CIDRs by family and drops duplicates and CIDRs contained in another one. */
export function canonicalNets(cidrs: Iterable<string>): CanonicalNets {
  const v4: Cidr[] = [];
  const v6: Cidr[] = [];
  const invalid: string[] = [];
  for (const s of cidrs) {
    const c = parseCidr(s);
    if (!c) invalid.push(s);
    else (c.family === 4 ? v4 : v6).push(c);
  }
  return { v4: reduce(v4), v6: reduce(v6), invalid };
}

/** The family of a CIDR or address text, or undefined when it does not parse. */
export function familyOf(s: string): Family | undefined {
  return parseCidr(s)?.family;
}
