/**
 * A transaction of the nftables driver as one nftables netlink batch (pure): the bytes the
 * resident `margay-netlink` helper sends to the kernel (its `nft` request). A batch is applied by
 * the kernel all or nothing, like an `nft -f` transaction.
 *
 * Why not `nft`: nft 1.0.6 reads every chain of the namespace into its cache before it adds an
 * element (~10 ms with 10,000 chains, docs/dataplane.md "One change at scale"); the kernel itself
 * takes a fraction of a millisecond for an element. So the everyday changes — elements (a remote
 * endpoint's address joining a set), sets created, chains added, flushed, refilled and deleted (a
 * policy written or edited), verdict maps and base chains created, the anti-spoofing
 * concatenated interval sets and their elements — go this way, and the rest (elements of plain
 * interval sets that exist, port ranges in a `vmap`, other anonymous sets, a new table) through nft.
 *
 * Rules: parsed into expressions by rule-parse.ts, encoded by rule-encode.ts and netlink-rule.ts;
 * a rule text that is not supported there makes the whole transaction go through nft.
 *
 * Elements: only what the agent's table uses and can be encoded exactly is supported: keys of
 * `ipv4_addr`, `ipv6_addr`, `inet_proto`, `inet_service` and `ifname` fields (concatenations
 * included) in sets without the `interval` flag, verdict values (`goto`/`jump` a chain, `accept`,
 * `drop`, `return`, `continue`), the first ranges of a new interval set of addresses, and
 * `ifname . <address>` elements of a concatenated interval set (added or deleted, new set or
 * not). {@link encodeElementBatch} returns undefined for anything else, and the caller uses nft.
 *
 * Keys and verdicts of elements: netlink-keys.ts (each field of a key at the start of a
 * 4-byte-aligned slot, in network byte order; an interface name 16 bytes padded with zeros).
 */
import {
  align4,
  attr,
  AttrTooLarge,
  batch,
  BATCH_FRAME_BYTES,
  MessageWriter,
  nested,
  NFTA_DATA_VALUE,
  NftMsg,
  nftMessage,
  NLA_F_NESTED,
  NLM_F_CREATE,
  stringAttr,
  u32Attr,
  VERDICTS,
  writeMessageLength,
  writeStringAttr,
} from './netlink-attr.ts';
import { EXPR_DATA, EXPR_NAME, flushMessage, LIST_ELEM, RuleExpressions, writeRule } from './netlink-rule.ts';
import { CONCAT_INTERVAL_KEYS, encodeConcatIntervals, encodeIntervals, intervalMessage, NFT_SET_CONCAT, NFT_SET_INTERVAL, type Range } from './netlink-intervals.ts';
import {
  encodeVerdict,
  IFNAMSIZ,
  keyEncoder,
  NFTA_SET_ELEM_DATA,
  NFTA_SET_ELEM_KEY,
  NFTA_SET_ELEM_LIST_ELEMENTS,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_SET_ID,
  NFTA_SET_ELEM_LIST_TABLE,
} from './netlink-keys.ts';
import { encodeExpressions } from './rule-encode.ts';
import { parseRule } from './rule-parse.ts';
import type { BaseChainSpec } from './state.ts';

/** One element command: add or delete some elements of a set or verdict map. */
export interface ElementOp {
  verb: 'add' | 'delete';
  /** The set or map name. */
  set: string;
  /** The key type as nft writes it (`ipv4_addr . inet_proto . inet_service`, `ifname`, …). */
  keyType: string;
  /** The set's flags (`interval` is not supported here). */
  flags: readonly string[];
  /** The elements: a key's text, with a verdict's text for a map (`goto fwp_…`). */
  elements: ReadonlyArray<{ key: string; verdict?: string }>;
  /**
   * How many elements the set holds in the kernel before the transaction (the diff's view), for
   * an interval set that exists: nft 1.0.6 adds an end element at the zero address to an empty
   * one. Without it, elements of an existing interval set of addresses go through nft.
   */
  kernelElements?: number;
}

/**
 * One command of a transaction on an existing table, as the driver's diff writes it in text
 * (diff.ts); `other` stands for a command that has no netlink form here (a set created, a base
 * chain): a transaction holding one goes through nft.
 */
