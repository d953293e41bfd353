/**
 * A transaction of the nftables driver as one nftables netlink batch (pure): the bytes the
 * resident `margay-netlink` helper sends to the kernel (its `nft` request). A batch is applied by
 * the kernel all or nothing, like an `nft -f` transaction.
 *
 * Why not `nft`: nft 1.0.6 reads every chain of the namespace into its cache before it adds an
 * element (~10 ms with 10,000 chains, docs/dataplane.md "One change at scale"); the kernel itself
 * takes a fraction of a millisecond for an element. So the everyday changes — elements (a remote
 * endpoint's address joining a set), sets created, chains added, flushed, refilled and deleted (a
 * policy written or edited) — go this way, and the rest (base chains, maps created, interval sets,
 * a new table) through nft.
 *
 * Rules: parsed into expressions by rule-parse.ts, encoded by rule-encode.ts; a rule text that is
 * not supported there makes the whole transaction go through nft.
 *
 * Elements: only what the agent's table uses and can be encoded exactly is supported: keys of
 * `ipv4_addr`, `ipv6_addr`, `inet_proto`, `inet_service` and `ifname` fields (concatenations
 * included) in sets without the `interval` flag, and verdict values (`goto`/`jump` a chain,
 * `accept`, `drop`, `return`, `continue`). {@link encodeElementBatch} returns undefined for
 * anything else, and the caller uses nft.
 *
 * Layout (include/uapi/linux/netfilter/nf_tables.h): each field of a key sits at the start of a
 * 4-byte-aligned slot (a concatenation's registers), in network byte order; an interface name is
 * 16 bytes padded with zeros.
 */
import { parseIp } from '../../net/mod.ts';
import { align4, attr, AttrTooLarge, batch, nested, NFTA_DATA_VALUE, NftMsg, nftMessage, NLM_F_APPEND, NLM_F_CREATE, stringAttr, u32Attr, verdictAttr } from './netlink-attr.ts';
import { commentUserdata, encodeExpressions } from './rule-encode.ts';
import { parseRule } from './rule-parse.ts';

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
}

/**
 * One command of a transaction on an existing table, as the driver's diff writes it in text
 * (diff.ts); `other` stands for a command that has no netlink form here (a set created, a base
 * chain): a transaction holding one goes through nft.
 */
export type TxOp =
  | { kind: 'elements'; op: ElementOp }
  | { kind: 'addSet'; set: string; keyType: string; flags: readonly string[] }
  | { kind: 'addChain'; chain: string }
  | { kind: 'flushChain'; chain: string }
  | { kind: 'addRule'; chain: string; body: string; comment: string }
  | { kind: 'deleteChain'; chain: string }
  | { kind: 'deleteSet'; set: string }
  | { kind: 'other' };

const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
/** NFTA_CHAIN_*, NFTA_RULE_*, NFTA_SET_* attributes. */
const CHAIN_TABLE = 1;
const CHAIN_NAME = 3;
const RULE_TABLE = 1;
const RULE_CHAIN = 2;
const RULE_EXPRESSIONS = 4;
const RULE_USERDATA = 7;
const SET_TABLE = 1;
const SET_NAME = 2;
const SET_FLAGS = 3;
const SET_KEY_TYPE = 4;
const SET_KEY_LEN = 5;
const SET_ID = 10;
const SET_USERDATA = 13;

/**
 * The key types of the sets Margay creates with elements netlink can write (plain sets of
 * addresses, address·protocol·port sets), as nft 1.0.6 creates them (`nft --debug=mnl`): the
 * datatype (a concatenation's types 6 bits apart), the key length (each field in 4-byte
 * registers) and the user data nft stores (the key's byte order, and for a concatenation the
 * description of its fields).
 */
const SET_KEYS: Record<string, { type: number; len: number; userdata: string }> = {
  ipv4_addr: { type: 7, len: 4, userdata: '000402000000' },
  ipv6_addr: { type: 8, len: 16, userdata: '000402000000' },
  'ipv4_addr . inet_proto . inet_service': { type: (7 << 12) | (12 << 6) | 13, len: 12, userdata: '00040000000003080004' + '0d0000000100' },
  'ipv6_addr . inet_proto . inet_service': { type: (8 << 12) | (12 << 6) | 13, len: 24, userdata: '00040000000003080004' + '0d0000000100' },
};
const IFNAMSIZ = 16;

/** Protocol names nft prints for `inet_proto` keys. */
const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, ipv6_icmp: 58, 'ipv6-icmp': 58, icmpv6: 58, sctp: 132, udplite: 136 };

/** One field of a key, or undefined when its text or type is not supported. */
function encodeField(type: string, text: string): Buffer | undefined {
  switch (type) {
    case 'ipv4_addr':
      return addressBytes(text, 4);
    case 'ipv6_addr':
      return addressBytes(text, 6);
    case 'inet_proto': {
      const n = /^\d+$/.test(text) ? Number(text) : PROTOCOLS[text];
      return n !== undefined && n <= 255 ? Buffer.from([n]) : undefined;
    }
    case 'inet_service': {
      if (!/^\d+$/.test(text) || Number(text) > 65535) return undefined;
      const b = Buffer.alloc(2);
      b.writeUInt16BE(Number(text), 0);
      return b;
    }
    case 'ifname': {
      const name = text.replace(/^"(.*)"$/, '$1');
      if (name === '' || Buffer.byteLength(name) >= IFNAMSIZ || name.includes('*') || name.includes('\0')) return undefined;
      const b = Buffer.alloc(IFNAMSIZ);
      b.write(name);
      return b;
    }
    default:
      return undefined;
  }
}

