/**
 * Interval elements as netlink batches carry them (pure; split out of netlink-batch.ts): the
 * ranges of an interval set of addresses (and of an anonymous `vmap` of port ranges), and the
 * `ifname . <address>` elements of a concatenated interval set, laid out as nft 1.0.6 sends them.
 */
import { parseIpNet } from '../../net/mod.ts';
import { attr, MessageWriter, NFTA_DATA_VALUE, nested, NftMsg, nftMessage, NLA_F_NESTED, NLM_F_CREATE, stringAttr, u32Attr } from './netlink-attr.ts';
import type { ElementOp } from './netlink-batch.ts';
import {
  encodeField,
  IFNAMSIZ,
  NFTA_SET_ELEM_DATA,
  NFTA_SET_ELEM_KEY,
  NFTA_SET_ELEM_LIST_ELEMENTS,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_SET_ID,
  NFTA_SET_ELEM_LIST_TABLE,
  writeBigUint,
} from './netlink-keys.ts';

/**
 * The concatenated interval sets Margay creates (the anti-spoofing sets `wl-src-v4/v6`: `ifname .
 * <address>`, flags interval), as nft 1.0.6 creates them (`nft --debug=mnl`): flags interval and
 * concat, the datatype (the two types 6 bits apart), the key length (16 + the address, each field
 * in 4-byte registers), each field's length in NFTA_SET_DESC_CONCAT, and the user data of a
 * concatenation.
 */
export const CONCAT_INTERVAL_KEYS: Record<string, { type: number; fields: readonly number[]; family: 4 | 6 }> = {
  'ifname . ipv4_addr': { type: (41 << 6) | 7, fields: [IFNAMSIZ, 4], family: 4 },
  'ifname . ipv6_addr': { type: (41 << 6) | 8, fields: [IFNAMSIZ, 16], family: 6 },
};
/** NFT_SET_CONCAT: a set whose interval keys are concatenations (the kernel's pipapo set). */
export const NFT_SET_CONCAT = 0x80;
/** NFTA_SET_ELEM_KEY_END: the last key of a concatenated interval element (inclusive). */
const NFTA_SET_ELEM_KEY_END = 10;
/**
 * Elements per message of a concatenated interval set: an `ifname . ipv6_addr` element takes 84
 * bytes, and a message's element list is one attribute of at most 64 KiB.
 */
const CONCAT_ELEMENTS_PER_MESSAGE = 500;
/** NFT_SET_INTERVAL, and an element's NFT_SET_ELEM_INTERVAL_END (NFTA_SET_ELEM_FLAGS). */
export const NFT_SET_INTERVAL = 0x4;
const NFT_SET_ELEM_INTERVAL_END = 1;
const NFTA_SET_ELEM_FLAGS = 3;

/**
 * Elements of an interval set of addresses added or deleted as nft 1.0.6 sends them (`nft
 * --debug=mnl`): the ranges sorted, each as its start and its end (the next address, flagged),
 * after an end element at the zero address when adding to a set that holds nothing yet (`zero`)
 * and the first range does not start there; the set's batch id for a set created in the same
 * batch (nft also sends an id when adding to a set that exists, which the kernel does not use:
 * left out here). Undefined (nft) for ranges that overlap or touch, or reach the last address,
 * whose handling was not checked here.
 */
export function encodeIntervals(table: string, op: ElementOp, options: { setId?: number; zero: boolean }): Buffer | undefined {
  const bits = op.keyType === 'ipv4_addr' ? 32 : op.keyType === 'ipv6_addr' ? 128 : 0;
  if (bits === 0) return undefined;
  const ranges: Range[] = [];
  for (const e of op.elements) {
    const net = parseIpNet(e.key, { allowBareIp: true });
    if (!net || net.cidr.family !== (bits === 32 ? 4 : 6)) return undefined;
    const start = net.cidr.base;
    ranges.push({ start, end: start + (1n << BigInt(bits - net.cidr.prefix)) });
  }
  return intervalMessage(table, op.set, op.verb, bits, ranges, options);
}

/** A range of keys [start, end) `bits` wide, with a map element's verdict (NFTA_DATA_VERDICT). */
export interface Range {
  start: bigint;
  end: bigint;
  verdict?: Buffer;
}

/**
 * The NEWSETELEM (DELSETELEM) of interval elements (see {@link encodeIntervals}); undefined when
 * ranges overlap or reach the last key, or touch unless `touching` (a map's: nft 1.0.6 then leaves
 * out the end where the next range starts).
 */