export type TxOp =
  | { kind: 'elements'; op: ElementOp }
  | { kind: 'addSet'; set: string; keyType: string; flags: readonly string[] }
  | { kind: 'addMap'; map: string; keyType: string }
  | { kind: 'addBaseChain'; chain: string; base: BaseChainSpec }
  | { kind: 'addChain'; chain: string }
  | { kind: 'flushChain'; chain: string }
  | { kind: 'addRule'; chain: string; body: string; comment: string }
  | { kind: 'deleteChain'; chain: string }
  | { kind: 'deleteSet'; set: string }
  | { kind: 'other' };

/** NFTA_CHAIN_*, NFTA_RULE_*, NFTA_SET_* attributes. */
const CHAIN_TABLE = 1;
const CHAIN_NAME = 3;
const CHAIN_HOOK = 4;
const CHAIN_POLICY = 5;
const CHAIN_TYPE = 7;
const HOOK_NUM = 1;
const HOOK_PRIORITY = 2;
const SET_TABLE = 1;
const SET_NAME = 2;
const SET_FLAGS = 3;
const SET_KEY_TYPE = 4;
const SET_KEY_LEN = 5;
const SET_DATA_TYPE = 6;
const SET_DATA_LEN = 7;
const SET_DESC = 9;
const SET_DESC_SIZE = 1;
/** NFTA_SET_DESC_CONCAT: the fields of a concatenated interval key, each as NFTA_LIST_ELEM { NFTA_SET_FIELD_LEN }. */
const SET_DESC_CONCAT = 2;
const SET_FIELD_LEN = 1;
const SET_ID = 10;
const SET_USERDATA = 13;

/**
 * The key types of the sets Margay creates with elements netlink can write (plain sets of
 * addresses, address·protocol·port sets), as nft 1.0.6 creates them (`nft --debug=mnl`): the
 * datatype (a concatenation's types 6 bits apart), the key length (each field in 4-byte
 * registers) and the user data nft stores (the key's byte order, and for a concatenation the
 * description of its fields).
 */
/** The user data nft stores for a concatenated key (key byte order, then its typeof description). */
const CONCAT_USERDATA = '00040000000003080004' + '0d0000000100';
const SET_KEYS: Record<string, { type: number; len: number; userdata: string }> = {
  inet_proto: { type: 12, len: 1, userdata: '000400000000' },
  ipv4_addr: { type: 7, len: 4, userdata: '000402000000' },
  ipv6_addr: { type: 8, len: 16, userdata: '000402000000' },
  'ipv4_addr . inet_proto . inet_service': { type: (7 << 12) | (12 << 6) | 13, len: 12, userdata: CONCAT_USERDATA },
  'ipv6_addr . inet_proto . inet_service': { type: (8 << 12) | (12 << 6) | 13, len: 24, userdata: CONCAT_USERDATA },
};
/** NFT_SET_MAP, and the data type of a verdict map's values (NFT_DATA_VERDICT). */
const NFT_SET_MAP = 0x8;
const NFT_DATA_VERDICT = 0xffffff00;
/**
 * The key types of the verdict maps Margay creates (`type ifname : verdict`), as nft 1.0.6 sends
 * them (`nft --debug=mnl`): datatype, key length, user data (key in host byte order, data byte
 * order and interval flag of the values).
 */
const MAP_KEYS: Record<string, { type: number; len: number; userdata: string }> = {
  ifname: { type: 41, len: IFNAMSIZ, userdata: '000401000000' + '010400000000' + '060400000000' },
};
/** NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_MAP: a rule's `vmap { … }`. */
const ANONYMOUS_MAP = 0x1 | 0x2 | NFT_SET_MAP;
/** The names nft gives an anonymous map and set (the kernel numbers them). */
const ANONYMOUS_MAP_NAME = '__map%d';
const ANONYMOUS_SET_NAME = '__set%d';
/**
 * The selectors of the dispatch chains' `vmap { … }` (render-dispatch.ts), as nft 1.0.6 creates
 * their anonymous maps: key type, key length, the key's byte order in the user data (host for
 * `meta l4proto`, network for `th dport`), then the values' byte order, typeof and interval flag.
 */
