/**
 * Reads netlink messages back (pure): what a batch or a load-ahead stream file holds, message by
 * message, with the names it carries. For what stands in for the kernel where there is none (the
 * code cache's warm-up, src/agent/warm-up-kernel.ts) and for tests that check what was written.
 */

/** The netlink types a reader meets besides nf_tables' own (batch begin and end, a stream's end). */
export { NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NLMSG_DONE } from './netlink-attr.ts';

/** Bytes of a netlink header and the nfgenmsg after it: where an nf_tables message's attributes start. */
const HEADERS = 20;

/** One message as read back. */
export interface NetlinkMessageRead {
  /** The netlink type: batch begin or end, a stream's end, or (subsystem << 8) | nf_tables type. */
  type: number;
  flags: number;
  /** The bytes it takes (its length, aligned to 4 as messages follow one another). */
  bytes: number;
  /** Its top-level string attributes (zero-terminated) by attribute type: the names of a table, chain or set. */
  strings: Map<number, string>;
}

/**
 * The whole messages at the start of `data`, and the bytes they take: a message cut off at the
 * end (a stream still being written) is left for the next read.
 */
export function readNetlinkMessages(data: Buffer): { messages: NetlinkMessageRead[]; bytes: number } {
  const messages: NetlinkMessageRead[] = [];
  let at = 0;
  while (at + 16 <= data.length) {
    const len = data.readUInt32LE(at);
    if (len < 16) throw new Error(`netlink message at byte ${at} claims ${len} bytes (a header alone is 16)`);
    // Cut off, its padding included: left for the next read.
    if (at + align4(len) > data.length) break;
    const type = data.readUInt16LE(at + 4);
    const msg: NetlinkMessageRead = { type, flags: data.readUInt16LE(at + 6), bytes: align4(len), strings: new Map() };
    if (type > 0xff) readStrings(data, at + HEADERS, at + len, msg.strings);
    messages.push(msg);
    at += msg.bytes;
  }
  return { messages, bytes: at };
}

/** The nf_tables message type of a message read back (its low byte), or undefined for netlink's own types. */
export function nftTypeOf(msg: NetlinkMessageRead): number | undefined {
  return msg.type > 0xff ? msg.type & 0xff : undefined;
}

function readStrings(data: Buffer, from: number, to: number, into: Map<number, string>): void {
  for (let a = from; a + 4 <= to; ) {
    const alen = data.readUInt16LE(a);
    if (alen < 4) return;
    const atype = data.readUInt16LE(a + 2) & 0x7fff;
    if (alen > 5 && a + alen <= to && data[a + alen - 1] === 0) into.set(atype, data.toString('latin1', a + 4, a + alen - 1));
    a += align4(alen);
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}