export function intervalMessage(
  table: string,
  set: string,
  verb: ElementOp['verb'],
  bits: number,
  ranges: Range[],
  options: { setId?: number; zero: boolean; touching?: boolean },
): Buffer | undefined {
  if (ranges.length === 0) return undefined;
  ranges.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (let i = 1; i < ranges.length; i++) {
    const [prev, next] = [ranges[i - 1]!.end, ranges[i]!.start];
    if (next < prev || (next === prev && !options.touching)) return undefined;
  }
  if (ranges[ranges.length - 1]!.end >= 1n << BigInt(bits)) return undefined;
  const bytes = (v: bigint): Buffer => Buffer.from(v.toString(16).padStart(bits / 4, '0'), 'hex');
  const elements: Buffer[] = [];
  const element = (v: bigint, end: boolean, verdict?: Buffer): void => {
    const key = nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, bytes(v))]);
    const data = verdict ? [nested(NFTA_SET_ELEM_DATA, [verdict])] : [];
    elements.push(nested(elements.length + 1, end ? [u32Attr(NFTA_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END), key] : [key, ...data]));
  };
  const add = verb === 'add';
  if (add && options.zero && ranges[0]!.start !== 0n) element(0n, true);
  ranges.forEach((r, i) => {
    element(r.start, false, r.verdict);
    if (ranges[i + 1]?.start !== r.end) element(r.end, true);
  });
  return nftMessage(add ? NftMsg.newSetElem : NftMsg.delSetElem, add ? NLM_F_CREATE : 0, [
    stringAttr(NFTA_SET_ELEM_LIST_TABLE, table),
    stringAttr(NFTA_SET_ELEM_LIST_SET, set),
    ...(add && options.setId !== undefined ? [u32Attr(NFTA_SET_ELEM_LIST_SET_ID, options.setId)] : []),
    nested(NFTA_SET_ELEM_LIST_ELEMENTS, elements),
  ]);
}

/**
 * The elements of a concatenated interval set (`"cali1" . 10.0.0.0/16`: an interface and a net),
 * added or deleted, as nft 1.0.6 sends them: each element on its own (the kernel's pipapo set
 * needs no neighbours), its first key (the net's first address) and its last key
 * (NFTA_SET_ELEM_KEY_END: the net's last address), in the order given; the set's batch id with
 * the first elements of a set created in the same batch (nft also sends an id when adding to a set
 * that exists, which the kernel does not use: left out here, as for plain sets). Several messages
 * of at most {@link CONCAT_ELEMENTS_PER_MESSAGE} elements (the batch is one transaction either
 * way). Undefined when an element is not an interface name and a net of the set's family.
 */
export function encodeConcatIntervals(table: string, op: ElementOp, setId?: number): Buffer | undefined {
  const key = CONCAT_INTERVAL_KEYS[op.keyType.replace(/\s+/g, ' ').trim()];
  if (!key || op.elements.length === 0) return undefined;
  const bytes = key.fields[1]!;
  const bits = BigInt(8 * bytes);
  const add = op.verb === 'add';
  const messages: Buffer[] = [];
  for (let from = 0; from < op.elements.length; from += CONCAT_ELEMENTS_PER_MESSAGE) {
    const part = op.elements.slice(from, from + CONCAT_ELEMENTS_PER_MESSAGE);
    // Written in place: a cold start's anti-spoofing set holds an element per workload address.
    const w = new MessageWriter(64 + 3 * (table.length + op.set.length) + part.length * (48 + 2 * (IFNAMSIZ + bytes)));
    w.string(NFTA_SET_ELEM_LIST_TABLE, table);
    w.string(NFTA_SET_ELEM_LIST_SET, op.set);
    if (setId !== undefined && add) w.u32(NFTA_SET_ELEM_LIST_SET_ID, setId);
    const list = w.open(NFTA_SET_ELEM_LIST_ELEMENTS | NLA_F_NESTED);
    const value = Buffer.alloc(IFNAMSIZ + bytes);
    const writeKey = (type: number, v: bigint): void => {
      writeBigUint(value, IFNAMSIZ, v, bytes);
      const at = w.open(type | NLA_F_NESTED);
      const data = w.open(NFTA_DATA_VALUE);
      w.raw(value);
      w.close(data);
      w.close(at);
    };
    for (let i = 0; i < part.length; i++) {
      const e = part[i]!;
      const [name, net, extra] = e.key.split(' . ').map((t) => t.trim());
      const iface = name === undefined ? undefined : encodeField('ifname', name);
      const range = net === undefined ? undefined : parseIpNet(net, { allowBareIp: true });
      if (!iface || !range || extra !== undefined || e.verdict !== undefined || range.cidr.family !== key.family) return undefined;
      iface.copy(value, 0);
      const first = range.cidr.base;
      const element = w.open((i + 1) | NLA_F_NESTED);
      writeKey(NFTA_SET_ELEM_KEY, first);
      writeKey(NFTA_SET_ELEM_KEY_END, first + (1n << (bits - BigInt(range.cidr.prefix))) - 1n);
      w.close(element);
    }
    w.close(list);
    messages.push(w.finish(add ? NftMsg.newSetElem : NftMsg.delSetElem, add ? NLM_F_CREATE : 0));
  }
  return messages.length === 1 ? messages[0] : Buffer.concat(messages);
}
