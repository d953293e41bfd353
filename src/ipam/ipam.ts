/**
 * Block IPAM on the Datastore, with Calico's semantics and etcd layout. One `Ipam` per process;
 * it may serve many concurrent requests (a host's agent serving its CNI requests, a controller).
 *
 * ```ts
 * const ipam = new Ipam(datastore);
 * const { ipv4 } = await ipam.autoAssign({ handle: 'k8s-pod-network.abc', node: 'n1', num4: 1,
 *   attrs: { namespace: 'default', pod: 'web-0' } });
 * await ipam.releaseByHandle('k8s-pod-network.abc');
 * ```
 *
 * Allocation order for one family: the node's own confirmed blocks; then a newly claimed block
 * (while the node has fewer than `maxBlocksPerHost`, and `autoAllocateBlocks` is on); then,
 * unless `strictAffinity`, free addresses in other hosts' blocks. A request that cannot be met in
 * full allocates nothing (what it took is released) and fails with a MargayError.
 */
import { ipamConfigurationKind } from '../api/kinds/ipam-configuration.ts';
import { validateResource } from '../api/validate.ts';
import { setTimeout as delay } from 'node:timers/promises';
import type { Datastore } from '../datastore/datastore.ts';
import { ResourceStore } from '../datastore/resources.ts';
import { MargayError } from '../errors/mod.ts';
import type { Labels } from '../selector/mod.ts';
import {
  type AffinityDeps,
  type AffinityReleaseOutcome,
  claimBlock,
  confirmAffinity,
  deleteEmptyUnaffineBlock,
  releaseBlockAffinity,
} from './affinity-ops.ts';
import { decodeAffinity } from './affinity.ts';
import { whyNotAssignable } from './assignable.ts';
import {
  type AllocationBlock,
  type Attributes,
  affineHost,
  attributeOf,
  decodeBlock,
  freeCount,
  handleOf,
  isCoolingDown,
  isEmptyBlock,
  ordinalsOfHandle,
  sequenceOf,
} from './block.ts';
import { BlockWriter } from './block-writer.ts';
import { blockLimit, encodeConfigRecord, type IpamConfig } from './config.ts';
import { type AllocContext, loadConfig, loadContext, loadPools } from './context.ts';
import { decodeHandle } from './handle.ts';
import { blockKey, blockPrefix, handleKey, hostAffinityPrefix, IPAM_CONFIG_KEY, parseAffinityKey, parseBlockKey } from './keys.ts';
import {
  type Cidr,
  type Family,
  type Ip,
  blockOf,
  cidrContainsCidr,
  cidrContainsIp,
  formatCidr,
  formatIp,
  nthIp,
  ordinalOf,
  parseCidr,
  parseIp,
} from './net.ts';
import {
  type IpUse,
  type PoolInfo,
  candidateBlocks,
  fnv32,
  poolOf,
  poolOfBlock,
  reservationOf,
  reservedOrdinals,
  selectPools,
  wholeBlockReserved,
} from './pools.ts';
import { backoffMs, DEFAULT_MAX_RETRIES } from './retry.ts';
import { SingleFlight } from './single-flight.ts';
import { readSnapshot, type IpamSnapshot } from './snapshot.ts';

/** Options of {@link Ipam}. */
export interface IpamOptions {
  /** Waits between retries (a real, process-holding timer by default). */
  sleep?: (ms: number) => Promise<void>;
  /** Wall-clock time: claim times, `releasedAt`, cooldowns, first sequence numbers. */
  now?: () => Date;
  /** Random numbers in [0, 1) for backoff jitter. */
  random?: () => number;
  /** Bound on conflicting writes per operation (Calico: 100). */
  maxRetries?: number;
  /** Most requests one block write carries (1–100, default 64). */
  maxBatch?: number;
}

/** An automatic assignment request. */
export interface AutoAssignRequest {
  /** Owner of the addresses: `<network>.<containerID>` for CNI, `ipip-tunnel-addr-<node>` for tunnels. */
  handle: string;
  /** The node the workload runs on (blocks are claimed for it). */
  node: string;
  /** IPv4 addresses wanted (default 0). */
  num4?: number;
  /** IPv6 addresses wanted (default 0). */
  num6?: number;
  /** Secondary attributes (`namespace`, `pod`, `type`, …); `node` is added. */
  attrs?: Attributes;
  /** Only these IPv4 pools (names or CIDRs). */
  pools4?: string[];
  /** Only these IPv6 pools (names or CIDRs). */
  pools6?: string[];
  /** What the addresses are for (default Workload). */
  use?: IpUse;
  /** Labels of the workload's namespace, for pools with a namespaceSelector. */
  namespaceLabels?: Labels;
  /** A lower block limit for this request (the configuration's applies when lower or unset). */
  maxBlocksPerHost?: number;
}