const ANONYMOUS_MAP_KEYS: Record<string, { keyType: string; type: number; len: number; userdata: string }> = {
  'meta l4proto': { keyType: 'inet_proto', type: 12, len: 1, userdata: '000401000000' },
  'th dport': { keyType: 'inet_service', type: 13, len: 2, userdata: '000402000000' },
};
const ANONYMOUS_MAP_USERDATA_TAIL = '010400000000' + '04080004010000000100' + '060400000000';
/** A rule that is one anonymous verdict map lookup: `<selector> vmap { <key> : <verdict>, … }`. */
const VMAP_RULE = /^(meta l4proto|th dport) vmap \{ ([^{}]+) \}$/;

/** Hook numbers of an `inet` base chain (enum nf_inet_hooks). */
const HOOKS: Record<BaseChainSpec['hook'], number> = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 };

/** One element op's message (of a set created in this batch as `setId`, for an anonymous one), or undefined when some element cannot be encoded. */
function encodeOp(table: string, op: ElementOp, setId?: number): Buffer | undefined {
  if (op.flags.includes('interval') || op.elements.length === 0) return undefined;
  const keyOf = keyEncoder(op.keyType);
  const keys: Buffer[] = [];
  const verdicts: (Buffer | undefined)[] = [];
  let bound = 64 + 3 * (table.length + op.set.length);
  for (const e of op.elements) {
    const key = keyOf(e.key);
    if (!key) return undefined;
    let verdict: Buffer | undefined;
    if (e.verdict !== undefined && op.verb === 'add') {
      verdict = encodeVerdict(e.verdict);
      if (!verdict) return undefined;
    }
    keys.push(key);
    verdicts.push(verdict);
    bound += 24 + key.length + (verdict?.length ?? 0);
  }
  // Written in place: a cold start's sets hold thousands of elements.
  const w = new MessageWriter(bound);
  w.string(NFTA_SET_ELEM_LIST_TABLE, table);
  w.string(NFTA_SET_ELEM_LIST_SET, op.set);
  if (setId !== undefined) w.u32(NFTA_SET_ELEM_LIST_SET_ID, setId);
  const list = w.open(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED);
  for (let i = 0; i < keys.length; i++) {
    // Numbered 1, 2, … as libnftnl numbers them (the kernel reads the list in order, whatever the type).
    const element = w.open((i + 1) | NLA_F_NESTED);
    const key = w.open(NFTA_SET_ELEM_KEY | NLA_F_NESTED);
    const value = w.open(NFTA_DATA_VALUE);
    w.raw(keys[i]!);
    w.close(value);
    w.close(key);
    const verdict = verdicts[i];
    if (verdict) {
      const data = w.open(NFTA_SET_ELEM_DATA | NLA_F_NESTED);
      w.raw(verdict);
      w.close(data);
    }
    w.close(element);
  }
  w.close(list);
  const add = op.verb === 'add';
  return w.finish(add ? NftMsg.newSetElem : NftMsg.delSetElem, add ? NLM_F_CREATE : 0);
}

/** A rule appended to a chain (`add rule`), or undefined when its text or comment is not supported. */
function encodeRule(table: string, chain: string, body: string, comment: string, rules: RuleExpressions): Buffer | undefined {
  const exprs = rules.encode(body);
  return exprs && writeRule(table, chain, exprs, comment);
}

/** A set created (`add set`), numbered `id` in its batch as nft numbers them, or undefined when its type is not supported. */
function encodeSet(table: string, name: string, keyType: string, flags: readonly string[], id: number): Buffer | undefined {
  const type = keyType.replace(/\s+/g, ' ').trim();
  const interval = flags.length === 1 && flags[0] === 'interval';
  const concat = interval ? CONCAT_INTERVAL_KEYS[type] : undefined;
  if (concat) {
    // Attributes in nft 1.0.6's order: the field lengths (NFTA_SET_DESC) after the id.
    const fields = concat.fields.map((len) => nested(LIST_ELEM, [u32Attr(SET_FIELD_LEN, len)]));
    return nftMessage(NftMsg.newSet, NLM_F_CREATE, [
      stringAttr(SET_TABLE, table),
      stringAttr(SET_NAME, name),
      u32Attr(SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_CONCAT),
      u32Attr(SET_KEY_TYPE, concat.type),
      u32Attr(SET_KEY_LEN, concat.fields.reduce((n, len) => n + align4(len), 0)),
      u32Attr(SET_ID, id),
      nested(SET_DESC, [nested(SET_DESC_CONCAT, fields)]),
      attr(SET_USERDATA, Buffer.from(CONCAT_USERDATA, 'hex')),
    ]);
  }
  const key = SET_KEYS[type];
  if (!key || (flags.length > 0 && !(interval && (type === 'ipv4_addr' || type === 'ipv6_addr')))) return undefined;
  return nftMessage(NftMsg.newSet, NLM_F_CREATE, [
    stringAttr(SET_TABLE, table),
    stringAttr(SET_NAME, name),
    u32Attr(SET_FLAGS, interval ? NFT_SET_INTERVAL : 0),
    u32Attr(SET_KEY_TYPE, key.type),
    u32Attr(SET_KEY_LEN, key.len),
    u32Attr(SET_ID, id),
    attr(SET_USERDATA, Buffer.from(key.userdata, 'hex')),
  ]);
}

