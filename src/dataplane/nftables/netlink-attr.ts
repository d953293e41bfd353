/**
 * Netlink message and attribute layout for nftables batches (pure): the building blocks of
 * netlink-batch.ts (elements, chains, rules) and rule-encode.ts (expressions). Constants are those
 * of include/uapi/linux/netlink.h, netfilter/nfnetlink.h and netfilter/nf_tables.h.
 */

export const NLM_F_REQUEST = 0x1;
export const NLM_F_ACK = 0x4;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;
/** Marks an attribute that holds attributes. */
export const NLA_F_NESTED = 0x8000;
/** The netlink types that open and close a batch. */
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;
/** The netlink type that ends a dump, and a load-ahead stream for the helper. */
export const NLMSG_DONE = 3;
const NFNL_SUBSYS_NFTABLES = 10;
/** The nf_tables family of an `inet` table. */
export const NFPROTO_INET = 1;
/** Nested data attributes (NFTA_DATA_*, NFTA_VERDICT_*). */
export const NFTA_DATA_VALUE = 1;
export const NFTA_DATA_VERDICT = 2;
const NFTA_VERDICT_CODE = 1;
const NFTA_VERDICT_CHAIN = 2;
/** The chain name limit of the kernel (NFT_CHAIN_MAXNAMELEN, with the terminating zero). */
export const CHAIN_NAME_MAX = 256;

/** nf_tables message types (enum nf_tables_msg_types). */
export const NftMsg = {
  newTable: 0,
  newChain: 3,
  delChain: 5,
  newRule: 6,
  delRule: 8,
  newSet: 9,
  delSet: 11,
  newSetElem: 12,
  delSetElem: 14,
} as const;

/** Verdict codes (include/uapi/linux/netfilter.h and nf_tables.h). */
export const VERDICTS: Readonly<Record<string, number>> = { drop: 0, accept: 1, continue: -1, return: -5 };
/** Verdict codes that name a chain. */
export const CHAIN_VERDICTS: Readonly<Record<string, number>> = { jump: -3, goto: -4 };

export const align4 = (n: number): number => (n + 3) & ~3;

/** The largest netlink attribute: its length is 16 bits. */
const MAX_ATTR = 0xffff;

/** Thrown by {@link attr} when an attribute would not fit its 16-bit length (the batch is then left to nft). */
export class AttrTooLarge extends Error {}

/** A netlink attribute: header, payload, padding. @throws {AttrTooLarge} past 64 KiB. */
export function attr(type: number, payload: Buffer): Buffer {
  if (4 + payload.length > MAX_ATTR) throw new AttrTooLarge();
  const out = Buffer.alloc(align4(4 + payload.length));
  out.writeUInt16LE(4 + payload.length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

/** A nested attribute holding `children`. */
export const nested = (type: number, children: Buffer[]): Buffer => attr(type | NLA_F_NESTED, Buffer.concat(children));
/** A zero-terminated string attribute. */
export const stringAttr = (type: number, s: string): Buffer => attr(type, Buffer.from(`${s}\0`));
/** A 32-bit attribute in network byte order (netlink's u32 attributes of nf_tables). */
export const u32Attr = (type: number, n: number): Buffer => attr(type, u32be(n));

/** A 32-bit value in network byte order. */
export function u32be(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0, 0);
  return b;
}

/** A verdict's NFTA_DATA_VERDICT attribute (`goto fwp_x`, `accept`, …), or undefined when not supported. */
export function verdictAttr(word: string, chain?: string): Buffer | undefined {
  if (chain === undefined) {
    const code = VERDICTS[word];
    return code === undefined ? undefined : nested(NFTA_DATA_VERDICT, [attr(NFTA_VERDICT_CODE, u32be(code))]);
  }
  const code = CHAIN_VERDICTS[word];
  if (code === undefined || chain === '' || Buffer.byteLength(chain) >= CHAIN_NAME_MAX) return undefined;
  return nested(NFTA_DATA_VERDICT, [attr(NFTA_VERDICT_CODE, u32be(code)), stringAttr(NFTA_VERDICT_CHAIN, chain)]);
}

/**
 * Writes `s` as UTF-8 at `at` of `buf` (which has room for 3 bytes a character); returns the
 * bytes written. A short ASCII text (a name, a comment) goes byte by byte: cheaper than a call
 * into the encoder, which a cold start would make ~100,000 times.
 */
export function writeText(buf: Buffer, at: number, s: string): number {
  const n = s.length;
  if (n > 64) return buf.write(s, at, 'utf8');
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return buf.write(s, at, 'utf8');
    buf[at + i] = c;
  }
  return n;
}

