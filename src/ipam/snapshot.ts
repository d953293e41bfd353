/**
 * The whole IPAM state read in one list, at one etcd revision: blocks, affinities, handles and the
 * settings record. Because Margay writes a block and the handles it counts in one transaction,
 * a snapshot is always self-consistent for Margay's own writes; whatever disagrees in it is a real
 * inconsistency (a foreign writer, a crash of a non-atomic writer, a hand edit).
 */
import type { Datastore, KVPair } from '../datastore/mod.ts';
import { decodeAffinity, type AffinityState } from './affinity.ts';
import { type AllocationBlock, decodeBlock } from './block.ts';
import { decodeHandle, type HandleRecord } from './handle.ts';
import { IPAM_CONFIG_KEY, IPAM_PREFIX } from '../datastore/mod.ts';
import { parseAffinityKey, parseBlockKey, parseHandleKey } from './keys.ts';
import { type Cidr, formatCidr } from '../net/mod.ts';

/** A block in a snapshot. */
export interface BlockEntry {
  key: string;
  cidr: Cidr;
  block: AllocationBlock;
  modRevision: number;
}

/** An affinity in a snapshot. */
export interface AffinityEntry {
  key: string;
  node: string;
  cidr: Cidr;
  state: AffinityState;
  modRevision: number;
}

/** A handle in a snapshot. */
export interface HandleEntry {
  key: string;
  id: string;
  record: HandleRecord;
  modRevision: number;
}

/** A key under the IPAM prefix that could not be read. */
export interface UnreadableEntry {
  key: string;
  reason: string;
}

/** The IPAM state at one revision. */
export interface IpamSnapshot {
  revision: number;
  /** By block CIDR text (`10.0.0.0/26`). */
  blocks: Map<string, BlockEntry>;
  affinities: AffinityEntry[];
  /** By handle id. */
  handles: Map<string, HandleEntry>;
  /** The v2 settings record, raw, when present. */
  configRecord: KVPair | undefined;
  unreadable: UnreadableEntry[];
}

/** Reads every IPAM key in one consistent list. Soft-deleted records (`deleted: true`) are left out. */
export async function readSnapshot(datastore: Datastore): Promise<IpamSnapshot> {
  const { items, revision } = await datastore.list(IPAM_PREFIX);
  return parseSnapshot(items, revision);
}

/** Builds a snapshot from listed pairs. */
export function parseSnapshot(items: KVPair[], revision: number): IpamSnapshot {
  const snap: IpamSnapshot = { revision, blocks: new Map(), affinities: [], handles: new Map(), configRecord: undefined, unreadable: [] };
  for (const kv of items) {
    const cidr = parseBlockKey(kv.key);
    try {
      if (cidr) {
        const block = decodeBlock(kv.value);
        if (!block.deleted) snap.blocks.set(formatCidr(cidr), { key: kv.key, cidr, block, modRevision: kv.modRevision });
        continue;
      }
      const aff = parseAffinityKey(kv.key);
      if (aff) {
        const rec = decodeAffinity(kv.value);
        if (!rec.deleted) snap.affinities.push({ key: kv.key, node: aff.node, cidr: aff.cidr, state: rec.state, modRevision: kv.modRevision });
        continue;
      }
      const id = parseHandleKey(kv.key);
      if (id !== undefined) {
        const record = decodeHandle(kv.value);
        if (!record.deleted) snap.handles.set(id, { key: kv.key, id, record, modRevision: kv.modRevision });
        continue;
      }
      if (kv.key === IPAM_CONFIG_KEY) {
        snap.configRecord = kv;
        continue;
      }
    } catch (err) {
      snap.unreadable.push({ key: kv.key, reason: (err as Error).message });
    }
  }
  return snap;
}