/** A verdict map created (`add map … { type … : verdict; }`), numbered `id` in its batch, or undefined when its key type is not supported. */
function encodeMap(table: string, name: string, keyType: string, id: number): Buffer | undefined {
  const key = MAP_KEYS[keyType.trim()];
  return key && verdictMapMessage(table, name, NFT_SET_MAP, key, id, key.userdata);
}

/** NEWSET of a verdict map (named, or anonymous with its size), attributes in nft 1.0.6's order. */
function verdictMapMessage(table: string, name: string, flags: number, key: { type: number; len: number }, id: number, userdata: string, size?: number): Buffer {
  return nftMessage(NftMsg.newSet, NLM_F_CREATE, [
    stringAttr(SET_TABLE, table),
    stringAttr(SET_NAME, name),
    u32Attr(SET_FLAGS, flags),
    u32Attr(SET_KEY_TYPE, key.type),
    u32Attr(SET_KEY_LEN, key.len),
    u32Attr(SET_DATA_TYPE, NFT_DATA_VERDICT),
    u32Attr(SET_DATA_LEN, 0),
    u32Attr(SET_ID, id),
    ...(size === undefined ? [] : [nested(SET_DESC, [u32Attr(SET_DESC_SIZE, size)])]),
    attr(SET_USERDATA, Buffer.from(userdata, 'hex')),
  ]);
}

/** A base chain created (`add chain … { type … hook … priority …; policy …; }`) as nft 1.0.6 sends it. */
function encodeBaseChain(table: string, name: string, base: BaseChainSpec): Buffer | undefined {
  const policy = VERDICTS[base.policy];
  const hook = HOOKS[base.hook];
  if (policy === undefined || hook === undefined || !Number.isInteger(base.priority)) return undefined;
  return nftMessage(NftMsg.newChain, NLM_F_CREATE, [
    stringAttr(CHAIN_TABLE, table),
    stringAttr(CHAIN_NAME, name),
    stringAttr(CHAIN_TYPE, base.type),
    u32Attr(CHAIN_POLICY, policy),
    nested(CHAIN_HOOK, [u32Attr(HOOK_NUM, hook), u32Attr(HOOK_PRIORITY, base.priority)]),
  ]);
}

/**
 * A rule that is one anonymous verdict map (`th dport vmap { 80 : goto a, … }`) as nft 1.0.6
 * sends it: the map created (anonymous, constant, numbered `id`), its elements, then the rule
 * looking it up by name and id; undefined for other rules, interval keys (`8000-8100`) included.
 */
