/**
 * The rule texts Margay's renderers write (render-rules.ts, render-chains.ts, render-dispatch.ts)
 * parsed into the nf_tables expressions nft 1.0.6 makes of them (pure), so that a rule can go to
 * the kernel as a netlink message without nft (netlink-batch.ts, rule-encode.ts).
 *
 * Exactly what nft would send, checked with `nft --debug=netlink` and by the real-kernel
 * differential test (test/dataplane/netlink-rules.int.test.ts):
 * - an `ip`/`ip6` match is preceded by `meta nfproto` unless the rule established the family
 *   before; `icmp`/`icmpv6` by `meta l4proto` (and `meta nfproto` when neither is known);
 * - a prefix whose length is a multiple of 8 loads only its bytes, any other is masked (bitwise);
 * - `th dport 80-90` is two comparisons (`>=`, `<=`), `!= 80-90` a `range` expression;
 * - payload comparisons with a value (not a prefix, range or set) that are adjacent in the packet
 *   are merged into one load and one comparison when they fit 4 bytes, wherever they stand in the
 *   rule (`th sport 1 th dport 2`, `icmp type 3 icmp code 1`);
 * - a concatenation loads each field into the next 32-bit registers (`reg 1`, `reg 9`, …).
 *
 * Anything else — anonymous sets `{ … }`, names of protocols and types, `tcp dport`, NAT, exact
 * interface names, and a merge nft 1.0.6 would get wrong (two `!=` comparisons merged into one
 * means "not both" instead of "neither") — gives undefined, and the caller uses nft.
 */
import { endianness } from 'node:os';
import { isMasked, parseIpNet } from '../../net/mod.ts';

/** Where a payload load reads (enum nft_payload_bases). */
export type PayloadBase = 'network' | 'transport';
/** Meta keys the renderers use. */
export type MetaKey = 'mark' | 'iifname' | 'oifname' | 'nfproto' | 'l4proto';
/** Comparison operators (enum nft_cmp_ops). */
export type CmpOp = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte';

/** One nf_tables expression, as `nft --debug=netlink` shows it. */
export type Expr =
  | { kind: 'meta'; key: MetaKey; dreg: number }
  | { kind: 'metaSet'; key: 'mark'; sreg: number }
  | { kind: 'payload'; base: PayloadBase; offset: number; len: number; dreg: number }
  | { kind: 'cmp'; op: CmpOp; sreg: number; data: Buffer }
  | { kind: 'range'; op: 'eq' | 'neq'; sreg: number; from: Buffer; to: Buffer }
  /** `reg = (reg & mask) ^ xor`; `boolOp` when nft sends the operation attribute (`meta mark set`). */
  | { kind: 'bitwise'; sreg: number; dreg: number; mask: Buffer; xor: Buffer; boolOp: boolean }
  /** `setId`: the batch id of an anonymous set created with the rule (0 for a named set). */
  | { kind: 'lookup'; set: string; sreg: number; dreg?: number; invert: boolean; setId?: number }
  | { kind: 'ct'; key: 'state'; dreg: number }
  | { kind: 'counter' }
  | { kind: 'notrack' }
  | { kind: 'log'; prefix: string }
  | { kind: 'verdict'; word: string; chain?: string }
  /** `masquerade` with its NF_NAT_RANGE_* flags (a terminal statement, like a verdict). */
  | { kind: 'masq'; flags: number };

/** The first register (NFT_REG_1): every statement loads into it (and the ones after it). */
const REG1 = 1;
const META_LEN: Record<MetaKey, number> = { mark: 4, iifname: 16, oifname: 16, nfproto: 1, l4proto: 1 };
const NFPROTO: Record<string, number> = { ipv4: 2, ipv6: 10 };
const CT_STATES: Record<string, number> = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
const SET_NAME = /^@([A-Za-z0-9_.-]{1,255})$/;
/** A chain name as nft takes it unquoted (an identifier: a letter, then letters, digits, `_./-`). */
const CHAIN_NAME = /^[A-Za-z][A-Za-z0-9_./-]{0,254}$/;

