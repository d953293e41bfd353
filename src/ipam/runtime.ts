/**
 * What the operations of one `Ipam` share: the datastore, one writer per block, the cached
 * cooldown setting, retries with backoff, coalesced reads of settings and of a node's blocks, and
 * the block lookups (list a family's blocks, find the block holding an address).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Datastore, KVPair, ReadRequest } from '../datastore/mod.ts';
import { ResourceStore } from '../datastore/mod.ts';
import type { AffinityDeps } from './affinity-ops.ts';
import { decodeAffinity } from './affinity.ts';
import { type AllocationBlock, decodeBlock } from './block.ts';
import { BlockWriter } from './block-writer.ts';
import { ReadsCache } from './reads-cache.ts';
import type { IpamConfig } from './config.ts';
import { type AllocContext, contextFrom, contextReads, loadConfig, loadContext } from './context.ts';
import { blockKey, blockPrefix, hostAffinityPrefix, parseAffinityKey, parseBlockKey } from './keys.ts';
import { type Cidr, type Family, type Ip, blockOf, cidrContainsIp, formatCidr } from '../net/mod.ts';
import { type PoolInfo, poolOf } from './pools.ts';
import type { IpamOptions } from './requests.ts';
import { backoffMs, DEFAULT_MAX_RETRIES } from './retry.ts';
import { SingleFlight } from './single-flight.ts';

/** A stored block as a listing returns it. */
export interface ListedBlock {
  cidr: Cidr;
  block: AllocationBlock;
  modRevision: number;
}

/** What block lookups of one call have found: block existence by CIDR, and block lists by family. */
export interface BlockLookups {
  exists: Map<string, boolean>;
  listed: { 4?: Cidr[]; 6?: Cidr[] };
}

/** A fresh {@link BlockLookups}. */
export function newLookups(): BlockLookups {
  return { exists: new Map(), listed: {} };
}

/** What an autoAssign reads before it writes: the context and the node's IPv4 and IPv6 blocks. */
export type AssignReads = [AllocContext, Cidr[] | undefined, Cidr[] | undefined];

/** How long {@link IpamRuntime.close} waits for claims made ahead. */
const AHEAD_CLOSE_WAIT_MS = 2000;
/** How long a key whose claim ahead found nothing (or failed) is not claimed ahead again. */
const AHEAD_REST_MS = 60_000;

/** The shared state of one `Ipam`. */
export class IpamRuntime {
  readonly datastore: Datastore;
  readonly store: ResourceStore;
  readonly now: () => Date;
  readonly maxRetries: number;
  /** Coalesces concurrent claims of a new block for the same node, family and pools. */
  readonly claims = new SingleFlight<Cidr | undefined>();
  /** IpamOptions.claimAhead. */
  readonly claimAhead: boolean;
  /** Claims made ahead (allocate.ts), awaited by {@link close}. */
  readonly #ahead = new Set<Promise<unknown>>();
  /** Claim keys whose last ahead claim found no block or failed, with when (ms) they may try again. */
  readonly #aheadRests = new Map<string, number>();
  /** Reads started by `Ipam.prefetch`, by node and families, each for one autoAssign soon after. */
  readonly prefetched = new Map<string, { at: number; reads: Promise<AssignReads> }>();
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  readonly #maxBatch: number;
  readonly #writers = new Map<string, BlockWriter>();
  readonly #contexts = new SingleFlight<AllocContext>();
  readonly #hostBlocks = new SingleFlight<Cidr[]>();
  readonly #assignReads = new SingleFlight<AssignReads>();
  /** Watch-fed copies of assignReads (IpamOptions.cacheReads). */
  readonly #readsCache: ReadsCache<AssignReads> | undefined;
  readonly #settingsWrites: Datastore;
  #cooldownSeconds = 0;