/**
 * Ends an attribute written in place: its header at `at` (`type`, the length up to `end`), then
 * padding; returns where the next attribute starts. @throws {AttrTooLarge} past 64 KiB.
 */
export function endAttr(buf: Buffer, at: number, end: number, type: number): number {
  const len = end - at;
  if (len > MAX_ATTR) throw new AttrTooLarge();
  // Byte by byte, as writeUInt16LE writes them, without its checks (~100,000 attributes a cold start).
  buf[at] = len & 0xff;
  buf[at + 1] = len >>> 8;
  buf[at + 2] = type & 0xff;
  buf[at + 3] = (type >>> 8) & 0xff;
  while (end & 3) buf[end++] = 0;
  return end;
}

/** A message's length (its first 4 bytes, little-endian) written at `at`, as writeUInt32LE writes it, without its checks. */
export function writeMessageLength(buf: Buffer, at: number, length: number): void {
  buf[at] = length & 0xff;
  buf[at + 1] = (length >>> 8) & 0xff;
  buf[at + 2] = (length >>> 16) & 0xff;
  buf[at + 3] = length >>> 24;
}

/** A zero-terminated string attribute written at `at`; returns where the next attribute starts. */
export function writeStringAttr(buf: Buffer, at: number, type: number, s: string): number {
  const end = at + 4 + writeText(buf, at + 4, s);
  buf[end] = 0;
  return endAttr(buf, at, end + 1, type);
}

/** A 32-bit attribute in network byte order written at `at`; returns where the next attribute starts. */
export function writeU32Attr(buf: Buffer, at: number, type: number, n: number): number {
  // Big-endian byte by byte, as writeInt32BE(n | 0) writes it, without its checks.
  buf[at + 4] = (n >>> 24) & 0xff;
  buf[at + 5] = (n >>> 16) & 0xff;
  buf[at + 6] = (n >>> 8) & 0xff;
  buf[at + 7] = n & 0xff;
  return endAttr(buf, at, at + 8, type);
}

/** Writes a message's header and nfgenmsg (20 bytes) at the start of `out`, whose length is the message's. */
function writeHeader(out: Buffer, type: number, flags: number, seq: number, family: number, resId: number): void {
  out.writeUInt32LE(out.length, 0);
  out.writeUInt16LE(type, 4);
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(seq, 8);
  out.writeUInt32LE(0, 12);
  out.writeUInt8(family, 16);
  out.writeUInt8(0, 17);
  out.writeUInt16BE(resId, 18);
}

/** One netlink message: header, nfgenmsg, attributes. */
export function message(type: number, flags: number, seq: number, family: number, resId: number, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const out = Buffer.alloc(16 + 4 + body.length);
  writeHeader(out, type, flags, seq, family, resId);
  body.copy(out, 20);
  return out;
}

/**
 * Writes one nf_tables message of an `inet` table attribute by attribute into one buffer (the
 * same bytes as {@link nftMessage} of {@link attr}s, without a buffer per attribute: a cold
 * start's sets hold thousands of elements). `bound` must cover the message. (A rule or a chain is
 * written in place into a batch: netlink-rule.ts `writeRuleAt`, netlink-batch.ts `writeChainAt`.)
 */
export class MessageWriter {
  readonly #buf: Buffer;
  #pos = 20;

  /** Writes into a new buffer of `bound` bytes. */
  constructor(bound: number) {
    this.#buf = Buffer.allocUnsafe(bound);
  }

  /** Starts an attribute; returns where, for {@link close}. */
  open(type: number): number {
    const at = this.#pos;
    const buf = this.#buf;
    buf[at + 2] = type & 0xff;
    buf[at + 3] = (type >>> 8) & 0xff;
    this.#pos += 4;
    return at;
  }