/** True when nft takes `name` as a chain name unquoted (so a `jump`/`goto` to it parses). */
export function isChainName(name: string): boolean {
  return CHAIN_NAME.test(name);
}

/** A selector of a match: what it loads, how long, and which protocol it needs first. */
interface Selector {
  load: (dreg: number) => Expr;
  len: number;
  /** `ip`: the family (nfproto); `icmp`: the layer-4 protocol (and the family it implies). */
  needs?: { nfproto: number; l4proto?: number };
  /** How the right-hand value is written. */
  value: 'number8' | 'port' | 'addr4' | 'addr6' | 'nfproto' | 'ifprefix';
  /** For a payload: where it is (for merging). */
  payload?: { base: PayloadBase; offset: number };
}

function payloadSel(base: PayloadBase, offset: number, len: number, value: Selector['value'], needs?: Selector['needs']): Selector {
  return { load: (dreg) => ({ kind: 'payload', base, offset, len, dreg }), len, value, payload: { base, offset }, ...(needs ? { needs } : {}) };
}

function metaSel(key: MetaKey, value: Selector['value']): Selector {
  return { load: (dreg) => ({ kind: 'meta', key, dreg }), len: META_LEN[key], value };
}

/** The selector named by `words[i]` (and `words[i + 1]`), with the number of words it takes. */
function selector(words: readonly string[], i: number): [Selector, number] | undefined {
  const [a, b] = [words[i], words[i + 1]];
  if (a === 'meta' && (b === 'l4proto' || b === 'nfproto')) return [metaSel(b, b === 'l4proto' ? 'number8' : 'nfproto'), 2];
  if (a === 'iifname' || a === 'oifname') return [metaSel(a, 'ifprefix'), 1];
  if (a === 'th' && (b === 'sport' || b === 'dport')) return [payloadSel('transport', b === 'sport' ? 0 : 2, 2, 'port'), 2];
  if ((a === 'ip' || a === 'ip6') && (b === 'saddr' || b === 'daddr')) {
    const v4 = a === 'ip';
    const offset = v4 ? (b === 'saddr' ? 12 : 16) : b === 'saddr' ? 8 : 24;
    return [payloadSel('network', offset, v4 ? 4 : 16, v4 ? 'addr4' : 'addr6', { nfproto: v4 ? 2 : 10 }), 2];
  }
  if ((a === 'icmp' || a === 'icmpv6') && (b === 'type' || b === 'code')) {
    const needs = a === 'icmp' ? { nfproto: 2, l4proto: 1 } : { nfproto: 10, l4proto: 58 };
    return [payloadSel('transport', b === 'type' ? 0 : 1, 1, 'number8', needs), 2];
  }
  return undefined;
}

/** A statement: its expressions, and for a payload comparison with a value what merging needs. */
interface Stmt {
  exprs: Expr[];
  mergeable?: { base: PayloadBase; offset: number; len: number; op: 'eq' | 'neq'; data: Buffer };
}

/** What the rule has established so far (nft's protocol context). */
interface Context {
  nfproto?: number;
  l4proto?: number;
}

const uint = (text: string | undefined, max: number): number | undefined =>
  text !== undefined && /^\d{1,10}$/.test(text) && Number(text) <= max ? Number(text) : undefined;

const LITTLE_ENDIAN = endianness() === 'LE';

/** A 32-bit value in host byte order (meta mark, ct state are host-endian in registers). */
function hostU32(n: number): Buffer {
  const b = Buffer.alloc(4);
  if (LITTLE_ENDIAN) b.writeUInt32LE(n >>> 0, 0);
  else b.writeUInt32BE(n >>> 0, 0);
  return b;
}

function bigEndian(n: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  b.writeUIntBE(n, 0, len);
  return b;
}

