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
 *
 * This file is the client's surface: it checks arguments and delegates to allocate.ts,
 * release.ts and the affinity protocol; queries, affinities and settings are here.
 */
import { ipamConfigurationKind } from '../api/mod.ts';
import { validateResource } from '../api/mod.ts';
import type { Datastore } from '../datastore/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { type AffinityReleaseOutcome, claimBlock, releaseBlockAffinity } from './affinity-ops.ts';
import { assignIp, autoAssign, canAssign, prefetch } from './allocate.ts';
import { attributeOf, decodeBlock, handleOf, isCoolingDown, ordinalsOfHandle, sequenceOf } from './block.ts';
import { encodeConfigRecord, type IpamConfig } from './config.ts';
import { loadPools } from './context.ts';
import { decodeHandle } from './handle.ts';
import { IPAM_CONFIG_KEY } from '../datastore/mod.ts';
import { blockKey, handleKey, hostAffinityPrefix, parseAffinityKey } from './keys.ts';
import { type Cidr, cidrContainsCidr, formatCidr, formatIp, nthIp, ordinalOf, parseCidr, parseIp } from '../net/mod.ts';
import { releaseByHandle, releaseIps } from './release.ts';
import {
  type AssignedAddress,
  type AssignIpRequest,
  type AssignmentInfo,
  type AutoAssignRequest,
  type AutoAssignResult,
  type CanAssignRequest,
  checkName,
  type IpamOptions,
  type ReleaseIpsResult,
  type ReleaseRequest,
} from './requests.ts';
import { IpamRuntime } from './runtime.ts';
import { readSnapshot, type IpamSnapshot } from './snapshot.ts';

export type {
  AssignedAddress,
  AssignIpRequest,
  AssignmentInfo,
  AutoAssignRequest,
  AutoAssignResult,
  CanAssignRequest,
  IpamOptions,
  ReleaseIpsResult,
  ReleaseRequest,
} from './requests.ts';

/** Block IPAM. See the module comment. */
export class Ipam {
  readonly datastore: Datastore;
  readonly #rt: IpamRuntime;

  constructor(datastore: Datastore, options: IpamOptions = {}) {
    this.datastore = datastore;
    this.#rt = new IpamRuntime(datastore, options);
  }

  /** Stops what `cacheReads` started (its watches). */
  close(): Promise<void> {
    return this.#rt.close();
  }

  // ---- allocation ----------------------------------------------------------------------------

  /**
   * Assigns `num4` IPv4 and `num6` IPv6 addresses to `handle` on `node`. All or nothing.
   * @throws {MargayError} MARGAY_ERR_POOL_EXHAUSTED, MARGAY_ERR_NO_POOL, MARGAY_ERR_VALIDATION,
   *   MARGAY_ERR_CONFLICT (contention beyond maxRetries), datastore errors.
   */
  autoAssign(req: AutoAssignRequest): Promise<AutoAssignResult> {
    return autoAssign(this.#rt, req);
  }

  /**
   * Starts the reads the next {@link autoAssign} for `node` with these families begins with, for a
   * caller that must do one more read first; see allocate.ts `prefetch`.
   */
  prefetch(node: string, num4: number, num6: number): void {
    prefetch(this.#rt, node, num4, num6);
  }

  /**
   * Could `autoAssign` give `node` an address of each family now (CNI STATUS)? Judged from the
   * pools, the settings and one listing of the blocks, in the allocator's order (assignable.ts);
   * writes nothing.
   */
  canAssign(req: CanAssignRequest): Promise<{ ok: true } | { ok: false; reason: string }> {
    return canAssign(this.#rt, req);
  }

  /**
   * Assigns one particular address. When its block does not exist yet, the block is claimed for
   * `node` first. Assigning an address the handle already holds succeeds and changes nothing.
   * @throws {MargayError} MARGAY_ERR_NO_POOL (outside every pool, pool disabled or not for this
   *   use), MARGAY_ERR_ADDRESS_RESERVED, MARGAY_ERR_ADDRESS_IN_USE, MARGAY_ERR_STRICT_AFFINITY.
   */
  assignIp(req: AssignIpRequest): Promise<AssignedAddress> {
    return assignIp(this.#rt, req);
  }

  // ---- release -------------------------------------------------------------------------------

  /**
   * Releases addresses (text, or with handle and sequence-number guards). Idempotent: an address
   * already free is reported in `notAllocated`. With `ipCooldownSeconds`, released addresses cool
   * down before they can be handed out again.
   */
  releaseIps(ips: (string | ReleaseRequest)[]): Promise<ReleaseIpsResult> {
    return releaseIps(this.#rt, ips);
  }

  /**
   * Releases every address of a handle, and the handle. Idempotent: an unknown handle releases
   * nothing. With `notBefore`, reads at once but writes only once it has resolved (nothing when
   * it rejects).
   */
  releaseByHandle(handle: string, options: { notBefore?: Promise<unknown> } = {}): Promise<string[]> {
    return releaseByHandle(this.#rt, handle, options);
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
    const cidr = await this.#rt.findBlock(ip, await loadPools(this.#rt.store));
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
    const pools = (await loadPools(this.#rt.store)).filter((p) => p.cidr.family === range.family && (cidrContainsCidr(p.cidr, range) || cidrContainsCidr(range, p.cidr)));
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
        const outcome = await claimBlock(this.#rt.affinityDeps(), options.node, cidr);
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
    const outcome = await releaseBlockAffinity(this.#rt.affinityDeps(), { ...options, cidr });
    this.#rt.writer(cidr).invalidate();
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
        const r = await releaseBlockAffinity(this.#rt.affinityDeps(), { node, cidr: parsed.cidr, requireEmpty: options.requireEmpty ?? false });
        this.#rt.writer(parsed.cidr).invalidate();
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
    return (await this.#rt.writer(cidr).deallocateCooled()).freed;
  }

  // ---- configuration -------------------------------------------------------------------------

  /** The effective settings. */
  getConfig(): Promise<IpamConfig> {
    return this.#rt.config();
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
      const writes = this.#rt.settingsWrites;
      try {
        if (kv) await writes.update(IPAM_CONFIG_KEY, encodeConfigRecord(next), kv.modRevision);
        else await writes.create(IPAM_CONFIG_KEY, encodeConfigRecord(next));
        const res = await this.#rt.store.get(ipamConfigurationKind, 'default');
        if (res) {
          const spec = { ...(res.spec ?? {}), ...patch };
          await this.#rt.store.replace(validateResource({ apiVersion: res.apiVersion, kind: res.kind, metadata: res.metadata, spec }));
        }
        return await this.getConfig();
      } catch (err) {
        if (attempt >= this.#rt.maxRetries || !(err instanceof MargayError) || !['MARGAY_ERR_CONFLICT', 'MARGAY_ERR_ALREADY_EXISTS', 'MARGAY_ERR_NOT_FOUND'].includes(err.code)) throw err;
        await this.#rt.backoff(attempt);
      }
    }
  }
}