/** An address's bytes in network order, or undefined when `text` is not one of `family`. */
function addressBytes(text: string, family: 4 | 6): Buffer | undefined {
  const ip = parseIp(text);
  if (ip?.family !== family) return undefined;
  const out = Buffer.alloc(family === 4 ? 4 : 16);
  let v = ip.value;
  for (let i = out.length - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

/** A key: its fields, each at the start of a 4-byte slot when there are several. */
export function encodeKey(keyType: string, key: string): Buffer | undefined {
  const types = keyType.split(' . ').map((t) => t.trim());
  const texts = types.length === 1 ? [key] : key.split(' . ').map((t) => t.trim());
  if (texts.length !== types.length) return undefined;
  const fields: Buffer[] = [];
  for (let i = 0; i < types.length; i++) {
    const field = encodeField(types[i]!, texts[i]!);
    if (!field) return undefined;
    fields.push(types.length === 1 ? field : Buffer.concat([field, Buffer.alloc(align4(field.length) - field.length)]));
  }
  return Buffer.concat(fields);
}

/** A verdict's attributes (`goto fwp_x`, `accept`, …), or undefined when not supported. */
function encodeVerdict(text: string): Buffer | undefined {
  const [word = '', chain, extra] = text.trim().split(/\s+/);
  return extra === undefined ? verdictAttr(word, chain) : undefined;
}

/** One element op's message, or undefined when some element cannot be encoded. */
function encodeOp(table: string, op: ElementOp): Buffer | undefined {
  if (op.flags.includes('interval') || op.elements.length === 0) return undefined;
  const elements: Buffer[] = [];
  for (const e of op.elements) {
    const key = encodeKey(op.keyType, e.key);
    if (!key) return undefined;
    const parts = [nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, key)])];
    if (e.verdict !== undefined && op.verb === 'add') {
      const verdict = encodeVerdict(e.verdict);
      if (!verdict) return undefined;
      parts.push(nested(NFTA_SET_ELEM_DATA, [verdict]));
    }
    elements.push(nested(NFTA_LIST_ELEM, parts));
  }
  const add = op.verb === 'add';
  return nftMessage(add ? NftMsg.newSetElem : NftMsg.delSetElem, add ? NLM_F_CREATE : 0, [
    stringAttr(NFTA_SET_ELEM_LIST_TABLE, table),
    stringAttr(NFTA_SET_ELEM_LIST_SET, op.set),
    nested(NFTA_SET_ELEM_LIST_ELEMENTS, elements),
  ]);
}

/** A rule appended to a chain (`add rule`), or undefined when its text or comment is not supported. */
function encodeRule(table: string, chain: string, body: string, comment: string): Buffer | undefined {
  const exprs = parseRule(body);
  const list = exprs && encodeExpressions(exprs);
  const userdata = commentUserdata(comment);
  if (!list || !userdata) return undefined;
  return nftMessage(NftMsg.newRule, NLM_F_CREATE | NLM_F_APPEND, [
    stringAttr(RULE_TABLE, table),
    stringAttr(RULE_CHAIN, chain),
    nested(RULE_EXPRESSIONS, list),
    attr(RULE_USERDATA, userdata),
  ]);
}

/** A set created (`add set`), numbered `id` in its batch as nft numbers them, or undefined when its type is not supported. */
function encodeSet(table: string, name: string, keyType: string, flags: readonly string[], id: number): Buffer | undefined {
  const key = SET_KEYS[keyType.replace(/\s+/g, ' ').trim()];
  if (!key || flags.length > 0) return undefined;
  return nftMessage(NftMsg.newSet, NLM_F_CREATE, [
    stringAttr(SET_TABLE, table),
    stringAttr(SET_NAME, name),
    u32Attr(SET_FLAGS, 0),
    u32Attr(SET_KEY_TYPE, key.type),
    u32Attr(SET_KEY_LEN, key.len),
    u32Attr(SET_ID, id),
    attr(SET_USERDATA, Buffer.from(key.userdata, 'hex')),
  ]);
}

/** One command's message, or undefined when it has no netlink form here. */
function encodeTxOp(table: string, op: TxOp, setId: () => number): Buffer | undefined {
  switch (op.kind) {
    case 'elements':
      return encodeOp(table, op.op);
    case 'addSet':
      return encodeSet(table, op.set, op.keyType, op.flags, setId());
    case 'addChain':
      return nftMessage(NftMsg.newChain, NLM_F_CREATE, [stringAttr(CHAIN_TABLE, table), stringAttr(CHAIN_NAME, op.chain)]);
    case 'flushChain':
      return nftMessage(NftMsg.delRule, 0, [stringAttr(RULE_TABLE, table), stringAttr(RULE_CHAIN, op.chain)]);
    case 'addRule':
      return encodeRule(table, op.chain, op.body, op.comment);
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
  let size = 2 * 20; // batch begin and end
  let sets = 0;
  try {
    for (const op of ops) {
      const m = encodeTxOp(table, op, () => ++sets);
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