/** One assigned address. */
export interface AssignedAddress {
  /** The address (`10.0.0.5`). */
  address: string;
  /** The address with its block's prefix (`10.0.0.5/26`), as Calico's AutoAssign returns it. */
  cidr: string;
  /** The block (`10.0.0.0/26`). */
  block: string;
  /** The pool's name. */
  pool: string;
  /** True when the block is affine to another host (a borrowed address). */
  borrowed: boolean;
  /** The allocation's sequence number (pass it to a release to guard against reuse). */
  sequenceNumber: bigint;
}

/** The result of {@link Ipam.autoAssign}. */
export interface AutoAssignResult {
  ipv4: AssignedAddress[];
  ipv6: AssignedAddress[];
}

/** A request for one particular address. */
export interface AssignIpRequest {
  ip: string;
  handle: string;
  node: string;
  attrs?: Attributes;
  /** When set, the pool must allow this use. */
  use?: IpUse;
}

/** One address to release, with optional guards. */
export interface ReleaseRequest {
  ip: string;
  /** Release only while the address belongs to this handle. */
  handle?: string;
  /** Release only while the allocation has this sequence number. */
  sequenceNumber?: bigint;
}

/** The result of {@link Ipam.releaseIps}. */
export interface ReleaseIpsResult {
  released: string[];
  /** Not allocated (already free, cooling down, outside every block). */
  notAllocated: string[];
  /** Left alone: the handle or sequence number did not match (reallocated since). */
  mismatched: string[];
}

/** Who holds an address. */
export interface AssignmentInfo {
  address: string;
  block: string;
  /** The block's affinity (`host:n1`), or null. */
  affinity: string | null;
  /** The handle; undefined while the address cools down. */
  handle: string | undefined;
  attributes: Attributes;
  sequenceNumber: bigint;
  /** Set while the address cools down after a release. */
  releasedAt?: string;
}

/** What block lookups of one call have found: block existence by CIDR, and block lists by family. */
interface BlockLookups {
  exists: Map<string, boolean>;
  listed: { 4?: Cidr[]; 6?: Cidr[] };
}

function newLookups(): BlockLookups {
  return { exists: new Map(), listed: {} };
}

const NAME = /^[^/\s]+$/;

function checkName(what: string, value: unknown): void {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new MargayError('MARGAY_ERR_VALIDATION', `${what} must be a non-empty string without "/" or spaces (got ${JSON.stringify(value)})`);
  }
}

function checkCount(what: string, value: number | undefined): number {
  const n = value ?? 0;
  if (!Number.isInteger(n) || n < 0) throw new MargayError('MARGAY_ERR_VALIDATION', `${what} must be a whole number ≥ 0 (got ${String(value)})`);
  return n;
}

function familyName(family: Family): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}

/** What {@link Ipam.canAssign} asks. */
export interface CanAssignRequest {
  node: string;
  families: Family[];
  /** Pool names or CIDRs to choose from, as in {@link AutoAssignRequest}. */
  pools4?: string[];
  pools6?: string[];
  /** Default `Workload`. */
  use?: IpUse;
}

/** What an autoAssign reads before it writes: the context and the node's IPv4 and IPv6 blocks. */
type AssignReads = [AllocContext, Cidr[] | undefined, Cidr[] | undefined];

/** How long prefetched reads may wait for their autoAssign. */
const PREFETCH_VALID_MS = 1000;

function prefetchKey(node: string, num4: number, num6: number): string {
  return `${node}|${num4 > 0 ? 4 : ''}|${num6 > 0 ? 6 : ''}`;
}

/** Block IPAM. See the module comment. */
export class Ipam {
  readonly datastore: Datastore;
  readonly #store: ResourceStore;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #now: () => Date;
  readonly #random: () => number;
  readonly #maxRetries: number;
  readonly #maxBatch: number;
  readonly #writers = new Map<string, BlockWriter>();
  readonly #contexts = new SingleFlight<AllocContext>();
  readonly #hostBlocks = new SingleFlight<Cidr[]>();
  readonly #claims = new SingleFlight<Cidr | undefined>();
  /** Reads started by {@link prefetch}, by node and families, each for one autoAssign soon after. */
  readonly #prefetched = new Map<string, { at: number; reads: Promise<AssignReads> }>();
  #cooldownSeconds = 0;

  constructor(datastore: Datastore, options: IpamOptions = {}) {
    this.datastore = datastore;
    this.#store = new ResourceStore(datastore);
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.#now = options.now ?? (() => new Date());
    this.#random = options.random ?? Math.random;
    this.#maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.#maxBatch = Math.max(1, Math.min(100, options.maxBatch ?? 64));
  }

  // ---- allocation ----------------------------------------------------------------------------