function encodeVmapRule(table: string, chain: string, body: string, comment: string, id: () => number): Buffer[] | undefined {
  const m = VMAP_RULE.exec(body);
  const key = m && ANONYMOUS_MAP_KEYS[m[1]!];
  if (!m || !key) return undefined;
  const elements: Array<{ key: string; verdict: string }> = [];
  for (const item of m[2]!.split(',')) {
    const [k, v, extra] = item.split(' : ').map((t) => t.trim());
    if (!k || !v || extra !== undefined) return undefined;
    elements.push({ key: k, verdict: v });
  }
  const loadBytes = selectorLoad(m[1]!);
  if (!loadBytes) return undefined;
  const setId = id();
  let set: Buffer;
  let elems: Buffer | undefined;
  if (elements.some((e) => e.key.includes('-'))) {
    // Port ranges: an interval map (each key a range, single ports one wide), sized as nft sizes it
    // (a start and an end per range, and the zero end element, even where an end is left out).
    const ranges = m[1] === 'th dport' ? portRanges(elements) : undefined;
    elems = ranges && intervalMessage(table, ANONYMOUS_MAP_NAME, 'add', 16, ranges, { setId, zero: true, touching: true });
    const size = ranges && 2 * ranges.length + (ranges[0]!.start === 0n ? 0 : 1);
    set = verdictMapMessage(table, ANONYMOUS_MAP_NAME, ANONYMOUS_MAP | NFT_SET_INTERVAL, key, setId, key.userdata + ANONYMOUS_MAP_USERDATA_TAIL, size ?? 0);
  } else {
    set = verdictMapMessage(table, ANONYMOUS_MAP_NAME, ANONYMOUS_MAP, key, setId, key.userdata + ANONYMOUS_MAP_USERDATA_TAIL, elements.length);
    elems = encodeOp(table, { verb: 'add', set: ANONYMOUS_MAP_NAME, keyType: key.keyType, flags: [], elements }, setId);
  }
  if (!elems) return undefined;
  // lookup: source register 1, verdict register, the map by name and batch id (libnftnl's order).
  const lookup = nested(LIST_ELEM, [
    stringAttr(EXPR_NAME, 'lookup'),
    nested(EXPR_DATA, [u32Attr(2, 1), u32Attr(3, 0), stringAttr(1, ANONYMOUS_MAP_NAME), u32Attr(4, setId)]),
  ]);
  const rule = writeRule(table, chain, { head: Buffer.concat([...loadBytes, lookup]) }, comment);
  return rule && [set, elems, rule];
}

/** The load of each `vmap` selector, encoded (null: not supported): the same for every rule (a cold start writes ~1,000 dispatch maps). */
const SELECTOR_LOADS = new Map<string, readonly Buffer[] | null>();

/** The selector's load, as a lookup of a named map would have it (parsed once per selector; only read). */
function selectorLoad(selector: string): readonly Buffer[] | undefined {
  let bytes = SELECTOR_LOADS.get(selector);
  if (bytes === undefined) {
    const load = parseRule(`${selector} vmap @x`)?.[0];
    bytes = (load && encodeExpressions([load])) ?? null;
    SELECTOR_LOADS.set(selector, bytes);
  }
  return bytes ?? undefined;
}

/** `80 : goto a`, `8000-8100 : goto b` as port ranges [first, last + 1) with their verdicts; undefined when one is not. */
function portRanges(elements: ReadonlyArray<{ key: string; verdict: string }>): Range[] | undefined {
  const ranges: Range[] = [];
  for (const e of elements) {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(e.key);
    const verdict = encodeVerdict(e.verdict);
    const [first, last] = m ? [Number(m[1]), Number(m[2] ?? m[1])] : [NaN, NaN];
    if (!verdict || !(first <= last && last <= 65535)) return undefined;
    ranges.push({ start: BigInt(first), end: BigInt(last) + 1n, verdict });
  }
  return ranges;
}

/** NFT_SET_ANONYMOUS | NFT_SET_CONSTANT: a rule's `{ … }`. */
const ANONYMOUS_SET = 0x1 | 0x2;
/**
 * The anonymous sets of values the renderers write (`icmpv6 type { 130, … }`: the ICMPv6 types a
 * workload may always send to its host), as nft 1.0.6 creates them: key type, key length, user
 * data (byte order and the selector's description).
 */
const ANONYMOUS_SET_KEYS: Record<string, { type: number; userdata: string }> = {
  'icmpv6 type': { type: 29, userdata: '0004020000000314000407000000010c00040e000000010401000000' },
};
/** A rule with one anonymous set of one-byte values: what comes before, the selector, the values, the rest. */
const SET_RULE = /^(.*?)\b(icmpv6 type) \{ (\d{1,3}(?:, \d{1,3})*) \}( .*)?$/;

/**
 * A rule that looks a value up in an anonymous set (`icmpv6 type { 130, 131 } accept`) as nft
 * 1.0.6 sends it: the set created (`__set%d`, anonymous·constant, numbered `id`, with its size),
 * its elements by batch id, then the rule, whose `lookup` names the set and its id. Undefined for
 * other rules.
 */
