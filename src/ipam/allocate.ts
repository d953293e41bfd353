/**
 * Assigning addresses: automatically (the node's own blocks, then a new block, then borrowing),
 * one particular address, and the dry run CNI STATUS asks for (`canAssign`).
 */
import { hasCode, MargayError } from '../errors/mod.ts';
import { claimBlock } from './affinity-ops.ts';
import { runningLow } from './block.ts';
import { whyNotAssignable } from './assignable.ts';
import { borrowable, claimNewBlock } from './block-choice.ts';
import { blockLimit } from './config.ts';
import type { AllocContext } from './context.ts';
import { type Cidr, type Family, blockOf, cidrSize, formatCidr, formatIp, nthIp, ordinalOf, parseIp } from '../net/mod.ts';
import { type PoolInfo, poolOf, poolOfBlock, reservationOf, reservedOrdinals, selectPools } from './pools.ts';
import { rollback } from './release.ts';
import {
  type AssignedAddress,
  type AssignIpRequest,
  type AutoAssignRequest,
  type AutoAssignResult,
  type CanAssignRequest,
  checkCount,
  checkName,
  familyName,
} from './requests.ts';
import type { AssignReads, IpamRuntime } from './runtime.ts';

/**
 * Assigns `num4` IPv4 and `num6` IPv6 addresses to `handle` on `node`. All or nothing.
 * @throws {MargayError} MARGAY_ERR_POOL_EXHAUSTED, MARGAY_ERR_NO_POOL, MARGAY_ERR_VALIDATION,
 *   MARGAY_ERR_CONFLICT (contention beyond maxRetries), datastore errors.
 */
export async function autoAssign(rt: IpamRuntime, req: AutoAssignRequest): Promise<AutoAssignResult> {
  checkName('handle', req.handle);
  checkName('node', req.node);
  const num4 = checkCount('num4', req.num4);
  const num6 = checkCount('num6', req.num6);
  const taken: AssignedAddress[] = [];
  const result: AutoAssignResult = { ipv4: [], ipv6: [] };
  try {
    // Settings, pools and the node's blocks are read together, once per request (or were prefetched).
    const [ctx, affine4, affine6] = await (takePrefetched(rt, req.node, num4, num6) ?? assignReads(rt, req.node, num4, num6));
    // The alongside key goes with the request's last address: that of the last family asked for.
    const last = (family: Family): Alongside | undefined =>
      req.alongside && family === (num6 > 0 ? 6 : 4) ? { write: req.alongside, before: result.ipv4.map((a) => a.address), result } : undefined;
    if (num4 > 0) result.ipv4 = await assignFamily(rt, req, ctx, 4, num4, affine4!, taken, last(4));
    if (num6 > 0) result.ipv6 = await assignFamily(rt, req, ctx, 6, num6, affine6!, taken, last(6));
    return result;
  } catch (err) {
    if (err instanceof HandleExists) return { ipv4: [], ipv6: [], handleExists: true }; // nothing was taken
    // A transaction whose outcome is unknown may have written the alongside key with every
    // address: releasing the earlier ones would leave the key naming addresses nobody holds. Its
    // caller releases by handle once it has removed the key (else the GC does).
    if (!(req.alongside && hasCode(err, 'MARGAY_ERR_DATASTORE_UNAVAILABLE'))) await rollback(rt, req.handle, taken);
    throw err;
  }
}

/** Ends a request for a new handle that found it there (nothing taken yet: it was the first write). */
class HandleExists extends Error {}

/** How long prefetched reads may wait for their autoAssign. */
const PREFETCH_VALID_MS = 1000;

function prefetchKey(node: string, num4: number, num6: number): string {
  return `${node}|${num4 > 0 ? 4 : ''}|${num6 > 0 ? 6 : ''}`;
}

function assignReads(rt: IpamRuntime, node: string, num4: number, num6: number): Promise<AssignReads> {
  return rt.assignReads(node, num4 > 0, num6 > 0);
}