/** The tokens of a rule: words, with a quoted string as one token (quotes kept). */
export function tokenize(body: string): string[] | undefined {
  const out: string[] = [];
  const re = /"([^"\\]*)"|(\S+)/g;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) out.push(m[0]);
  return out.some((t) => t.startsWith('"') && !/^"[^"]*"$/.test(t)) ? undefined : out;
}

/** Dependencies (nft's implicit protocol matches) for `sel`, updating `ctx`; undefined on a conflict. */
function dependencies(sel: Selector, ctx: Context): Stmt[] | undefined {
  const needs = sel.needs;
  if (!needs) return [];
  const out: Stmt[] = [];
  const dep = (key: 'nfproto' | 'l4proto', value: number): Stmt => ({
    exprs: [
      { kind: 'meta', key, dreg: REG1 },
      { kind: 'cmp', op: 'eq', sreg: REG1, data: Buffer.from([value]) },
    ],
  });
  if (needs.l4proto !== undefined) {
    if (ctx.l4proto === needs.l4proto) return [];
    if (ctx.l4proto !== undefined) return undefined;
  }
  if (ctx.nfproto === undefined) {
    out.push(dep('nfproto', needs.nfproto));
    ctx.nfproto = needs.nfproto;
  } else if (ctx.nfproto !== needs.nfproto) return undefined;
  if (needs.l4proto !== undefined) {
    out.push(dep('l4proto', needs.l4proto));
    ctx.l4proto = needs.l4proto;
  }
  return out;
}

/** The register of the 32-bit word `unit` of a concatenation (NFT_REG_1…, else NFT_REG32_00 + unit). */
function concatRegister(unit: number): number {
  return unit % 4 === 0 ? REG1 + unit / 4 : 8 + unit;
}

/** A prefix or address match on an address selector. */
function addressMatch(sel: Selector, text: string, op: 'eq' | 'neq'): Stmt | undefined {
  const net = parseIpNet(text, { allowBareIp: true });
  const bytes = sel.len;
  if (!net || net.cidr.family !== (bytes === 4 ? 4 : 6) || !isMasked(net)) return undefined;
  const full = Buffer.alloc(bytes);
  let v = net.cidr.base;
  for (let i = bytes - 1; i >= 0; i--, v >>= 8n) full[i] = Number(v & 0xffn);
  const prefix = net.cidr.prefix;
  const p = sel.payload!;
  if (prefix === bytes * 8) {
    return { exprs: [sel.load(REG1), { kind: 'cmp', op, sreg: REG1, data: full }], mergeable: { ...p, len: bytes, op, data: full } };
  }
  if (prefix % 8 === 0 && prefix > 0) {
    const len = prefix / 8;
    return { exprs: [{ kind: 'payload', base: p.base, offset: p.offset, len, dreg: REG1 }, { kind: 'cmp', op, sreg: REG1, data: full.subarray(0, len) }] };
  }
  const mask = Buffer.alloc(bytes);
  for (let bit = 0; bit < prefix; bit++) mask[bit >> 3]! |= 0x80 >> (bit & 7);
  return {
    exprs: [
      sel.load(REG1),
      { kind: 'bitwise', sreg: REG1, dreg: REG1, mask, xor: Buffer.alloc(bytes), boolOp: false },
      { kind: 'cmp', op, sreg: REG1, data: full },
    ],
  };
}

