/**
 * The allocation block, Calico's `model.AllocationBlock`, and the pure operations on it.
 *
 * Stored JSON (field names as Calico writes them):
 *
 *   { "cidr": "10.0.0.0/26", "affinity": "host:n1", "affinity_claim_time": "…",
 *     "allocations": [0, null, …],            // per ordinal: null (free) or an index into attributes
 *     "unallocated": [1, 2, …],               // free ordinals, FIFO: allocate from the head, free to the tail
 *     "attributes": [{ "handle_id": "k8s-pod-network.abc", "secondary": { "node": "n1", … } }],
 *     "sequenceNumber": 1700000000000000000,  // bumped by every write
 *     "sequenceNumberForAllocation": { "0": 1700000000000000000 },
 *     "deleted": false }
 *
 * An address in cooldown (IPAMConfiguration `ipCooldownSeconds`) keeps its ordinal in
 * `allocations`, pointing at an attribute with no handle and a `releasedAt` time; it returns to
 * `unallocated` once the cooldown has passed ({@link deallocateCooled}).
 *
 * Sequence numbers are uint64 in Calico (a block starts at the creation time in nanoseconds), so
 * they are bigints here and survive a round trip exactly. Every function that changes a block
 * works on the object it is given; callers clone first ({@link cloneBlock}).
 */
import { type Cidr, cidrSize, formatCidr, parseCidr } from '../net/mod.ts';

/** Secondary attributes of an allocation (`node`, `namespace`, `pod`, `type`, …). */
export type Attributes = Record<string, string>;

/** One entry of a block's `attributes`. */
export interface AllocationAttribute {
  /** The handle that owns the addresses pointing here; absent for an address in cooldown. */
  handle_id?: string | null;
  secondary?: Attributes | null;
  /** When the addresses pointing here were released (RFC 3339); they are cooling down. */
  releasedAt?: string;
  /** Fields this version does not know, kept as they are. */
  [other: string]: unknown;
}

/** A decoded block. */
export interface AllocationBlock {
  cidr: string;
  /** `host:<node>`, or null for a block with no affinity. */
  affinity: string | null;
  affinity_claim_time?: string;
  allocations: (number | null)[];
  unallocated: number[];
  attributes: AllocationAttribute[];
  sequenceNumber: bigint;
  sequenceNumberForAllocation: Record<string, bigint>;
  deleted: boolean;
  /** Fields this version does not know, kept as they are. */
  extra: Record<string, unknown>;
}

const KNOWN = new Set([
  'cidr', 'affinity', 'affinity_claim_time', 'allocations', 'unallocated', 'attributes',
  'sequenceNumber', 'sequenceNumberForAllocation', 'deleted',
]);

/** The `host:` affinity string of a node. */
export function hostAffinity(node: string): string {
  return `host:${node}`;
}

/** The node a block is affine to, or undefined (no affinity, or a `virtual:` one). */
export function affineHost(block: AllocationBlock): string | undefined {
  return block.affinity?.startsWith('host:') ? block.affinity.slice(5) : undefined;
}

/**
 * Decodes a stored block. Sequence numbers are read as bigints (they can exceed 2^53).
 * @throws {SyntaxError|TypeError} when the text is not a block.
 */
export function decodeBlock(text: string): AllocationBlock {
  const quoted = text
    .replace(/("sequenceNumber"\s*:\s*)(\d+)/, '$1"$2"')
    .replace(/("sequenceNumberForAllocation"\s*:\s*\{)([^{}]*)\}/, (_m, head: string, body: string) => `${head}${body.replace(/("[^"]*"\s*:\s*)(\d+)/g, '$1"$2"')}}`);
  const raw = JSON.parse(quoted) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || typeof raw.cidr !== 'string' || !Array.isArray(raw.allocations)) {
    throw new TypeError('not an allocation block (cidr and allocations are required)');
  }
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) if (!KNOWN.has(k)) extra[k] = v;
  const seqMap: Record<string, bigint> = {};
  for (const [k, v] of Object.entries((raw.sequenceNumberForAllocation as Record<string, string> | null) ?? {})) {
    seqMap[k] = BigInt(v);
  }
  const block: AllocationBlock = {
    cidr: raw.cidr,
    affinity: typeof raw.affinity === 'string' ? raw.affinity : null,
    allocations: (raw.allocations as unknown[]).map((a) => (typeof a === 'number' ? a : null)),
    unallocated: Array.isArray(raw.unallocated) ? (raw.unallocated as number[]) : [],
    attributes: Array.isArray(raw.attributes) ? (raw.attributes as AllocationAttribute[]) : [],
    sequenceNumber: raw.sequenceNumber === undefined || raw.sequenceNumber === null ? 0n : BigInt(raw.sequenceNumber as string),
    sequenceNumberForAllocation: seqMap,
    deleted: raw.deleted === true,
    extra,
  };
  if (typeof raw.affinity_claim_time === 'string') block.affinity_claim_time = raw.affinity_claim_time;
  return block;
}