  constructor(datastore: Datastore, options: IpamOptions = {}) {
    this.datastore = datastore;
    this.store = new ResourceStore(datastore);
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.now = options.now ?? (() => new Date());
    this.#random = options.random ?? Math.random;
    this.maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
    this.#maxBatch = Math.max(1, Math.min(100, options.maxBatch ?? 64));
    this.claimAhead = options.claimAhead ?? false;
    const cache = (this.#readsCache = options.cacheReads ? new ReadsCache(datastore) : undefined);
    this.#settingsWrites = cache ? forgettingWrites(datastore, () => cache.clear()) : datastore;
  }

  /**
   * Waits for the claims made ahead (at most {@link AHEAD_CLOSE_WAIT_MS}: one cut short is left
   * `pending`, as after a crash), then stops the watches of the read cache.
   */
  async close(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, AHEAD_CLOSE_WAIT_MS)));
    await Promise.race([Promise.allSettled([...this.#ahead]), waited]);
    clearTimeout(timer);
    await this.#readsCache?.close();
  }

  /**
   * Runs a claim of a new block ahead of need (allocate.ts), in the background, under the same
   * key as an allocation's own claim (joined by it). A failure is dropped: the allocation that
   * needs the block claims it itself and reports what fails then. A claim that found no block or
   * failed is not tried ahead again under its key for {@link AHEAD_REST_MS} (each try lists every
   * block of the family).
   */
  claimInBackground(key: string, claim: () => Promise<Cidr | undefined>): void {
    const nowMs = this.now().getTime();
    if ((this.#aheadRests.get(key) ?? 0) > nowMs) return;
    this.#aheadRests.delete(key);
    const p = this.claims.run(key, claim).then(
      (cidr) => void (cidr === undefined && this.#aheadRests.set(key, this.now().getTime() + AHEAD_REST_MS)),
      () => void this.#aheadRests.set(key, this.now().getTime() + AHEAD_REST_MS),
    );
    this.#ahead.add(p);
    void p.finally(() => this.#ahead.delete(p));
  }

  /**
   * The datastore for writes of affinities and settings ({@link affinityDeps}, `Ipam.setConfig`):
   * once each is done, the cached reads are forgotten, so that the next allocation sees it without
   * waiting for the watch. Without a read cache, the datastore itself.
   */
  get settingsWrites(): Datastore {
    return this.#settingsWrites;
  }

  /** The effective settings (and the cooldown the block writers apply, refreshed). */
  async config(): Promise<IpamConfig> {
    return (await this.configAnd([])).config;
  }

  /** {@link config}, and `also` read in the same round trip (their results, in order). */
  async configAnd(also: readonly ReadRequest[]): Promise<{ config: IpamConfig; also: KVPair[][] }> {
    const out = await loadConfig(this.datastore, also);
    this.#cooldownSeconds = out.config.ipCooldownSeconds;
    return out;
  }

  /** Pools, reservations, settings and node labels for an allocation on `node`. */
  context(node: string): Promise<AllocContext> {
    return this.#contexts.run(node, async () => {
      const ctx = await loadContext(this.datastore, node);
      this.#cooldownSeconds = ctx.config.ipCooldownSeconds;
      return ctx;
    });
  }

  /** The node's confirmed blocks of one family, in key order. */
  affineBlocks(node: string, family: Family): Promise<Cidr[]> {
    return this.#hostBlocks.run(`${node}|${family}`, async () => confirmedBlocks((await this.datastore.list(hostAffinityPrefix(node, family))).items));
  }

  /**
   * What an autoAssign on `node` reads before it writes, in one round trip: the context and the
   * node's confirmed blocks of each family asked for (undefined for the others).
   */
  assignReads(node: string, v4: boolean, v6: boolean): Promise<AssignReads> {
    const key = `${node}|${v4}|${v6}`;
    const cached = this.#readsCache?.get(key);
    if (cached) return Promise.resolve(cached);
    return this.#assignReads.run(key, async () => {
      const reads = contextReads(node);
      const families = ([4, 6] as const).filter((f) => (f === 4 ? v4 : v6));
      const all = [...reads, ...families.map((f) => ({ prefix: hostAffinityPrefix(node, f) }))];
      const { results, revision } = await this.datastore.getMany(all);
      const ctx = contextFrom(results.slice(0, reads.length));
      this.#cooldownSeconds = ctx.config.ipCooldownSeconds;
      const blocks = (f: Family) => (families.includes(f) ? confirmedBlocks(results[reads.length + families.indexOf(f)] ?? []) : undefined);
      const out: AssignReads = [ctx, blocks(4), blocks(6)];
      // Once a change drops the copy, it is read again at once (a failed read: the next user reads).
      this.#readsCache?.keep(key, out, revision, all, () => void this.assignReads(node, v4, v6).catch(() => undefined));
      return out;
    });
  }

  /** Every readable, not deleted block of a family, by CIDR text. */
  async listBlocks(family: Family): Promise<Map<string, ListedBlock>> {
    const { items } = await this.datastore.list(blockPrefix(family));
    const out = new Map<string, ListedBlock>();
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
   * The block holding an address: the one its pool's block size implies, else any listed block
   * that holds it. `seen` carries what earlier lookups of the same call found.
   */
  async findBlock(ip: Ip, pools: PoolInfo[], seen: BlockLookups = newLookups()): Promise<Cidr | undefined> {
    const pool = poolOf(pools, ip);
    if (pool) {
      const guess = blockOf(ip, pool.blockPrefix);
      const k = formatCidr(guess);
      if (!seen.exists.has(k)) seen.exists.set(k, (await this.datastore.get(blockKey(guess))) !== undefined);
      if (seen.exists.get(k)) return guess;
    }
    seen.listed[ip.family] ??= [...(await this.listBlocks(ip.family)).values()].map((e) => e.cidr);
    return seen.listed[ip.family]!.find((cidr) => cidrContainsIp(cidr, ip));
  }

  /** The one writer of a block in this process. */
  writer(cidr: Cidr): BlockWriter {
    const key = blockKey(cidr);
    let w = this.#writers.get(key);
    if (!w) {
      w = new BlockWriter(key, formatCidr(cidr), {
        datastore: this.datastore,
        maxRetries: this.maxRetries,
        maxBatch: this.#maxBatch,
        backoff: (attempt) => this.backoff(attempt),
        nowMs: () => this.now().getTime(),
        cooldownSeconds: () => this.#cooldownSeconds,
      });
      this.#writers.set(key, w);
    }
    return w;
  }

  /** What the affinity protocol (affinity-ops.ts) needs. */
  affinityDeps(): AffinityDeps {
    return { datastore: this.#settingsWrites, now: this.now, maxRetries: this.maxRetries, backoff: (a) => this.backoff(a) };
  }

  /** Waits before retry number `attempt` (jittered, growing). */
  async backoff(attempt: number): Promise<void> {
    const ms = backoffMs(attempt, this.#random);
    if (ms > 0) await this.#sleep(ms);
  }
}

/** Writes that change what an allocation reads. */
const READ_CHANGING_WRITES = new Set<string | symbol>(['create', 'update', 'put', 'delete', 'txn']);

/** `datastore`, whose writes call `forget` once settled (also when failed: a timed-out write may have happened). */
function forgettingWrites(datastore: Datastore, forget: () => void): Datastore {
  return new Proxy(datastore, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (!READ_CHANGING_WRITES.has(prop)) return method.bind(target);
      return (...args: unknown[]) => (method.apply(target, args) as Promise<unknown>).finally(forget);
    },
  });
}

/** The blocks of confirmed, not deleted affinities among a node's affinity pairs (key order kept). */
function confirmedBlocks(items: readonly KVPair[]): Cidr[] {
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
}
