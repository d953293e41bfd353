/**
 * The keys and values of nftables set elements as netlink carries them (pure): each field of a
 * key in network byte order at the start of a 4-byte-aligned slot when the key is a
 * concatenation, an interface name as 16 bytes padded with zeros, a verdict as its attributes
 * (include/uapi/linux/netfilter/nf_tables.h). Used by netlink-batch.ts for sets, maps and their
 * elements; undefined for any text or type not supported here (the caller then uses nft).
 */
import { ClearingMemo } from '../../memo/mod.ts';
import { parseIp } from '../../net/mod.ts';
import { align4, verdictAttr } from './netlink-attr.ts';

/** NFTA_SET_ELEM_LIST_* (an element message's attributes) and NFTA_SET_ELEM_KEY/DATA (an element's). */
export const NFTA_SET_ELEM_LIST_TABLE = 1;
export const NFTA_SET_ELEM_LIST_SET = 2;
export const NFTA_SET_ELEM_LIST_ELEMENTS = 3;
export const NFTA_SET_ELEM_LIST_SET_ID = 4;
export const NFTA_SET_ELEM_KEY = 1;
export const NFTA_SET_ELEM_DATA = 2;

/** IFNAMSIZ: the bytes of an interface name in a key, padding included. */
export const IFNAMSIZ = 16;

/** Protocol names nft prints for `inet_proto` keys. */
const PROTOCOLS: Record<string, number> = { icmp: 1, tcp: 6, udp: 17, ipv6_icmp: 58, 'ipv6-icmp': 58, icmpv6: 58, sctp: 132, udplite: 136 };

/** One field of a key, or undefined when its text or type is not supported. */
export function encodeField(type: string, text: string): Buffer | undefined {
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
export function addressBytes(text: string, family: 4 | 6): Buffer | undefined {
  const ip = parseIp(text);
  if (ip?.family !== family) return undefined;
  const out = Buffer.alloc(family === 4 ? 4 : 16);
  writeBigUint(out, 0, ip.value, out.length);
  return out;
}

/**
 * Writes the `bytes` (a multiple of 4) low bytes of `v` at `at` of `buf` in network byte order,
 * 32 bits at a time: a BigInt operation per byte cost a cold start's 2,000 elements ~10 ms.
 */
export function writeBigUint(buf: Buffer, at: number, v: bigint, bytes: number): void {
  for (let i = bytes - 4; i >= 0; i -= 4) buf.writeUInt32BE(Number(BigInt.asUintN(32, v >> BigInt(8 * (bytes - 4 - i)))), at + i);
}

/** A key: its fields, each at the start of a 4-byte slot when there are several. */
export function encodeKey(keyType: string, key: string): Buffer | undefined {
  return keyEncoder(keyType)(key);
}

/** {@link encodeKey} for many keys of one type (the type split once). */
export function keyEncoder(keyType: string): (key: string) => Buffer | undefined {
  const types = keyType.split(' . ').map((t) => t.trim());
  if (types.length === 1) return (key) => encodeField(types[0]!, key);
  return (key) => {
    const texts = key.split(' . ');
    if (texts.length !== types.length) return undefined;
    const fields: Buffer[] = [];
    let length = 0;
    for (let i = 0; i < types.length; i++) {
      const field = encodeField(types[i]!, texts[i]!.trim());
      if (!field) return undefined;
      fields.push(field);
      length += align4(field.length);
    }
    const out = Buffer.alloc(length);
    for (let i = 0, at = 0; i < fields.length; at += align4(fields[i]!.length), i++) fields[i]!.copy(out, at);
    return out;
  };
}

/**
 * A verdict's attributes (`goto fwp_x`, `accept`, …), or undefined when not supported. Shared
 * and only read (copied into messages): map elements repeat a few verdicts (every workload of a
 * policy list goes to its chain), remembered by text. Bounded: cleared when full.
 */
export function encodeVerdict(text: string): Buffer | undefined {
  let bytes = VERDICT_BYTES.get(text);
  if (bytes === undefined) {
    const [word = '', chain, extra] = text.trim().split(/\s+/);
    bytes = (extra === undefined ? verdictAttr(word, chain) : undefined) ?? null;
    VERDICT_BYTES.set(text, bytes);
  }
  return bytes ?? undefined;
}

const VERDICT_BYTES = new ClearingMemo<string, Buffer | null>(4_096);