/** A comparison of one selector with a value (not a set). */
function valueMatch(sel: Selector, text: string, op: 'eq' | 'neq', ctx: Context): Stmt | undefined {
  const compare = (data: Buffer): Stmt => {
    const stmt: Stmt = { exprs: [sel.load(REG1), { kind: 'cmp', op, sreg: REG1, data }] };
    if (sel.payload) stmt.mergeable = { ...sel.payload, len: sel.len, op, data };
    return stmt;
  };
  switch (sel.value) {
    case 'number8': {
      const n = uint(text, 255);
      if (n === undefined) return undefined;
      if (op === 'eq' && !sel.payload) {
        // `meta l4proto 6` establishes the transport protocol; a second, different one cannot hold.
        if (ctx.l4proto !== undefined && ctx.l4proto !== n) return undefined;
        ctx.l4proto = n;
      }
      return compare(Buffer.from([n]));
    }
    case 'nfproto': {
      const n = NFPROTO[text];
      if (n === undefined || op !== 'eq' || (ctx.nfproto !== undefined && ctx.nfproto !== n)) return undefined;
      ctx.nfproto = n;
      return compare(Buffer.from([n]));
    }
    case 'port': {
      const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
      const first = uint(m?.[1], 65535);
      const last = m?.[2] === undefined ? first : uint(m[2], 65535);
      if (first === undefined || last === undefined || last < first) return undefined;
      // `!= 80-80` stays a range in nft (render-rules.ts writes it to avoid a merge); `80-80` was not checked.
      if (m?.[2] === undefined) return compare(bigEndian(first, 2));
      if (first === last && op === 'eq') return undefined;
      const [from, to] = [bigEndian(first, 2), bigEndian(last, 2)];
      if (op === 'neq') return { exprs: [sel.load(REG1), { kind: 'range', op, sreg: REG1, from, to }] };
      return {
        exprs: [sel.load(REG1), { kind: 'cmp', op: 'gte', sreg: REG1, data: from }, { kind: 'cmp', op: 'lte', sreg: REG1, data: to }],
      };
    }
    case 'addr4':
    case 'addr6':
      return addressMatch(sel, text, op);
    case 'ifprefix': {
      // Only `"cali*"`: nft compares the prefix's bytes.
      const m = /^"([A-Za-z0-9_.-]{1,15})\*"$/.exec(text);
      if (!m || op !== 'eq') return undefined;
      return { exprs: [sel.load(REG1), { kind: 'cmp', op, sreg: REG1, data: Buffer.from(m[1]!) }] };
    }
    default:
      return undefined;
  }
}

/** The statement at `words[i]`: its expressions and how many words it took; undefined when not supported. */
function statement(words: readonly string[], i: number, ctx: Context): [Stmt[], number] | undefined {
  const w = words[i]!;
  if (w === 'counter') return [[{ exprs: [{ kind: 'counter' }] }], 1];
  if (w === 'notrack') return [[{ exprs: [{ kind: 'notrack' }] }], 1];
  if (w === 'accept' || w === 'drop' || w === 'return') return [[{ exprs: [{ kind: 'verdict', word: w }] }], 1];
  if (w === 'jump' || w === 'goto') {
    const chain = words[i + 1];
    return chain !== undefined && CHAIN_NAME.test(chain) ? [[{ exprs: [{ kind: 'verdict', word: w, chain }] }], 2] : undefined;
  }
  if (w === 'log') {
    const m = words[i + 1] === 'prefix' ? /^"([\x20-\x21\x23-\x5b\x5d-\x7e]{1,127})"$/.exec(words[i + 2] ?? '') : null;
    return m && !m[1]!.includes('$') ? [[{ exprs: [{ kind: 'log', prefix: m[1]! }] }], 3] : undefined;
  }
  // Only the form the NAT-outgoing rule writes (NF_NAT_RANGE_PROTO_RANDOM_FULLY), as checked with nft.
  if (w === 'masquerade' && words[i + 1] === 'fully-random') return [[{ exprs: [{ kind: 'masq', flags: 0x10 }] }], 2];
  if (w === 'ct') return ctState(words, i);
  if (w === 'meta' && words[i + 1] === 'mark') return markStatement(words, i);
  return match(words, i, ctx);
}