  /**
   * Assigns `num4` IPv4 and `num6` IPv6 addresses to `handle` on `node`. All or nothing.
   * @throws {MargayError} MARGAY_ERR_POOL_EXHAUSTED, MARGAY_ERR_NO_POOL, MARGAY_ERR_VALIDATION,
   *   MARGAY_ERR_CONFLICT (contention beyond maxRetries), datastore errors.
   */
  async autoAssign(req: AutoAssignRequest): Promise<AutoAssignResult> {
    checkName('handle', req.handle);
    checkName('node', req.node);
    const num4 = checkCount('num4', req.num4);
    const num6 = checkCount('num6', req.num6);
    const taken: AssignedAddress[] = [];
    const result: AutoAssignResult = { ipv4: [], ipv6: [] };
    try {
      // Settings, pools and the node's blocks are read together, once per request.
      const [ctx, affine4, affine6] = await (this.#takePrefetched(req.node, num4, num6) ?? this.#assignReads(req.node, num4, num6));
      if (num4 > 0) result.ipv4 = await this.#assignFamily(req, ctx, 4, num4, affine4!, taken);
      if (num6 > 0) result.ipv6 = await this.#assignFamily(req, ctx, 6, num6, affine6!, taken);
      return result;
    } catch (err) {
      await this.#rollback(req.handle, taken);
      throw err;
    }
  }

  /**
   * Starts the reads an {@link autoAssign} for `node` begins with (settings, pools, reservations,
   * the node's blocks), for a caller that must do one more read first (the CNI looks for the
   * handle's addresses): the next autoAssign for `node` with the same families, within a second,
   * uses them instead of reading again. Each prefetch serves one autoAssign; every write still
   * compares and swaps, so reads that are a round trip older change no outcome's safety.
   */
  prefetch(node: string, num4: number, num6: number): void {
    const key = prefetchKey(node, num4, num6);
    const reads = this.#assignReads(node, num4, num6);
    reads.catch(() => undefined); // the autoAssign that takes it sees the failure
    this.#prefetched.set(key, { at: this.#now().getTime(), reads });
  }

  #takePrefetched(node: string, num4: number, num6: number): Promise<AssignReads> | undefined {
    const key = prefetchKey(node, num4, num6);
    const entry = this.#prefetched.get(key);
    this.#prefetched.delete(key);
    return entry && this.#now().getTime() - entry.at < PREFETCH_VALID_MS ? entry.reads : undefined;
  }