/**
 * Encodes a block as Calico stores it (sequence numbers as plain JSON integers). Written piece
 * by piece: the bigints are the only values JSON.stringify cannot take, and a replacer called for
 * every value of the block (then a regular expression over the text) cost every ADD's block write
 * more than the block's own text.
 */
export function encodeBlock(block: AllocationBlock): string {
  let text = `{"cidr":${JSON.stringify(block.cidr)},"affinity":${JSON.stringify(block.affinity ?? null)}`;
  if (block.affinity_claim_time !== undefined) text += `,"affinity_claim_time":${JSON.stringify(block.affinity_claim_time)}`;
  text += `,"allocations":${JSON.stringify(block.allocations)},"unallocated":${JSON.stringify(block.unallocated)},"attributes":${JSON.stringify(block.attributes)}`;
  text += `,"sequenceNumber":${block.sequenceNumber},"sequenceNumberForAllocation":{`;
  let first = true;
  for (const k in block.sequenceNumberForAllocation) {
    text += `${first ? '' : ','}${JSON.stringify(k)}:${block.sequenceNumberForAllocation[k]}`;
    first = false;
  }
  text += `},"deleted":${block.deleted === true}`;
  const extra = JSON.stringify(block.extra);
  return extra === '{}' ? `${text}}` : `${text},${extra.slice(1)}`;
}

/** A deep copy that the block operations may change freely. */
export function cloneBlock(block: AllocationBlock): AllocationBlock {
  return {
    ...block,
    allocations: [...block.allocations],
    unallocated: [...block.unallocated],
    attributes: block.attributes.map((a) => ({ ...a, ...(a.secondary ? { secondary: { ...a.secondary } } : {}) })),
    sequenceNumberForAllocation: { ...block.sequenceNumberForAllocation },
    extra: { ...block.extra },
  };
}

/** Options of {@link newBlock}. */
export interface NewBlockOptions {
  /** The affinity (`host:<node>`), or null. */
  affinity: string | null;
  /** When the affinity was claimed (RFC 3339). */
  claimTime?: string;
  /** The first sequence number: Calico uses the creation time in nanoseconds. */
  sequenceNumber: bigint;
}

/** A new, empty block over `cidr`: every ordinal free, in order. */
export function newBlock(cidr: Cidr, options: NewBlockOptions): AllocationBlock {
  const size = Number(cidrSize(cidr));
  const block: AllocationBlock = {
    cidr: formatCidr(cidr),
    affinity: options.affinity,
    allocations: new Array<number | null>(size).fill(null),
    unallocated: Array.from({ length: size }, (_, i) => i),
    attributes: [],
    sequenceNumber: options.sequenceNumber,
    sequenceNumberForAllocation: {},
    deleted: false,
    extra: {},
  };
  if (options.claimTime !== undefined) block.affinity_claim_time = options.claimTime;
  return block;
}

/** The block's CIDR, parsed. */
export function blockCidr(block: AllocationBlock): Cidr {
  const c = parseCidr(block.cidr);
  if (!c) throw new TypeError(`block has an invalid cidr ${JSON.stringify(block.cidr)}`);
  return c;
}

