/**
 * Set and map element changes as one nftables netlink batch (pure): the bytes the resident
 * `margay-netlink` helper sends to the kernel (its `nft` request). A batch is applied by the
 * kernel all or nothing, like an `nft -f` transaction.
 *
 * Why not `nft`: nft 1.0.6 reads every chain of the namespace into its cache before it adds an
 * element (~10 ms with 10,000 chains, docs/dataplane.md "One change at scale"); the kernel itself
 * takes a fraction of a millisecond for an element. So the everyday changes that are only
 * elements — a remote endpoint's address joining a set, a pod moved to a policy list that already
 * has its chains — go this way, and everything else through nft.
 *
 * Only what the agent's table uses and can be encoded exactly is supported: keys of
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

const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_CREATE = 0x400;
const NLA_F_NESTED = 0x8000;
const NFNL_MSG_BATCH_BEGIN = 0x10;
const NFNL_MSG_BATCH_END = 0x11;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWSETELEM = 12;
const NFT_MSG_DELSETELEM = 14;
const NFPROTO_INET = 1;
const NFTA_SET_ELEM_LIST_TABLE = 1;
const NFTA_SET_ELEM_LIST_SET = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
const NFTA_LIST_ELEM = 1;
const NFTA_SET_ELEM_KEY = 1;
const NFTA_SET_ELEM_DATA = 2;
const NFTA_DATA_VALUE = 1;
const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
const IFNAMSIZ = 16;
/** The chain name limit of the kernel (NFT_CHAIN_MAXNAMELEN, with the terminating zero). */
const CHAIN_NAME_MAX = 256;

/** Verdict codes (include/uapi/linux/netfilter.h and nf_tables.h). */
const VERDICTS: Record<string, number> = { drop: 0, accept: 1, continue: -1, return: -5 };
const CHAIN_VERDICTS: Record<string, number> = { jump: -3, goto: -4 };
/** Protocol names nft prints for `inet_proto` keys. */
const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, ipv6_icmp: 58, 'ipv6-icmp': 58, icmpv6: 58, sctp: 132, udplite: 136 };

const align4 = (n: number): number => (n + 3) & ~3;

/** The largest netlink attribute: its length is 16 bits. */
const MAX_ATTR = 0xffff;

/** An attribute would not fit in its 16-bit length (the batch is then not encoded here). */
class TooLarge extends Error {}

/** A netlink attribute: header, payload, padding. @throws {TooLarge} past {@link MAX_ATTR} bytes. */
function attr(type: number, payload: Buffer): Buffer {
  if (4 + payload.length > MAX_ATTR) throw new TooLarge();
  const out = Buffer.alloc(align4(4 + payload.length));
  out.writeUInt16LE(4 + payload.length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

const nested = (type: number, children: Buffer[]): Buffer => attr(type | NLA_F_NESTED, Buffer.concat(children));
const stringAttr = (type: number, s: string): Buffer => attr(type, Buffer.from(`${s}\0`));

function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n, 0);
  return b;
}

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
  if (extra !== undefined) return undefined;
  if (chain === undefined) {
    const code = VERDICTS[word];
    return code === undefined ? undefined : nested(NFTA_DATA_VERDICT, [attr(NFTA_VERDICT_CODE, u32be(code))]);
  }
  const code = CHAIN_VERDICTS[word];
  if (code === undefined || Buffer.byteLength(chain) >= CHAIN_NAME_MAX) return undefined;
  return nested(NFTA_DATA_VERDICT, [attr(NFTA_VERDICT_CODE, u32be(code)), stringAttr(NFTA_VERDICT_CHAIN, chain)]);
}

/** One netlink message: header, nfgenmsg, attributes. */
function message(type: number, flags: number, seq: number, family: number, resId: number, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const out = Buffer.alloc(16 + 4 + body.length);
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt8(family, 16);
  out.writeUInt8(0, 17);
  out.writeUInt16BE(resId, 18);
  body.copy(out, 20);
  return out;
}

/** One op's message, or undefined when some element cannot be encoded. */
function encodeOp(table: string, op: ElementOp, seq: number): Buffer | undefined {
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
  const type = (NFNL_SUBSYS_NFTABLES << 8) | (op.verb === 'add' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op.verb === 'add' ? NLM_F_CREATE : 0);
  return message(type, flags, seq, NFPROTO_INET, 0, [
    stringAttr(NFTA_SET_ELEM_LIST_TABLE, table),
    stringAttr(NFTA_SET_ELEM_LIST_SET, op.set),
    nested(NFTA_SET_ELEM_LIST_ELEMENTS, elements),
  ]);
}

/**
 * The batch for `ops` on the `inet` table `table`, in order; undefined when some op cannot be
 * encoded here or the batch would be larger than `maxBytes` (an op's element list is one netlink
 * attribute, at most 64 KiB): the caller then uses nft for the whole transaction.
 */
export function encodeElementBatch(table: string, ops: readonly ElementOp[], maxBytes = Infinity): Buffer | undefined {
  if (ops.length === 0) return undefined;
  const messages = [message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 1, 0, NFNL_SUBSYS_NFTABLES, [])];
  let size = messages[0]!.length;
  try {
    for (const op of ops) {
      const m = encodeOp(table, op, messages.length + 1);
      if (!m) return undefined;
      size += m.length;
      if (size > maxBytes) return undefined;
      messages.push(m);
    }
  } catch (err) {
    if (err instanceof TooLarge) return undefined;
    throw err;
  }
  messages.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, messages.length + 1, 0, NFNL_SUBSYS_NFTABLES, []));
  return size + messages[messages.length - 1]!.length <= maxBytes ? Buffer.concat(messages) : undefined;
}