function encodeSetRule(table: string, chain: string, body: string, comment: string, id: () => number): Buffer[] | undefined {
  const m = SET_RULE.exec(body);
  const key = m && ANONYMOUS_SET_KEYS[m[2]!];
  if (!m || !key) return undefined;
  const values = m[3]!.split(', ').map(Number);
  if (values.some((v) => v > 255) || new Set(values).size !== values.length) return undefined;
  // The rule as a lookup of a named set, renamed to the anonymous one.
  const exprs = parseRule(`${m[1]}${m[2]} @x${m[4] ?? ''}`);
  const lookups = exprs?.filter((e) => e.kind === 'lookup') ?? [];
  const lookup = lookups[0];
  if (!exprs || lookups.length !== 1 || lookup?.kind !== 'lookup' || lookup.set !== 'x' || lookup.invert) return undefined;
  const setId = id();
  const encoded = encodeExpressions(exprs.map((e) => (e === lookup ? { ...lookup, set: ANONYMOUS_SET_NAME, setId } : e)));
  if (!encoded) return undefined;
  const set = nftMessage(NftMsg.newSet, NLM_F_CREATE, [
    stringAttr(SET_TABLE, table),
    stringAttr(SET_NAME, ANONYMOUS_SET_NAME),
    u32Attr(SET_FLAGS, ANONYMOUS_SET),
    u32Attr(SET_KEY_TYPE, key.type),
    u32Attr(SET_KEY_LEN, 1),
    u32Attr(SET_ID, setId),
    nested(SET_DESC, [u32Attr(SET_DESC_SIZE, values.length)]),
    attr(SET_USERDATA, Buffer.from(key.userdata, 'hex')),
  ]);
  const elements = values.map((v, i) => nested(i + 1, [nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, Buffer.from([v]))])]));
  const elems = nftMessage(NftMsg.newSetElem, NLM_F_CREATE, [
    stringAttr(NFTA_SET_ELEM_LIST_TABLE, table),
    stringAttr(NFTA_SET_ELEM_LIST_SET, ANONYMOUS_SET_NAME),
    u32Attr(NFTA_SET_ELEM_LIST_SET_ID, setId),
    nested(NFTA_SET_ELEM_LIST_ELEMENTS, elements),
  ]);
  const rule = writeRule(table, chain, { head: Buffer.concat(encoded) }, comment);
  return rule && [set, elems, rule];
}

/** NEWCHAIN's header and nfgenmsg (`add chain`) as nft sends them, but for the message's length. */
const CHAIN_HEADER = nftMessage(NftMsg.newChain, NLM_F_CREATE, []);

/** The bytes of a regular chain's `add chain` message ({@link writeChainAt}). */
export function chainMessageLength(table: string, chain: string): number {
  return CHAIN_HEADER.length + align4(5 + Buffer.byteLength(table)) + align4(5 + Buffer.byteLength(chain));
}

/**
 * Writes `add chain` of a regular chain (table, name) at `at` of `buf` (room for
 * {@link chainMessageLength} bytes); returns its length. In place: a cold start adds ~10,000 chains.
 */
export function writeChainAt(buf: Buffer, at: number, table: string, chain: string): number {
  buf.set(CHAIN_HEADER, at);
  const end = writeStringAttr(buf, writeStringAttr(buf, at + CHAIN_HEADER.length, CHAIN_TABLE, table), CHAIN_NAME, chain);
  writeMessageLength(buf, at, end - at);
  return end - at;
}

const TABLE_NAME = 1;
const TABLE_FLAGS = 2;
/** NLM_F_EXCL: `create`, refused when the object exists. */
const NLM_F_EXCL = 0x200;

/** `create table inet <table>` as nft 1.0.6 sends it: refused (EEXIST) when the table exists. */
export function newTableMessage(table: string): Buffer {
  return nftMessage(NftMsg.newTable, NLM_F_CREATE | NLM_F_EXCL, [stringAttr(TABLE_NAME, table), u32Attr(TABLE_FLAGS, 0)]);
}

/**
 * Encodes the commands of transactions one by one (the sets it creates numbered in order): see
 * {@link encodeTransactionBatch}, and a cold start's load ahead, which splits a large
 * transaction into several batches (load-ahead.ts).
 */
export class TxOpEncoder {
  /** The rule bodies' expressions, remembered while this encoder lives. */
  readonly rules = new RuleExpressions();
  #sets = 0;
  /** Interval sets created by this encoder without elements yet → their batch ids. */
  readonly #freshIntervals = new Map<string, number>();
  /** Interval sets of addresses that exist → how many elements they hold so far in this transaction. */
  readonly #intervalCounts = new Map<string, number>();

