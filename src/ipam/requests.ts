/**
 * What the `Ipam` client takes and gives: its options, the requests and results of assigning and
 * releasing addresses, and the checks every request's names and counts go through.
 */
import { MargayError } from '../errors/mod.ts';
import type { TxnOp } from '../datastore/mod.ts';
import type { Labels } from '../selector/mod.ts';
import type { Attributes } from './block.ts';
import type { Family } from '../net/mod.ts';
import type { IpUse } from './pools.ts';

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
  /**
   * Keep what an allocation reads before it writes (settings, pools, reservations, the node and
   * its affinities), refreshed by watches (reads-cache.ts), so that an autoAssign costs one
   * round trip, its block's transaction. For long-lived instances (the agent's CNI service);
   * {@link Ipam.close} stops the watches. Default false.
   */
  cacheReads?: boolean;
  /**
   * When an allocation leaves the node's blocks (in the pools it used) with at most a quarter of
   * a block free, claim the next block in the background, so that the allocation that fills the
   * last block does not make the claim (two affinity writes and a block create, ~10–15 ms) on its
   * own path; an allocation that needs the block meanwhile joins the claim. For long-lived
   * instances (the agent's CNI service): a process that exits at once could leave the claim half
   * made (the affinity protocol completes or clears it later). Default false.
   */
  claimAhead?: boolean;
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
  /**
   * One more key to write in the same transaction as the request's last address (a CNI ADD's
   * WorkloadEndpoint), given every address of the request (IPv4 first): the key and the
   * addresses then appear together or not at all, and the caller saves a round trip. It may be
   * called more than once (a conflicting write is recomputed) and must not throw. Whether it was
   * written is in {@link AutoAssignResult.alongsideRevision}; when not (its transaction met a
   * conflicting write and was redone without it), the caller writes it itself.
   */
  alongside?: (addresses: string[]) => TxnOp;
  /**
   * Only for a handle that does not exist yet (a CNI ADD, which mostly has none): instead of a
   * read of the handle before the request, its first write creates it, and when that finds the
   * handle there (a repeated ADD) nothing is allocated and the result says `handleExists`.
   */
  newHandle?: boolean;
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
  /** The revision of the transaction that also wrote {@link AutoAssignRequest.alongside}'s key; undefined when it was not written. */
  alongsideRevision?: number;
  /** With {@link AutoAssignRequest.newHandle}: the handle existed; nothing was allocated. */
  handleExists?: boolean;
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

const NAME = /^[^/\s]+$/;

/** Throws MARGAY_ERR_VALIDATION unless `value` is a non-empty string without "/" or spaces. */
export function checkName(what: string, value: unknown): void {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new MargayError('MARGAY_ERR_VALIDATION', `${what} must be a non-empty string without "/" or spaces (got ${JSON.stringify(value)})`);
  }
}

/** A count of addresses (undefined: 0); throws MARGAY_ERR_VALIDATION unless a whole number ≥ 0. */
export function checkCount(what: string, value: number | undefined): number {
  const n = value ?? 0;
  if (!Number.isInteger(n) || n < 0) throw new MargayError('MARGAY_ERR_VALIDATION', `${what} must be a whole number ≥ 0 (got ${String(value)})`);
  return n;
}

/** `IPv4` or `IPv6`. */
export function familyName(family: Family): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}