/** The attribute an allocated ordinal points at; undefined when the ordinal is free. */
export function attributeOf(block: AllocationBlock, ordinal: number): AllocationAttribute | undefined {
  const idx = block.allocations[ordinal];
  return idx === null || idx === undefined ? undefined : block.attributes[idx];
}

/** True when the attribute marks addresses in cooldown. */
export function isCoolingDown(attr: AllocationAttribute | undefined): boolean {
  return attr !== undefined && typeof attr.releasedAt === 'string';
}

/** The handle of an allocated ordinal (undefined when free, in cooldown or without handle). */
export function handleOf(block: AllocationBlock, ordinal: number): string | undefined {
  const attr = attributeOf(block, ordinal);
  if (!attr || isCoolingDown(attr)) return undefined;
  return typeof attr.handle_id === 'string' ? sanitizeHandle(attr.handle_id) : undefined;
}

/** Calico strips a `\r` and what follows from handles written by an old host-local migration. */
export function sanitizeHandle(handle: string): string {
  return handle.split('\r')[0]!;
}

/** The sequence number stored for an allocated ordinal (0 when the block predates them). */
export function sequenceOf(block: AllocationBlock, ordinal: number): bigint {
  return block.sequenceNumberForAllocation[String(ordinal)] ?? 0n;
}

function sameAttributes(a: Attributes | null | undefined, b: Attributes): boolean {
  const ak = Object.keys(a ?? {});
  if (ak.length !== Object.keys(b).length) return false;
  return ak.every((k) => a![k] === b[k]);
}

/** The index of an attribute with this handle and these attributes, added when there is none. */
function findOrAddAttribute(block: AllocationBlock, handle: string, secondary: Attributes): number {
  const idx = block.attributes.findIndex((a) => !isCoolingDown(a) && a.handle_id === handle && sameAttributes(a.secondary, secondary));
  if (idx >= 0) return idx;
  block.attributes.push({ handle_id: handle, secondary: { ...secondary } });
  return block.attributes.length - 1;
}

/** Who an allocation is for. */
export interface Owner {
  handle: string;
  secondary: Attributes;
}

/**
 * Allocates up to `num` free ordinals from the head of the FIFO, skipping those `isReserved`
 * says no to (they keep their place). Each gets the block's current sequence number. Returns the
 * ordinals taken (fewer than `num` when the block runs out).
 */
export function allocateOrdinals(
  block: AllocationBlock,
  num: number,
  owner: Owner,
  isReserved: (ordinal: number) => boolean = () => false,
): number[] {
  const taken: number[] = [];
  if (num <= 0) return taken;
  const kept: number[] = [];
  let attrIdx: number | undefined;
  let i = 0;
  for (; i < block.unallocated.length && taken.length < num; i++) {
    const ord = block.unallocated[i]!;
    if (block.allocations[ord] !== null || isReserved(ord)) {
      kept.push(ord);
      continue;
    }
    attrIdx ??= findOrAddAttribute(block, owner.handle, owner.secondary);
    block.allocations[ord] = attrIdx;
    block.sequenceNumberForAllocation[String(ord)] = block.sequenceNumber;
    taken.push(ord);
  }
  block.unallocated = [...kept, ...block.unallocated.slice(i)];
  return taken;
}

/** What {@link assignOrdinal} did. */
export type AssignOutcome = 'assigned' | 'taken' | 'same-handle';

/** Allocates one particular ordinal; `taken` when another handle (or a cooldown) holds it. */
export function assignOrdinal(block: AllocationBlock, ordinal: number, owner: Owner): AssignOutcome {
  if (block.allocations[ordinal] !== null && block.allocations[ordinal] !== undefined) {
    return handleOf(block, ordinal) === owner.handle ? 'same-handle' : 'taken';
  }
  block.allocations[ordinal] = findOrAddAttribute(block, owner.handle, owner.secondary);
  block.sequenceNumberForAllocation[String(ordinal)] = block.sequenceNumber;
  const at = block.unallocated.indexOf(ordinal);
  if (at >= 0) block.unallocated.splice(at, 1);
  return 'assigned';
}