  /** Ends the attribute started at `at`: its length, then padding. @throws {AttrTooLarge} past 64 KiB. */
  close(at: number): void {
    const len = this.#pos - at;
    if (len > MAX_ATTR) throw new AttrTooLarge();
    this.#buf[at] = len & 0xff;
    this.#buf[at + 1] = len >>> 8;
    while (this.#pos & 3) this.#buf[this.#pos++] = 0;
  }

  /** Raw bytes (attributes encoded elsewhere, or an attribute's payload). */
  raw(bytes: Buffer): void {
    bytes.copy(this.#buf, this.#pos);
    this.#pos += bytes.length;
  }

  /** A zero-terminated string attribute. */
  string(type: number, s: string): void {
    this.#pos = writeStringAttr(this.#buf, this.#pos, type, s);
  }

  /** A 32-bit attribute in network byte order. */
  u32(type: number, n: number): void {
    this.#pos = writeU32Attr(this.#buf, this.#pos, type, n);
  }

  /** The message: header and nfgenmsg, then what was written. */
  finish(type: number, flags: number): Buffer {
    const out = this.#buf.subarray(0, this.#pos);
    writeHeader(out, (NFNL_SUBSYS_NFTABLES << 8) | type, NLM_F_REQUEST | NLM_F_ACK | flags, 0, NFPROTO_INET, 0);
    return out;
  }
}

/** An nf_tables request of an `inet` table (sequence numbers are given by {@link batch}). */
export function nftMessage(type: number, flags: number, attrs: Buffer[]): Buffer {
  return message((NFNL_SUBSYS_NFTABLES << 8) | type, NLM_F_REQUEST | NLM_F_ACK | flags, 0, NFPROTO_INET, 0, attrs);
}

/**
 * `messages` (a buffer may hold several, one after the other) between batch begin and end, each
 * numbered in order: what the kernel applies all or nothing.
 */
export function batch(messages: readonly Buffer[]): Buffer {
  const all = [message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, 0, 0, NFNL_SUBSYS_NFTABLES, []), ...messages];
  all.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, 0, 0, NFNL_SUBSYS_NFTABLES, []));
  const out = Buffer.concat(all);
  for (let at = 0, seq = 1; at < out.length; at += align4(out.readUInt32LE(at)), seq++) out.writeUInt32LE(seq, at + 8);
  return out;
}

/** Batch begin and end messages (their sequence numbers do not matter to the kernel), and the bytes they add to a batch. */
export const [BATCH_BEGIN, BATCH_END] = ((b: Buffer) => [b.subarray(0, 20), b.subarray(20)] as const)(batch([]));
export const BATCH_FRAME_BYTES = BATCH_BEGIN.length + BATCH_END.length;

/**
 * Groups messages into batches of at most `maxBytes` each (framing included), in order: a batch
 * is closed when the next message would not fit it. The one place batch sizes are worked out (the
 * cold start's stream, which writes in place, frames with {@link BATCH_BEGIN}/{@link BATCH_END}).
 */
export class BatchSplitter {
  readonly #batches: Buffer[] = [];
  #messages: Buffer[] = [];
  #size = BATCH_FRAME_BYTES;

  constructor(readonly maxBytes: number) {}

  /** Appends `m` (one or more messages); false when it cannot fit even a batch of its own. */
  add(m: Buffer): boolean {
    if (m.length + BATCH_FRAME_BYTES > this.maxBytes) return false;
    if (this.#size + m.length > this.maxBytes) this.cut();
    this.#messages.push(m);
    this.#size += m.length;
    return true;
  }

  /** Closes the batch being filled (when it holds anything): what follows goes in a new one. */
  cut(): void {
    if (this.#messages.length === 0) return;
    this.#batches.push(batch(this.#messages));
    this.#messages = [];
    this.#size = BATCH_FRAME_BYTES;
  }

  /** The batches, the last one closed. */
  finish(): Buffer[] {
    this.cut();
    return this.#batches;
  }
}