/** `ct state a,b`: the state bits tested non-zero. */
function ctState(words: readonly string[], i: number): [Stmt[], number] | undefined {
  if (words[i + 1] !== 'state' || words[i + 2] === undefined) return undefined;
  let bits = 0;
  for (const s of words[i + 2]!.split(',')) {
    const b = CT_STATES[s];
    if (b === undefined) return undefined;
    bits |= b;
  }
  const exprs: Expr[] = [
    { kind: 'ct', key: 'state', dreg: REG1 },
    { kind: 'bitwise', sreg: REG1, dreg: REG1, mask: hostU32(bits), xor: hostU32(0), boolOp: false },
    { kind: 'cmp', op: 'neq', sreg: REG1, data: hostU32(0) },
  ];
  return [[{ exprs }], 3];
}

/** `meta mark set meta mark | B`, `… & M`, and `meta mark & M == V`. */
function markStatement(words: readonly string[], i: number): [Stmt[], number] | undefined {
  const hexValue = (t: string | undefined): number | undefined => (t !== undefined && /^0x[0-9a-f]{1,8}$/i.test(t) ? Number(t) : undefined);
  const load: Expr = { kind: 'meta', key: 'mark', dreg: REG1 };
  if (words[i + 2] === 'set') {
    const [m1, m2, op, v] = words.slice(i + 3, i + 7);
    const n = hexValue(v);
    if (m1 !== 'meta' || m2 !== 'mark' || n === undefined || (op !== '|' && op !== '&')) return undefined;
    const [mask, xor] = op === '|' ? [~n >>> 0, n] : [n, 0];
    const exprs: Expr[] = [load, { kind: 'bitwise', sreg: REG1, dreg: REG1, mask: hostU32(mask), xor: hostU32(xor), boolOp: true }, { kind: 'metaSet', key: 'mark', sreg: REG1 }];
    return [[{ exprs }], 7];
  }
  const [amp, m, eq, v] = words.slice(i + 2, i + 6);
  const mask = hexValue(m);
  const value = hexValue(v);
  if (amp !== '&' || eq !== '==' || mask === undefined || value === undefined) return undefined;
  const exprs: Expr[] = [load, { kind: 'bitwise', sreg: REG1, dreg: REG1, mask: hostU32(mask), xor: hostU32(0), boolOp: false }, { kind: 'cmp', op: 'eq', sreg: REG1, data: hostU32(value) }];
  return [[{ exprs }], 6];
}

/** A match: selectors (a concatenation with `.`), an optional `!=`, then a value, `@set` or `vmap @map`. */
function match(words: readonly string[], i: number, ctx: Context): [Stmt[], number] | undefined {
  const sels: Selector[] = [];
  let j = i;
  for (;;) {
    const s = selector(words, j);
    if (!s) return undefined;
    sels.push(s[0]);
    j += s[1];
    if (words[j] !== '.') break;
    j++;
  }
  const deps: Stmt[] = [];
  for (const sel of sels) {
    const d = dependencies(sel, ctx);
    if (!d) return undefined;
    deps.push(...d);
  }
  const invert = words[j] === '!=';
  if (invert) j++;
  const right = words[j];
  if (right === undefined) return undefined;
  if (right === 'vmap') {
    const map = SET_NAME.exec(words[j + 1] ?? '');
    if (!map || invert || sels.length !== 1) return undefined;
    return [[...deps, { exprs: [sels[0]!.load(REG1), { kind: 'lookup', set: map[1]!, sreg: REG1, dreg: 0, invert: false }] }], j + 2 - i];
  }
  const set = SET_NAME.exec(right);
  if (set) {
    const exprs: Expr[] = [];
    let unit = 0;
    for (const sel of sels) {
      exprs.push(sel.load(sels.length === 1 ? REG1 : concatRegister(unit)));
      unit += Math.ceil(sel.len / 4);
    }
    if (unit > 16) return undefined;
    exprs.push({ kind: 'lookup', set: set[1]!, sreg: REG1, invert });
    return [[...deps, { exprs }], j + 1 - i];
  }
  if (sels.length !== 1) return undefined;
  const stmt = valueMatch(sels[0]!, right, invert ? 'neq' : 'eq', ctx);
  return stmt ? [[...deps, stmt], j + 1 - i] : undefined;
}