/** One address to release, with the guards Calico's `ReleaseOptions` carries. */
export interface ReleaseItem {
  ordinal: number;
  /** Release only when the address still belongs to this handle. */
  handle?: string;
  /** Release only when the allocation still has this sequence number (not reallocated since). */
  sequenceNumber?: bigint;
}

/** What a release did, per ordinal, and by how much each handle's count went down. */
export interface ReleaseOutcome {
  released: number[];
  /** Already free or already cooling down. */
  notAllocated: number[];
  /** Refused: handle or sequence number did not match (the address was reallocated). */
  mismatched: number[];
  byHandle: Map<string, number>;
}

/** How an address is released: at once (cooldown 0) or marked `releasedAt` to cool down. */
export interface ReleaseTiming {
  /** The release time, RFC 3339. */
  now: string;
  cooldownSeconds: number;
}

/**
 * Releases ordinals. With a cooldown the ordinal stays allocated, pointing at a `releasedAt`
 * attribute without a handle; without one it goes back to the tail of `unallocated`.
 */
export function releaseOrdinals(block: AllocationBlock, items: ReleaseItem[], timing: ReleaseTiming): ReleaseOutcome {
  const out: ReleaseOutcome = { released: [], notAllocated: [], mismatched: [], byHandle: new Map() };
  const seen = new Set<number>();
  for (const item of items) {
    if (seen.has(item.ordinal)) continue;
    seen.add(item.ordinal);
    const attr = attributeOf(block, item.ordinal);
    if (!attr || isCoolingDown(attr)) {
      out.notAllocated.push(item.ordinal);
      continue;
    }
    const handle = handleOf(block, item.ordinal);
    if (
      (item.handle !== undefined && item.handle !== handle) ||
      (item.sequenceNumber !== undefined && item.sequenceNumber !== sequenceOf(block, item.ordinal))
    ) {
      out.mismatched.push(item.ordinal);
      continue;
    }
    out.released.push(item.ordinal);
    if (handle !== undefined) out.byHandle.set(handle, (out.byHandle.get(handle) ?? 0) + 1);
  }
  if (out.released.length === 0) return out;
  if (timing.cooldownSeconds > 0) {
    block.attributes.push({ releasedAt: timing.now });
    const cooling = block.attributes.length - 1;
    for (const ord of out.released) block.allocations[ord] = cooling;
  } else {
    for (const ord of out.released) freeOrdinal(block, ord);
  }
  pruneAttributes(block);
  return out;
}

/** Every allocated (not cooling) ordinal of a handle. */
export function ordinalsOfHandle(block: AllocationBlock, handle: string): number[] {
  const out: number[] = [];
  for (let o = 0; o < block.allocations.length; o++) if (handleOf(block, o) === handle) out.push(o);
  return out;
}

/**
 * Returns to `unallocated` every cooling address whose `releasedAt` is at least
 * `cooldownSeconds` before `nowMs`. Returns how many were freed.
 */
export function deallocateCooled(block: AllocationBlock, nowMs: number, cooldownSeconds: number): number {
  let freed = 0;
  for (let o = 0; o < block.allocations.length; o++) {
    const attr = attributeOf(block, o);
    if (!attr || !isCoolingDown(attr)) continue;
    const at = Date.parse(attr.releasedAt!);
    if (Number.isNaN(at) || nowMs - at >= cooldownSeconds * 1000) {
      freeOrdinal(block, o);
      freed++;
    }
  }
  if (freed > 0) pruneAttributes(block);
  return freed;
}

/** The earliest `releasedAt` of the block's cooling addresses (ms), or undefined. */
export function earliestRelease(block: AllocationBlock): number | undefined {
  let min: number | undefined;
  for (const a of block.attributes) {
    if (!isCoolingDown(a)) continue;
    const at = Date.parse(a.releasedAt!);
    if (!Number.isNaN(at) && (min === undefined || at < min)) min = at;
  }
  return min;
}

function freeOrdinal(block: AllocationBlock, ordinal: number): void {
  block.allocations[ordinal] = null;
  delete block.sequenceNumberForAllocation[String(ordinal)];
  block.unallocated.push(ordinal);
}