/**
 * Starts the reads an {@link autoAssign} for `node` begins with (settings, pools, reservations,
 * the node's blocks), for a caller that must do one more read first (the CNI looks for the
 * handle's addresses): the next autoAssign for `node` with the same families, within a second,
 * uses them instead of reading again. Each prefetch serves one autoAssign; every write still
 * compares and swaps, so reads that are a round trip older change no outcome's safety.
 */
export function prefetch(rt: IpamRuntime, node: string, num4: number, num6: number): void {
  const reads = assignReads(rt, node, num4, num6);
  reads.catch(() => undefined); // the autoAssign that takes it sees the failure
  rt.prefetched.set(prefetchKey(node, num4, num6), { at: rt.now().getTime(), reads });
}

function takePrefetched(rt: IpamRuntime, node: string, num4: number, num6: number): Promise<AssignReads> | undefined {
  const key = prefetchKey(node, num4, num6);
  const entry = rt.prefetched.get(key);
  rt.prefetched.delete(key);
  return entry && rt.now().getTime() - entry.at < PREFETCH_VALID_MS ? entry.reads : undefined;
}

/** The request's alongside key, for the family whose addresses come last. */
interface Alongside {
  write: NonNullable<AutoAssignRequest['alongside']>;
  /** The addresses of the families before this one. */
  before: string[];
  /** Told the revision when the key was written. */
  result: AutoAssignResult;
}