type Mergeable = NonNullable<Stmt['mergeable']>;

/** `b` starts where `a` ends (nft's `payload_is_adjacent`). */
const adjacent = (a: Mergeable, b: Mergeable): boolean => a.base === b.base && a.offset + a.len === b.offset;

/**
 * Whether nft merges two adjacent comparisons: yes for equal ones fitting 4 bytes; no when the
 * operators differ, for two 4-byte loads, or beyond a register (16 bytes); undefined when it would
 * merge two `!=` (the meaning changes) or the case was not checked.
 */
function merges(a: Mergeable, b: Mergeable): boolean | undefined {
  const total = a.len + b.len;
  if (a.op !== b.op || total > 16 || (a.len === 4 && b.len === 4)) return false;
  return total <= 4 && a.op === 'eq' ? true : undefined;
}

/**
 * nft's merge of payload comparisons (`payload_try_merge`): the comparisons of a rule with a value
 * (not a prefix, range or set), wherever they stand in the rule, are sorted by offset, and each
 * one adjacent to the previous one in that order is merged into it (the merged comparison stands
 * where the one with the lower offset stood); undefined when the result is not certain here.
 */
function mergePayloads(stmts: Stmt[]): Stmt[] | undefined {
  const candidates = stmts.flatMap((s, index) => (s.mergeable ? [{ index, m: s.mergeable }] : []));
  const sorted = [...candidates].sort((a, b) => a.m.offset - b.m.offset);
  const out: Array<Stmt | undefined> = [...stmts];
  let last = sorted[0];
  for (const cur of sorted.slice(1)) {
    if (!last) break;
    const merge = adjacent(last.m, cur.m) ? merges(last.m, cur.m) : false;
    if (merge === undefined) return undefined;
    // nft sorts with qsort (not stable): equal offsets in a merge would be in no certain order.
    if (merge && candidates.filter((c) => c.m.base === cur.m.base && (c.m.offset === cur.m.offset || c.m.offset === last!.m.offset)).length > 2) return undefined;
    if (!merge) {
      last = cur;
      continue;
    }
    const [lo, hi] = [last.m, cur.m];
    const len = lo.len + hi.len;
    const data = Buffer.concat([lo.data, hi.data]);
    const m: Mergeable = { base: lo.base, offset: lo.offset, len, op: 'eq', data };
    out[last.index] = { exprs: [{ kind: 'payload', base: lo.base, offset: lo.offset, len, dreg: REG1 }, { kind: 'cmp', op: 'eq', sreg: REG1, data }], mergeable: m };
    out[cur.index] = undefined;
    last = { index: last.index, m };
  }
  return out.filter((s): s is Stmt => s !== undefined);
}

/** The expressions of a rule body as nft 1.0.6 makes them, or undefined when not supported here. */
export function parseRule(body: string): Expr[] | undefined {
  const words = tokenize(body);
  if (!words || words.length === 0 || words.some((w) => w.includes('{') || w.includes('}'))) return undefined;
  const ctx: Context = {};
  const stmts: Stmt[] = [];
  for (let i = 0; i < words.length; ) {
    const s = statement(words, i, ctx);
    if (!s) return undefined;
    stmts.push(...s[0]);
    i += s[1];
  }
  const merged = mergePayloads(stmts);
  if (!merged) return undefined;
  const exprs = merged.flatMap((s) => s.exprs);
  // A verdict (or masquerade) ends a rule: nothing may follow it.
  const v = exprs.findIndex((e) => e.kind === 'verdict' || e.kind === 'masq');
  return v >= 0 && v !== exprs.length - 1 ? undefined : exprs;
}