/** Drops attributes no ordinal points at and renumbers the rest. */
export function pruneAttributes(block: AllocationBlock): void {
  const used = new Set<number>();
  for (const a of block.allocations) if (a !== null) used.add(a);
  if (used.size === block.attributes.length) return;
  const remap = new Map<number, number>();
  const kept: AllocationAttribute[] = [];
  block.attributes.forEach((attr, i) => {
    if (!used.has(i)) return;
    remap.set(i, kept.length);
    kept.push(attr);
  });
  block.attributes = kept;
  block.allocations = block.allocations.map((a) => (a === null ? null : remap.get(a) ?? null));
}

/** The number of allocated ordinals (cooling ones included). */
export function allocatedCount(block: AllocationBlock): number {
  let n = 0;
  for (const a of block.allocations) if (a !== null) n++;
  return n;
}

/** True when no ordinal is allocated (a cooling address keeps the block from being empty). */
export function isEmptyBlock(block: AllocationBlock): boolean {
  return block.allocations.every((a) => a === null);
}

/**
 * A host's blocks are running low when their free addresses are at most a quarter of a block
 * (`blockSize`, its largest): the agent's IPAM then claims the next block ahead of need
 * (allocate.ts, IpamOptions.claimAhead), and the GC keeps one empty block of such a host as
 * that spare (controllers/ipam-gc/decide.ts).
 */
export function runningLow(free: number, blockSize: number): boolean {
  return free <= blockSize / 4;
}

/** Free ordinals that `isReserved` does not hold back. */
export function freeCount(block: AllocationBlock, isReserved: (ordinal: number) => boolean = () => false): number {
  let n = 0;
  for (const o of block.unallocated) if (block.allocations[o] === null && !isReserved(o)) n++;
  return n;
}

/** How many addresses each handle holds in the block (cooling addresses belong to no handle). */
export function handleCounts(block: AllocationBlock): Map<string, number> {
  const counts = new Map<string, number>();
  for (let o = 0; o < block.allocations.length; o++) {
    const h = handleOf(block, o);
    if (h !== undefined) counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  return counts;
}

/**
 * What is wrong with a block's internal structure, as sentences (empty when it is sound):
 * size, attribute indexes, every ordinal exactly once in either `allocations` or `unallocated`,
 * sequence numbers of allocated ordinals, the CIDR against the key.
 */
export function blockProblems(block: AllocationBlock, expected?: Cidr): string[] {
  const problems: string[] = [];
  const cidr = parseCidr(block.cidr);
  if (!cidr) return [`cidr ${JSON.stringify(block.cidr)} is not a CIDR`];
  if (expected && (expected.family !== cidr.family || expected.base !== cidr.base || expected.prefix !== cidr.prefix)) {
    problems.push(`cidr ${block.cidr} does not match its key (${formatCidr(expected)})`);
  }
  const size = Number(cidrSize(cidr));
  if (block.allocations.length !== size) {
    problems.push(`allocations has ${block.allocations.length} entries, a /${cidr.prefix} has ${size} addresses`);
  }
  block.allocations.forEach((a, o) => {
    if (a !== null && (!Number.isInteger(a) || a < 0 || a >= block.attributes.length)) {
      problems.push(`ordinal ${o} points at attribute ${a}, which does not exist`);
    }
  });
  const free = new Set<number>();
  for (const o of block.unallocated) {
    if (!Number.isInteger(o) || o < 0 || o >= size) problems.push(`unallocated lists ordinal ${o}, outside the block`);
    else if (free.has(o)) problems.push(`unallocated lists ordinal ${o} twice`);
    else if (block.allocations[o] !== null) problems.push(`ordinal ${o} is both allocated and unallocated`);
    free.add(o);
  }
  for (let o = 0; o < Math.min(size, block.allocations.length); o++) {
    if (block.allocations[o] === null && !free.has(o)) problems.push(`ordinal ${o} is neither allocated nor unallocated (lost)`);
  }
  const referenced = new Set(block.allocations.filter((a): a is number => a !== null));
  block.attributes.forEach((_a, i) => {
    if (!referenced.has(i)) problems.push(`attribute ${i} is not used by any ordinal`);
  });
  return problems;
}