  #assignReads(node: string, num4: number, num6: number): Promise<AssignReads> {
    return Promise.all([this.#context(node), num4 > 0 ? this.#affineBlocks(node, 4) : undefined, num6 > 0 ? this.#affineBlocks(node, 6) : undefined]);
  }

  async #assignFamily(
    req: AutoAssignRequest,
    ctx: AllocContext,
    family: Family,
    num: number,
    firstListing: Cidr[],
    taken: AssignedAddress[],
  ): Promise<AssignedAddress[]> {
    const requested = family === 4 ? req.pools4 : req.pools6;
    const pools = selectPools(ctx.pools, {
      family,
      nodeLabels: ctx.nodeLabels,
      use: req.use ?? 'Workload',
      ...(requested ? { requested } : {}),
      ...(req.namespaceLabels ? { namespaceLabels: req.namespaceLabels } : {}),
    });
    const owner = { handle: req.handle, secondary: { ...(req.attrs ?? {}), node: req.node } };
    const got: AssignedAddress[] = [];
    const limit = blockLimit(ctx.config, req.maxBlocksPerHost);
    let reason = '';
    const take = async (cidr: Cidr, requireHost: string | undefined): Promise<void> => {
      const pool = poolOfBlock(pools, cidr);
      if (!pool) return;
      const r = await this.#writer(cidr).alloc(num - got.length, owner, {
        ...(requireHost === undefined ? {} : { requireHost }),
        isReserved: reservedOrdinals(ctx.reservations, cidr),
      });
      for (const o of r.ordinals) {
        const a = this.#assigned(cidr, o, pool, r.affinity, req.node, r.sequenceNumber);
        got.push(a);
        taken.push(a);
      }
    };

    const claimedHere: Cidr[] = [];
    for (let round = 0; got.length < num && round < limit + 3; round++) {
      // A block claimed by this request (or the claim it joined) counts even if the listing
      // below started before the claim was written.
      const listed = round === 0 ? firstListing : await this.#affineBlocks(req.node, family);
      const mine = this.#byKnownRoom(
        [...listed, ...claimedHere.filter((c) => !listed.some((l) => formatCidr(l) === formatCidr(c)))],
        ctx,
      );
      for (const cidr of mine) {
        if (got.length >= num) break;
        await take(cidr, req.node);
      }
      if (got.length >= num) break;
      if (!ctx.config.autoAllocateBlocks) {
        reason = 'autoAllocateBlocks is false';
        break;
      }
      if (mine.length >= limit) {
        reason = `node "${req.node}" has reached maxBlocksPerHost (${limit} ${familyName(family)} blocks)`;
        break;
      }
      const poolKey = pools.map((p) => p.name).join(',');
      const claimed = await this.#claims.run(`${req.node}|${family}|${poolKey}`, () => this.#claimNewBlock(req.node, family, pools, ctx));
      if (!claimed) {
        reason = 'no unclaimed block is left';
        break;
      }
      claimedHere.push(claimed);
    }
    if (got.length < num && !ctx.config.strictAffinity) {
      for (const cidr of await this.#borrowable(req.node, family, pools, ctx)) {
        if (got.length >= num) break;
        await take(cidr, undefined);
      }
    }
    if (got.length < num) {
      const names = pools.map((p) => `${p.name} (${formatCidr(p.cidr)})`).join(', ');
      const strict = ctx.config.strictAffinity ? '; strictAffinity forbids borrowing from other hosts' : '';
      throw new MargayError(
        'MARGAY_ERR_POOL_EXHAUSTED',
        `no free ${familyName(family)} address for node "${req.node}" in ${names}: ${reason || 'every block is full'}${strict} (wanted ${num}, found ${got.length})`,
      );
    }
    return got;
  }

  /**
   * Blocks with room (or not known to be full) first, blocks this process last saw full after
   * them: a full block costs a read only when the others could not serve the request.
   */
  #byKnownRoom(blocks: Cidr[], ctx: AllocContext): Cidr[] {
    const full: Cidr[] = [];
    const rest: Cidr[] = [];
    for (const c of blocks) (this.#writer(c).knownFree(reservedOrdinals(ctx.reservations, c)) === 0 ? full : rest).push(c);
    return [...rest, ...full];
  }

  #assigned(cidr: Cidr, ordinal: number, pool: PoolInfo, affinity: string | null, node: string, seq: bigint): AssignedAddress {
    const address = formatIp(nthIp(cidr, ordinal));
    return {
      address,
      cidr: `${address}/${cidr.prefix}`,
      block: formatCidr(cidr),
      pool: pool.name,
      borrowed: affinity !== `host:${node}`,
      sequenceNumber: seq,
    };
  }

  /**
   * Could `autoAssign` give `node` an address of each family now (CNI STATUS)? Judged from the
   * pools, the settings and one listing of the blocks, in the allocator's order (assignable.ts);
   * writes nothing.
   */
  async canAssign(req: CanAssignRequest): Promise<{ ok: true } | { ok: false; reason: string }> {
    checkName('node', req.node);
    const ctx = await this.#context(req.node);
    for (const family of req.families) {
      const requested = family === 4 ? req.pools4 : req.pools6;
      let pools: PoolInfo[];
      try {
        pools = selectPools(ctx.pools, { family, nodeLabels: ctx.nodeLabels, use: req.use ?? 'Workload', ...(requested ? { requested } : {}) });
      } catch (err) {
        if (err instanceof MargayError) return { ok: false, reason: err.message };
        throw err;
      }
      const why = whyNotAssignable(ctx, pools, (await this.#listBlocks(family)).values(), req.node, family);
      if (why !== undefined) return { ok: false, reason: why };
    }
    return { ok: true };
  }

  async #rollback(handle: string, taken: AssignedAddress[]): Promise<void> {
    if (taken.length === 0) return;
    try {
      await this.releaseIps(taken.map((a) => ({ ip: a.address, handle, sequenceNumber: a.sequenceNumber })));
    } catch {
      // Best effort: the controllers' GC releases what a failed rollback leaves (no workload uses it).
    }
  }

  /**
   * Assigns one particular address. When its block does not exist yet, the block is claimed for
   * `node` first. Assigning an address the handle already holds succeeds and changes nothing.
   * @throws {MargayError} MARGAY_ERR_NO_POOL (outside every pool, pool disabled or not for this
   *   use), MARGAY_ERR_ADDRESS_RESERVED, MARGAY_ERR_ADDRESS_IN_USE, MARGAY_ERR_STRICT_AFFINITY.
   */
  async assignIp(req: AssignIpRequest): Promise<AssignedAddress> {
    checkName('handle', req.handle);
    checkName('node', req.node);
    const ip = parseIp(req.ip);
    if (!ip) throw new MargayError('MARGAY_ERR_VALIDATION', `${JSON.stringify(req.ip)} is not an IP address`);
    const address = formatIp(ip);
    const ctx = await this.#context(req.node);
    const pool = poolOf(ctx.pools, ip);
    if (!pool) throw new MargayError('MARGAY_ERR_NO_POOL', `${address} is not in any IP pool`);
    if (pool.disabled) throw new MargayError('MARGAY_ERR_NO_POOL', `${address} is in IP pool "${pool.name}", which is disabled`);
    if (req.use && !pool.allowedUses.includes(req.use)) {
      throw new MargayError('MARGAY_ERR_NO_POOL', `IP pool "${pool.name}" of ${address} does not allow ${req.use} addresses (allowedUses: ${pool.allowedUses.join(', ')})`);
    }
    const reserved = reservationOf(ctx.reservations, ip);
    if (reserved) {
      throw new MargayError('MARGAY_ERR_ADDRESS_RESERVED', `${address} is reserved by IPReservation "${reserved.name}" (${formatCidr(reserved.cidr)})`);
    }
    let cidr = blockOf(ip, pool.blockPrefix);
    const existing = await this.#findBlock(ip, [pool]);
    if (existing) cidr = existing;
    else {
      const outcome = await claimBlock(this.#affinityDeps(), req.node, cidr);
      if (outcome === 'taken') this.#writer(cidr).invalidate();
    }
    const owner = { handle: req.handle, secondary: { ...(req.attrs ?? {}), node: req.node } };
    const ordinal = ordinalOf(cidr, ip)!;
    const r = await this.#writer(cidr).assign(ordinal, owner, ctx.config.strictAffinity ? req.node : undefined);
    switch (r.outcome) {
      case 'assigned':
      case 'same-handle':
        return this.#assigned(cidr, ordinal, pool, r.affinity, req.node, r.sequenceNumber);
      case 'taken':
        throw new MargayError('MARGAY_ERR_ADDRESS_IN_USE', `${address} is already assigned${r.holder ? ` (handle ${r.holder})` : ' (cooling down after a release)'}`);
      case 'affinity-mismatch':
        throw new MargayError(
          'MARGAY_ERR_STRICT_AFFINITY',
          `block ${formatCidr(cidr)} of ${address} is ${r.affinity ? `affine to ${r.affinity}` : 'not affine to any host'} and strictAffinity is true`,
        );
      case 'gone':
        throw new MargayError('MARGAY_ERR_CONFLICT', `block ${formatCidr(cidr)} of ${address} was deleted while assigning; try again`);
    }
  }

  // ---- release -------------------------------------------------------------------------------

  /**
   * Releases addresses (text, or with handle and sequence-number guards). Idempotent: an address
   * already free is reported in `notAllocated`. With `ipCooldownSeconds`, released addresses cool
   * down before they can be handed out again.
   */
  async releaseIps(ips: (string | ReleaseRequest)[]): Promise<ReleaseIpsResult> {
    const out: ReleaseIpsResult = { released: [], notAllocated: [], mismatched: [] };
    if (ips.length === 0) return out;
    await this.getConfig();
    const pools = await loadPools(this.#store);
    const byBlock = new Map<string, { cidr: Cidr; items: { ordinal: number; handle?: string; sequenceNumber?: bigint }[] }>();
    const seen = newLookups();
    for (const item of ips) {
      const req: ReleaseRequest = typeof item === 'string' ? { ip: item } : item;
      const ip = parseIp(req.ip);
      if (!ip) throw new MargayError('MARGAY_ERR_VALIDATION', `${JSON.stringify(req.ip)} is not an IP address`);
      const cidr = await this.#findBlock(ip, pools, seen);
      if (!cidr) {
        out.notAllocated.push(formatIp(ip));
        continue;
      }
      const k = formatCidr(cidr);
      const group = byBlock.get(k) ?? { cidr, items: [] };
      group.items.push({
        ordinal: ordinalOf(cidr, ip)!,
        ...(req.handle === undefined ? {} : { handle: req.handle }),
        ...(req.sequenceNumber === undefined ? {} : { sequenceNumber: req.sequenceNumber }),
      });
      byBlock.set(k, group);
    }
    await Promise.all(
      [...byBlock.values()].map(async ({ cidr, items }) => {
        const r = await this.#writer(cidr).release(items);
        const text = (o: number): string => formatIp(nthIp(cidr, o));
        out.released.push(...r.released.map(text));
        out.notAllocated.push(...r.notAllocated.map(text));
        out.mismatched.push(...r.mismatched.map(text));
      }),
    );
    return out;
  }

  /** Releases every address of a handle, and the handle. Idempotent: an unknown handle releases nothing. */
  async releaseByHandle(handle: string): Promise<string[]> {
    checkName('handle', handle);
    await this.getConfig();
    const kv = await this.datastore.get(handleKey(handle));
    if (!kv) return [];
    const record = decodeHandle(kv.value);
    const released: string[] = [];
    let gone = false;
    await Promise.all(
      Object.keys(record.block).map(async (text) => {
        const cidr = parseCidr(text);
        if (!cidr) return;
        const r = await this.#writer(cidr).releaseHandle(handle);
        gone ||= r.gone || r.released.length === 0;
        released.push(...r.released.map((o) => formatIp(nthIp(cidr, o))));
      }),
    );
    if (gone) await this.#dropStaleHandle(handle);
    return released;
  }

  /** Deletes a handle record that counts addresses its blocks no longer hold for it. */
  async #dropStaleHandle(handle: string): Promise<void> {
    const kv = await this.datastore.get(handleKey(handle));
    if (!kv) return;
    const record = decodeHandle(kv.value);
    for (const text of Object.keys(record.block)) {
      const cidr = parseCidr(text);
      const bkv = cidr && (await this.datastore.get(blockKey(cidr)));
      if (bkv && ordinalsOfHandle(decodeBlock(bkv.value), handle).length > 0) return;
    }
    try {
      await this.datastore.delete(handleKey(handle), kv.modRevision);
    } catch {
      // Changed meanwhile: someone allocated for it again.
    }
  }

  // ---- queries -------------------------------------------------------------------------------

  /** The addresses a handle holds. */
  async ipsByHandle(handle: string): Promise<string[]> {
    checkName('handle', handle);
    const kv = await this.datastore.get(handleKey(handle));
    if (!kv) return [];
    const out: string[] = [];
    for (const text of Object.keys(decodeHandle(kv.value).block)) {
      const cidr = parseCidr(text);
      const bkv = cidr && (await this.datastore.get(blockKey(cidr)));
      if (!cidr || !bkv) continue;
      for (const o of ordinalsOfHandle(decodeBlock(bkv.value), handle)) out.push(formatIp(nthIp(cidr, o)));
    }
    return out;
  }

  /** Who holds an address; undefined when it is free or in no block. */
  async getAssignmentAttributes(ipText: string): Promise<AssignmentInfo | undefined> {
    const ip = parseIp(ipText);
    if (!ip) throw new MargayError('MARGAY_ERR_VALIDATION', `${JSON.stringify(ipText)} is not an IP address`);
    const cidr = await this.#findBlock(ip, await loadPools(this.#store));
    if (!cidr) return undefined;
    const kv = await this.datastore.get(blockKey(cidr));
    if (!kv) return undefined;
    const block = decodeBlock(kv.value);
    const ordinal = ordinalOf(cidr, ip)!;
    const attr = attributeOf(block, ordinal);
    if (!attr) return undefined;
    const info: AssignmentInfo = {
      address: formatIp(ip),
      block: formatCidr(cidr),
      affinity: block.affinity,
      handle: handleOf(block, ordinal),
      attributes: { ...(attr.secondary ?? {}) },
      sequenceNumber: sequenceOf(block, ordinal),
    };
    if (isCoolingDown(attr)) info.releasedAt = attr.releasedAt!;
    return info;
  }

  /** The whole IPAM state at one revision (for `ipam show`/`check` and the controllers). */
  snapshot(): Promise<IpamSnapshot> {
    return readSnapshot(this.datastore);
  }

  // ---- affinities ----------------------------------------------------------------------------

  /**
   * Claims for `node` every block of the pools inside `cidr` (Calico's ClaimAffinity). Blocks
   * other hosts own are reported in `failed`.
   */
  async claimAffinity(options: { cidr: string; node: string }): Promise<{ claimed: string[]; failed: string[] }> {
    checkName('node', options.node);
    const range = parseCidr(options.cidr);
    if (!range) throw new MargayError('MARGAY_ERR_VALIDATION', `${JSON.stringify(options.cidr)} is not a CIDR`);
    const pools = (await loadPools(this.#store)).filter((p) => p.cidr.family === range.family && (cidrContainsCidr(p.cidr, range) || cidrContainsCidr(range, p.cidr)));
    if (pools.length === 0) throw new MargayError('MARGAY_ERR_NO_POOL', `${formatCidr(range)} is not in any IP pool`);
    const out = { claimed: [] as string[], failed: [] as string[] };
    for (const pool of pools) {
      if (range.prefix > pool.blockPrefix) throw new MargayError('MARGAY_ERR_VALIDATION', `${formatCidr(range)} is smaller than a block of pool "${pool.name}" (/${pool.blockPrefix})`);
      const start = cidrContainsCidr(pool.cidr, range) ? range : pool.cidr;
      const count = 1n << BigInt(pool.blockPrefix - start.prefix);
      const step = 1n << BigInt((range.family === 4 ? 32 : 128) - pool.blockPrefix);
      if (count > 4096n) throw new MargayError('MARGAY_ERR_VALIDATION', `${formatCidr(start)} holds ${count} blocks; claim at most 4096 at once`);
      for (let i = 0n; i < count; i++) {
        const cidr: Cidr = { family: range.family, base: start.base + i * step, prefix: pool.blockPrefix };
        const outcome = await claimBlock(this.#affinityDeps(), options.node, cidr);
        (outcome === 'taken' ? out.failed : out.claimed).push(formatCidr(cidr));
      }
    }
    return out;
  }

  /** Gives up a host's affinity to one block (atomically with the block; see affinity-ops.ts). */
  async releaseAffinity(options: { cidr: string; node: string; requireEmpty?: boolean; requiredSequenceNumber?: bigint }): Promise<AffinityReleaseOutcome> {
    checkName('node', options.node);
    const cidr = parseCidr(options.cidr);
    if (!cidr) throw new MargayError('MARGAY_ERR_VALIDATION', `${JSON.stringify(options.cidr)} is not a CIDR`);
    const outcome = await releaseBlockAffinity(this.#affinityDeps(), { ...options, cidr });
    this.#writer(cidr).invalidate();
    return outcome;
  }

  /** Gives up every affinity of a host (with `requireEmpty`, only those of empty blocks). */
  async releaseHostAffinities(node: string, options: { requireEmpty?: boolean } = {}): Promise<{ released: string[]; kept: string[] }> {
    checkName('node', node);
    const out = { released: [] as string[], kept: [] as string[] };
    for (const family of [4, 6] as const) {
      const { items } = await this.datastore.list(hostAffinityPrefix(node, family));
      for (const kv of items) {
        const parsed = parseAffinityKey(kv.key);
        if (!parsed) continue;
        const r = await releaseBlockAffinity(this.#affinityDeps(), { node, cidr: parsed.cidr, requireEmpty: options.requireEmpty ?? false });
        this.#writer(parsed.cidr).invalidate();
        (r === 'not-empty' || r === 'changed' ? out.kept : out.released).push(formatCidr(parsed.cidr));
      }
    }
    return out;
  }

  /** Frees the addresses of a block whose cooldown is over (the controllers' backstop for idle blocks). */
  async deallocateCooled(blockCidr: string): Promise<number> {
    const cidr = parseCidr(blockCidr);
    if (!cidr) throw new MargayError('MARGAY_ERR_VALIDATION', `${JSON.stringify(blockCidr)} is not a CIDR`);
    await this.getConfig();
    return (await this.#writer(cidr).deallocateCooled()).freed;
  }

  // ---- configuration -------------------------------------------------------------------------

  /** The effective settings. */
  async getConfig(): Promise<IpamConfig> {
    const config = await loadConfig(this.#store);
    this.#cooldownSeconds = config.ipCooldownSeconds;
    return config;
  }

  /**
   * Changes settings: writes the v2 record (compare-and-swap) and, when a v3 `default`
   * IPAMConfiguration exists, updates it too so that the two agree.
   */
  async setConfig(patch: Partial<Pick<IpamConfig, 'strictAffinity' | 'maxBlocksPerHost' | 'autoAllocateBlocks'>>): Promise<IpamConfig> {
    if (patch.maxBlocksPerHost !== undefined && (!Number.isInteger(patch.maxBlocksPerHost) || patch.maxBlocksPerHost < 0)) {
      throw new MargayError('MARGAY_ERR_VALIDATION', `maxBlocksPerHost must be a whole number ≥ 0 (got ${patch.maxBlocksPerHost})`);
    }
    for (let attempt = 0; ; attempt++) {
      const current = await this.getConfig();
      const next: IpamConfig = { ...current, ...patch };
      const kv = await this.datastore.get(IPAM_CONFIG_KEY);
      try {
        if (kv) await this.datastore.update(IPAM_CONFIG_KEY, encodeConfigRecord(next), kv.modRevision);
        else await this.datastore.create(IPAM_CONFIG_KEY, encodeConfigRecord(next));
        const res = await this.#store.get(ipamConfigurationKind, 'default');
        if (res) {
          const spec = { ...(res.spec ?? {}), ...patch };
          await this.#store.replace(validateResource({ apiVersion: res.apiVersion, kind: res.kind, metadata: res.metadata, spec }));
        }
        return await this.getConfig();
      } catch (err) {
        if (attempt >= this.#maxRetries || !(err instanceof MargayError) || !['MARGAY_ERR_CONFLICT', 'MARGAY_ERR_ALREADY_EXISTS', 'MARGAY_ERR_NOT_FOUND'].includes(err.code)) throw err;
        await this.#backoff(attempt);
      }
    }
  }

  // ---- internals -----------------------------------------------------------------------------

  #context(node: string): Promise<AllocContext> {
    return this.#contexts.run(node, async () => {
      const ctx = await loadContext(this.#store, node);
      this.#cooldownSeconds = ctx.config.ipCooldownSeconds;
      return ctx;
    });
  }

  /** The node's confirmed blocks of one family, in key order. */
  #affineBlocks(node: string, family: Family): Promise<Cidr[]> {
    return this.#hostBlocks.run(`${node}|${family}`, async () => {
      const { items } = await this.datastore.list(hostAffinityPrefix(node, family));
      const out: Cidr[] = [];
      for (const kv of items) {
        const parsed = parseAffinityKey(kv.key);
        if (!parsed) continue;
        try {
          const rec = decodeAffinity(kv.value);
          if (rec.state === 'confirmed' && !rec.deleted) out.push(parsed.cidr);
        } catch {
          // unreadable: not ours to use
        }
      }
      return out;
    });
  }

  async #listBlocks(family: Family): Promise<Map<string, { cidr: Cidr; block: AllocationBlock; modRevision: number }>> {
    const { items } = await this.datastore.list(blockPrefix(family));
    const out = new Map<string, { cidr: Cidr; block: AllocationBlock; modRevision: number }>();
    for (const kv of items) {
      const cidr = parseBlockKey(kv.key);
      if (!cidr) continue;
      try {
        const block = decodeBlock(kv.value);
        if (!block.deleted) out.set(formatCidr(cidr), { cidr, block, modRevision: kv.modRevision });
      } catch {
        // an unreadable block is nobody's to claim; `ipam check` reports it
      }
    }
    return out;
  }

  /**
   * Finds a block to claim for `node`: the first absent block in the host's order through the
   * pools; failing that, an empty block another host claimed more than a minute ago (Calico's
   * EmptyBlockMinReclaimAge), taken over with a sequence-number guard. Returns the claimed CIDR.
   */
  async #claimNewBlock(node: string, family: Family, pools: PoolInfo[], ctx: AllocContext): Promise<Cidr | undefined> {
    const existing = await this.#listBlocks(family);
    const deps = this.#affinityDeps();
    const empties: { cidr: Cidr; block: AllocationBlock; modRevision: number }[] = [];
    for (const pool of pools) {
      for (const cidr of candidateBlocks(pool, node, existing.size + 1025)) {
        if (wholeBlockReserved(ctx.reservations, cidr)) continue;
        const e = existing.get(formatCidr(cidr));
        if (!e) {
          const outcome = await claimBlock(deps, node, cidr);
          this.#writer(cidr).invalidate();
          if (outcome !== 'taken') return cidr;
          continue;
        }
        const free = freeCount(e.block, reservedOrdinals(ctx.reservations, cidr));
        if (affineHost(e.block) === node && free > 0) {
          await confirmAffinity(deps, node, cidr); // ours, but the affinity record was missing or unconfirmed
          return cidr;
        }
        if (isEmptyBlock(e.block) && free > 0) empties.push(e);
      }
    }
    const nowMs = this.#now().getTime();
    for (const e of empties) {
      const claimedAt = e.block.affinity_claim_time ? Date.parse(e.block.affinity_claim_time) : Number.NaN;
      if (!Number.isNaN(claimedAt) && nowMs - claimedAt < 60_000) continue;
      const owner = affineHost(e.block);
      const freed = owner === undefined
        ? e.block.affinity === null && (await deleteEmptyUnaffineBlock(deps, e.cidr, e.modRevision))
        : (await releaseBlockAffinity(deps, { node: owner, cidr: e.cidr, requireEmpty: true, requiredSequenceNumber: e.block.sequenceNumber })) === 'released';
      this.#writer(e.cidr).invalidate();
      if (!freed) continue;
      if ((await claimBlock(deps, node, e.cidr)) !== 'taken') return e.cidr;
    }
    return undefined;
  }

  /** Other hosts' blocks with free addresses in the given pools, in an order spread by host name. */
  async #borrowable(node: string, family: Family, pools: PoolInfo[], ctx: AllocContext): Promise<Cidr[]> {
    const existing = [...(await this.#listBlocks(family)).values()].filter(
      (e) => affineHost(e.block) !== node && poolOfBlock(pools, e.cidr) !== undefined && freeCount(e.block, reservedOrdinals(ctx.reservations, e.cidr)) > 0,
    );
    if (existing.length === 0) return [];
    const start = fnv32(node) % existing.length;
    return [...existing.slice(start), ...existing.slice(0, start)].map((e) => e.cidr);
  }

  /**
   * The block holding an address: the one its pool's block size implies, else any listed block
   * that holds it. `seen` carries what earlier lookups of the same call found.
   */
  async #findBlock(ip: Ip, pools: PoolInfo[], seen: BlockLookups = newLookups()): Promise<Cidr | undefined> {
    const pool = poolOf(pools, ip);
    if (pool) {
      const guess = blockOf(ip, pool.blockPrefix);
      const k = formatCidr(guess);
      if (!seen.exists.has(k)) seen.exists.set(k, (await this.datastore.get(blockKey(guess))) !== undefined);
      if (seen.exists.get(k)) return guess;
    }
    seen.listed[ip.family] ??= [...(await this.#listBlocks(ip.family)).values()].map((e) => e.cidr);
    return seen.listed[ip.family]!.find((cidr) => cidrContainsIp(cidr, ip));
  }

  #writer(cidr: Cidr): BlockWriter {
    const key = blockKey(cidr);
    let w = this.#writers.get(key);
    if (!w) {
      w = new BlockWriter(key, formatCidr(cidr), {
        datastore: this.datastore,
        maxRetries: this.#maxRetries,
        maxBatch: this.#maxBatch,
        backoff: (attempt) => this.#backoff(attempt),
        nowMs: () => this.#now().getTime(),
        cooldownSeconds: () => this.#cooldownSeconds,
      });
      this.#writers.set(key, w);
    }
    return w;
  }

  #affinityDeps(): AffinityDeps {
    return { datastore: this.datastore, now: this.#now, maxRetries: this.#maxRetries, backoff: (a) => this.#backoff(a) };
  }

  async #backoff(attempt: number): Promise<void> {
    const ms = backoffMs(attempt, this.#random);
    if (ms > 0) await this.#sleep(ms);
  }
}