async function assignFamily(
  rt: IpamRuntime,
  req: AutoAssignRequest,
  ctx: AllocContext,
  family: Family,
  num: number,
  firstListing: Cidr[],
  taken: AssignedAddress[],
  alongside?: Alongside,
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
    // Called only when this block gives every address still missing: the request's last.
    const withKey = alongside && ((ordinals: number[]) => alongside.write([...alongside.before, ...got.map((a) => a.address), ...ordinals.map((o) => formatIp(nthIp(cidr, o)))]));
    const r = await rt.writer(cidr).alloc(num - got.length, owner, {
      ...(requireHost === undefined ? {} : { requireHost }),
      isReserved: reservedOrdinals(ctx.reservations, cidr),
      ...(withKey ? { alongside: withKey } : {}),
      // An earlier block of this request wrote the handle: read it rather than fail a create.
      ...(taken.length > 0 ? { handleWritten: true } : req.newHandle ? { newHandle: true } : {}),
    });
    if (r.handleExists) throw new HandleExists();
    if (alongside && r.alongsideRevision !== undefined) alongside.result.alongsideRevision = r.alongsideRevision;
    for (const o of r.ordinals) {
      const a = assigned(cidr, o, pool, r.affinity, req.node, r.sequenceNumber);
      got.push(a);
      taken.push(a);
    }
  };

  const claimedHere: Cidr[] = [];
  let mine: Cidr[] = [];
  for (let round = 0; got.length < num && round < limit + 3; round++) {
    // A block claimed by this request (or the claim it joined) counts even if the listing
    // below started before the claim was written.
    const listed = round === 0 ? firstListing : await rt.affineBlocks(req.node, family);
    mine = byKnownRoom(
      rt,
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
    const claimed = await rt.claims.run(claimKey(req.node, family, pools), async () => {
      // Its affinity writes make the next allocation read the node's blocks again (runtime.ts settingsWrites).
      return claimNewBlock(rt, req.node, family, pools, ctx);
    });
    if (!claimed) {
      reason = 'no unclaimed block is left';
      break;
    }
    claimedHere.push(claimed);
  }
  if (got.length >= num && rt.claimAhead && ctx.config.autoAllocateBlocks && mine.length < limit) claimAheadIfLow(rt, req.node, family, pools, ctx, mine);
  if (got.length < num && !ctx.config.strictAffinity) {
    for (const cidr of await borrowable(rt, req.node, family, pools, ctx)) {
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

/** The key under which claims of a new block for `node`, `family` and `pools` are coalesced. */
function claimKey(node: string, family: Family, pools: PoolInfo[]): string {
  return `${node}|${family}|${pools.map((p) => p.name).join(',')}`;
}

/**
 * Claims the node's next block in the background (IpamOptions.claimAhead) when its blocks in
 * `pools` have at most a quarter of a block free. Only when every one of them is known (a block
 * this process has not read may have room): nothing is read for it.
 */
function claimAheadIfLow(rt: IpamRuntime, node: string, family: Family, pools: PoolInfo[], ctx: AllocContext, blocks: Cidr[]): void {
  let free = 0;
  let largest = 0;
  for (const cidr of blocks) {
    if (!poolOfBlock(pools, cidr)) continue;
    const known = rt.writer(cidr).knownFree(reservedOrdinals(ctx.reservations, cidr));
    if (known === undefined) return;
    free += known;
    largest = Math.max(largest, Number(cidrSize(cidr)));
  }
  if (largest === 0 || !runningLow(free, largest)) return;
  rt.claimInBackground(claimKey(node, family, pools), () => claimNewBlock(rt, node, family, pools, ctx, { passOver: blocks, absentOnly: true }));
}

/**
 * Blocks with room (or not known to be full) first, blocks this process last saw full after
 * them: a full block costs a read only when the others could not serve the request.
 */
function byKnownRoom(rt: IpamRuntime, blocks: Cidr[], ctx: AllocContext): Cidr[] {
  const full: Cidr[] = [];
  const rest: Cidr[] = [];
  for (const c of blocks) (rt.writer(c).knownFree(reservedOrdinals(ctx.reservations, c)) === 0 ? full : rest).push(c);
  return [...rest, ...full];
}

function assigned(cidr: Cidr, ordinal: number, pool: PoolInfo, affinity: string | null, node: string, seq: bigint): AssignedAddress {
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
export async function canAssign(rt: IpamRuntime, req: CanAssignRequest): Promise<{ ok: true } | { ok: false; reason: string }> {
  checkName('node', req.node);
  const ctx = await rt.context(req.node);
  for (const family of req.families) {
    const requested = family === 4 ? req.pools4 : req.pools6;
    let pools: PoolInfo[];
    try {
      pools = selectPools(ctx.pools, { family, nodeLabels: ctx.nodeLabels, use: req.use ?? 'Workload', ...(requested ? { requested } : {}) });
    } catch (err) {
      if (err instanceof MargayError) return { ok: false, reason: err.message };
      throw err;
    }
    const why = whyNotAssignable(ctx, pools, (await rt.listBlocks(family)).values(), req.node, family);
    if (why !== undefined) return { ok: false, reason: why };
  }
  return { ok: true };
}

/**
 * Assigns one particular address. When its block does not exist yet, the block is claimed for
 * `node` first. Assigning an address the handle already holds succeeds and changes nothing.
 * @throws {MargayError} MARGAY_ERR_NO_POOL (outside every pool, pool disabled or not for this
 *   use), MARGAY_ERR_ADDRESS_RESERVED, MARGAY_ERR_ADDRESS_IN_USE, MARGAY_ERR_STRICT_AFFINITY.
 */
export async function assignIp(rt: IpamRuntime, req: AssignIpRequest): Promise<AssignedAddress> {
  checkName('handle', req.handle);
  checkName('node', req.node);
  const ip = parseIp(req.ip);
  if (!ip) throw new MargayError('MARGAY_ERR_VALIDATION', `${JSON.stringify(req.ip)} is not an IP address`);
  const address = formatIp(ip);
  const ctx = await rt.context(req.node);
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
  const existing = await rt.findBlock(ip, [pool]);
  if (existing) cidr = existing;
  else {
    const outcome = await claimBlock(rt.affinityDeps(), req.node, cidr);
    if (outcome === 'taken') rt.writer(cidr).invalidate();
  }
  const owner = { handle: req.handle, secondary: { ...(req.attrs ?? {}), node: req.node } };
  const ordinal = ordinalOf(cidr, ip)!;
  const r = await rt.writer(cidr).assign(ordinal, owner, ctx.config.strictAffinity ? req.node : undefined);
  switch (r.outcome) {
    case 'assigned':
    case 'same-handle':
      return assigned(cidr, ordinal, pool, r.affinity, req.node, r.sequenceNumber);
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
