/**
 * Releasing addresses: by address (with handle and sequence-number guards), by handle, and the
 * rollback of a request that could not be met in full.
 */
import { MargayError } from '../errors/mod.ts';
import { loadPools } from './context.ts';
import { decodeBlock, ordinalsOfHandle } from './block.ts';
import { decodeHandle } from './handle.ts';
import { blockKey, handleKey } from './keys.ts';
import { type Cidr, formatCidr, formatIp, nthIp, ordinalOf, parseCidr, parseIp } from '../net/mod.ts';
import { type AssignedAddress, checkName, type ReleaseIpsResult, type ReleaseRequest } from './requests.ts';
import { type IpamRuntime, newLookups } from './runtime.ts';

/**
 * Releases addresses (text, or with handle and sequence-number guards). Idempotent: an address
 * already free is reported in `notAllocated`. With `ipCooldownSeconds`, released addresses cool
 * down before they can be handed out again.
 */
export async function releaseIps(rt: IpamRuntime, ips: (string | ReleaseRequest)[]): Promise<ReleaseIpsResult> {
  const out: ReleaseIpsResult = { released: [], notAllocated: [], mismatched: [] };
  if (ips.length === 0) return out;
  await rt.config();
  const pools = await loadPools(rt.store);
  const byBlock = new Map<string, { cidr: Cidr; items: { ordinal: number; handle?: string; sequenceNumber?: bigint }[] }>();
  const seen = newLookups();
  for (const item of ips) {
    const req: ReleaseRequest = typeof item === 'string' ? { ip: item } : item;
    const ip = parseIp(req.ip);
    if (!ip) throw new MargayError('MARGAY_ERR_VALIDATION', `${JSON.stringify(req.ip)} is not an IP address`);
    const cidr = await rt.findBlock(ip, pools, seen);
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
      const r = await rt.writer(cidr).release(items);
      const text = (o: number): string => formatIp(nthIp(cidr, o));
      out.released.push(...r.released.map(text));
      out.notAllocated.push(...r.notAllocated.map(text));
      out.mismatched.push(...r.mismatched.map(text));
    }),
  );
  return out;
}

/**
 * Releases every address of a handle, and the handle. Idempotent: an unknown handle releases
 * nothing. With `notBefore`, reads at once but writes only once it has resolved (nothing when it
 * rejects): the CNI's DEL reads while the pod's interface goes.
 */
export async function releaseByHandle(rt: IpamRuntime, handle: string, options: { notBefore?: Promise<unknown> } = {}): Promise<string[]> {
  checkName('handle', handle);
  // The settings (the cooldown) and the handle in one round trip; the block's writer is given
  // the handle's record, so that it need not read it again before writing it (a record changed
  // meanwhile fails the write's comparison and is read again).
  const reads = rt.configAnd([{ key: handleKey(handle) }]);
  const [{ also: [found] }] = await Promise.all([reads, options.notBefore]);
  const kv = found?.[0];
  if (!kv) return [];
  const record = decodeHandle(kv.value);
  const released: string[] = [];
  let gone = false;
  const blocks = Object.keys(record.block);
  await Promise.all(
    blocks.map(async (text) => {
      const cidr = parseCidr(text);
      if (!cidr) return;
      // With several blocks, each write changes the record: the later ones read it afresh.
      const r = await rt.writer(cidr).releaseHandle(handle, blocks.length === 1 ? kv : undefined);
      gone ||= r.gone || r.released.length === 0;
      released.push(...r.released.map((o) => formatIp(nthIp(cidr, o))));
    }),
  );
  if (gone) await dropStaleHandle(rt, handle);
  return released;
}

/** Deletes a handle record that counts addresses its blocks no longer hold for it. */
async function dropStaleHandle(rt: IpamRuntime, handle: string): Promise<void> {
  const kv = await rt.datastore.get(handleKey(handle));
  if (!kv) return;
  const record = decodeHandle(kv.value);
  for (const text of Object.keys(record.block)) {
    const cidr = parseCidr(text);
    const bkv = cidr && (await rt.datastore.get(blockKey(cidr)));
    if (bkv && ordinalsOfHandle(decodeBlock(bkv.value), handle).length > 0) return;
  }
  try {
    await rt.datastore.delete(handleKey(handle), kv.modRevision);
  } catch {
    // Changed meanwhile: someone allocated for it again.
  }
}

/** Releases what a failed request took (best effort). */
export async function rollback(rt: IpamRuntime, handle: string, taken: AssignedAddress[]): Promise<void> {
  if (taken.length === 0) return;
  try {
    await releaseIps(rt, taken.map((a) => ({ ip: a.address, handle, sequenceNumber: a.sequenceNumber })));
  } catch {
    // Best effort: the controllers' GC releases what a failed rollback leaves (no workload uses it).
  }
}