  constructor(readonly table: string) {}

  /** One command's message (or messages, one after the other), or undefined when it has no netlink form here. @throws {AttrTooLarge} */
  encode(op: TxOp): Buffer | undefined {
    if (op.kind === 'elements' && op.op.flags.includes('interval')) {
      // Concatenations: elements each on its own, added to or deleted from any such set.
      if (op.op.keyType.includes('.')) return encodeConcatIntervals(this.table, op.op, this.#freshIntervals.get(op.op.set));
      // Plain ranges: a new set's first elements (only once), or elements of a set that exists.
      const id = this.#freshIntervals.get(op.op.set);
      this.#freshIntervals.delete(op.op.set);
      if (id !== undefined) return op.op.verb === 'add' ? encodeIntervals(this.table, op.op, { setId: id, zero: true }) : undefined;
      const held = this.#intervalCounts.get(op.op.set) ?? op.op.kernelElements;
      if (held === undefined) return undefined;
      const sign = op.op.verb === 'add' ? 1 : -1;
      this.#intervalCounts.set(op.op.set, Math.max(0, held + sign * op.op.elements.length));
      return encodeIntervals(this.table, op.op, { zero: held === 0 });
    }
    const m = encodeTxOp(this.table, op, () => ++this.#sets, this.rules);
    if (m && op.kind === 'addSet' && op.flags.includes('interval')) this.#freshIntervals.set(op.set, this.#sets);
    return m;
  }
}

/** One command's message, or undefined when it has no netlink form here. */
function encodeTxOp(table: string, op: TxOp, setId: () => number, rules: RuleExpressions): Buffer | undefined {
  switch (op.kind) {
    case 'elements':
      return encodeOp(table, op.op);
    case 'addSet':
      return encodeSet(table, op.set, op.keyType, op.flags, setId());
    case 'addMap':
      return encodeMap(table, op.map, op.keyType, setId());
    case 'addBaseChain':
      return encodeBaseChain(table, op.chain, op.base);
    case 'addChain': {
      const out = Buffer.allocUnsafe(chainMessageLength(table, op.chain));
      writeChainAt(out, 0, table, op.chain);
      return out;
    }
    case 'flushChain':
      return flushMessage(table, op.chain);
    case 'addRule': {
      if (op.body.includes('{')) {
        const messages = op.body.includes(' vmap { ') ? encodeVmapRule(table, op.chain, op.body, op.comment, setId) : encodeSetRule(table, op.chain, op.body, op.comment, setId);
        return messages && Buffer.concat(messages);
      }
      return encodeRule(table, op.chain, op.body, op.comment, rules);
    }
    case 'deleteChain':
      return nftMessage(NftMsg.delChain, 0, [stringAttr(CHAIN_TABLE, table), stringAttr(CHAIN_NAME, op.chain)]);
    case 'deleteSet':
      return nftMessage(NftMsg.delSet, 0, [stringAttr(SET_TABLE, table), stringAttr(SET_NAME, op.set)]);
    case 'other':
      return undefined;
  }
}

/**
 * The batch for `ops` on the `inet` table `table`, in order; undefined when some op cannot be
 * encoded here or the batch would be larger than `maxBytes` (an op's element list is one netlink
 * attribute, at most 64 KiB): the caller then uses nft for the whole transaction.
 */
export function encodeTransactionBatch(table: string, ops: readonly TxOp[], maxBytes = Infinity): Buffer | undefined {
  if (ops.length === 0) return undefined;
  const messages: Buffer[] = [];
  let size = BATCH_FRAME_BYTES;
  const encoder = new TxOpEncoder(table);
  try {
    for (const op of ops) {
      const m = encoder.encode(op);
      if (!m) return undefined;
      size += m.length;
      if (size > maxBytes) return undefined;
      messages.push(m);
    }
  } catch (err) {
    if (err instanceof AttrTooLarge) return undefined;
    throw err;
  }
  return batch(messages);
}

/** The batch of element commands only (see {@link encodeTransactionBatch}). */
export function encodeElementBatch(table: string, ops: readonly ElementOp[], maxBytes = Infinity): Buffer | undefined {
  return encodeTransactionBatch(
    table,
    ops.map((op) => ({ kind: 'elements', op })),
    maxBytes,
  );
}
