/**
 * Which pools a request may draw from, which addresses IPReservations hold back, and the order in
 * which a host looks at a pool's blocks when it needs a new one. Pure.
 */
import type { Resource } from '../api/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { parseSelector, type Labels } from '../selector/mod.ts';
import {
  type Cidr,
  type Family,
  type Ip,
  cidrContainsCidr,
  cidrContainsIp,
  cidrSize,
  formatCidr,
  parseCidr,
  parseCidrOrIp,
} from '../net/mod.ts';

/** What an address is for (IPPool `allowedUses`). */
export type IpUse = 'Workload' | 'Tunnel';

/** The parts of an IPPool that IPAM uses. */
export interface PoolInfo {
  name: string;
  cidr: Cidr;
  /** Prefix length of the pool's blocks (`blockSize`). */
  blockPrefix: number;
  disabled: boolean;
  nodeSelector: string;
  namespaceSelector: string | undefined;
  allowedUses: string[];
  /** `Manual` pools are used only when a request names them. */
  assignmentMode: 'Automatic' | 'Manual';
}

/** Reads an IPPool resource; undefined when its CIDR cannot be parsed. */
export function poolFromResource(res: Resource): PoolInfo | undefined {
  const spec = (res.spec ?? {}) as Record<string, unknown>;
  const cidr = parseCidr(String(spec.cidr ?? ''));
  if (!cidr) return undefined;
  const written = typeof spec.blockSize === 'number' && spec.blockSize !== 0 ? spec.blockSize : undefined;
  const uses = Array.isArray(spec.allowedUses) && spec.allowedUses.length > 0 ? (spec.allowedUses as string[]) : ['Workload', 'Tunnel'];
  return {
    name: res.metadata.name,
    cidr,
    blockPrefix: written ?? (cidr.family === 4 ? 26 : 122),
    disabled: spec.disabled === true,
    nodeSelector: typeof spec.nodeSelector === 'string' && spec.nodeSelector !== '' ? spec.nodeSelector : 'all()',
    namespaceSelector: typeof spec.namespaceSelector === 'string' && spec.namespaceSelector !== '' ? spec.namespaceSelector : undefined,
    allowedUses: uses,
    assignmentMode: spec.assignmentMode === 'Manual' ? 'Manual' : 'Automatic',
  };
}

/** What a request asks of pools. */
export interface PoolRequest {
  family: Family;
  /** The labels of the requesting node's Node resource. */
  nodeLabels: Labels;
  use: IpUse;
  /** Only these pools (by name or CIDR), as the CNI `ipv4_pools`/`ipv6_pools` options. */
  requested?: string[];
  /** The labels of the workload's namespace, for pools with a `namespaceSelector`. */
  namespaceLabels?: Labels;
}

function familyName(family: Family): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}

/** Why a pool cannot serve a request, or undefined when it can. */
function unfit(pool: PoolInfo, req: PoolRequest): string | undefined {
  if (pool.disabled) return `IP pool "${pool.name}" is disabled`;
  if (!pool.allowedUses.includes(req.use)) return `IP pool "${pool.name}" does not allow ${req.use} addresses (allowedUses: ${pool.allowedUses.join(', ')})`;
  if (!parseSelector(pool.nodeSelector).matches(req.nodeLabels)) return `IP pool "${pool.name}" does not select this node (nodeSelector: ${pool.nodeSelector})`;
  if (pool.namespaceSelector !== undefined && !parseSelector(pool.namespaceSelector).matches(req.namespaceLabels ?? {})) {
    return `IP pool "${pool.name}" does not select this namespace (namespaceSelector: ${pool.namespaceSelector})`;
  }
  return undefined;
}

/**
 * The pools a request may use, in name order. With `requested`, exactly those (each must exist,
 * be of the family and fit); otherwise every fitting `Automatic` pool of the family.
 * @throws {MargayError} MARGAY_ERR_NO_POOL naming why nothing fits.
 */
export function selectPools(pools: PoolInfo[], req: PoolRequest): PoolInfo[] {
  const ofFamily = pools.filter((p) => p.cidr.family === req.family).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (req.requested && req.requested.length > 0) {
    const out: PoolInfo[] = [];
    for (const want of req.requested) {
      const wantCidr = parseCidr(want);
      const pool = ofFamily.find((p) => p.name === want || (wantCidr && formatCidr(wantCidr) === formatCidr(p.cidr)));
      if (!pool) throw new MargayError('MARGAY_ERR_NO_POOL', `requested ${familyName(req.family)} pool "${want}" does not exist`);
      const why = unfit(pool, req);
      if (why) throw new MargayError('MARGAY_ERR_NO_POOL', why);
      out.push(pool);
    }
    return out;
  }
  const fitting = ofFamily.filter((p) => p.assignmentMode === 'Automatic' && unfit(p, req) === undefined);
  if (fitting.length === 0) {
    const reasons = ofFamily.map((p) => unfit(p, req) ?? `IP pool "${p.name}" is Manual (name it to use it)`);
    throw new MargayError(
      'MARGAY_ERR_NO_POOL',
      ofFamily.length === 0
        ? `no ${familyName(req.family)} IP pool exists`
        : `no ${familyName(req.family)} IP pool can serve this request: ${reasons.join('; ')}`,
    );
  }
  return fitting;
}

/** The pool holding an address, if any. */
export function poolOf(pools: PoolInfo[], ip: Ip): PoolInfo | undefined {
  return pools.find((p) => cidrContainsIp(p.cidr, ip));
}

/** The pool holding a whole block, if any. */
export function poolOfBlock(pools: PoolInfo[], block: Cidr): PoolInfo | undefined {
  return pools.find((p) => cidrContainsCidr(p.cidr, block));
}

/** A reserved range and the IPReservation that reserves it. */
export interface Reservation {
  cidr: Cidr;
  name: string;
}

/** The ranges of IPReservation resources (a plain address is a /32 or /128). */
export function reservationsFromResources(resources: Resource[]): Reservation[] {
  const out: Reservation[] = [];
  for (const res of resources) {
    for (const text of ((res.spec?.reservedCIDRs as string[] | undefined) ?? [])) {
      const cidr = parseCidrOrIp(text);
      if (cidr) out.push({ cidr, name: res.metadata.name });
    }
  }
  return out;
}

/** The reservation holding an address back, if any. */
export function reservationOf(reservations: Reservation[], ip: Ip): Reservation | undefined {
  return reservations.find((r) => cidrContainsIp(r.cidr, ip));
}

/**
 * A test of "is ordinal `o` of `block` reserved", fast when no reservation touches the block.
 */
export function reservedOrdinals(reservations: Reservation[], block: Cidr): (ordinal: number) => boolean {
  const touching = reservations.filter((r) => r.cidr.family === block.family && r.cidr.base <= block.base + cidrSize(block) - 1n && block.base <= r.cidr.base + cidrSize(r.cidr) - 1n);
  if (touching.length === 0) return () => false;
  return (o) => {
    const v = block.base + BigInt(o);
    return touching.some((r) => v >= r.cidr.base && v < r.cidr.base + cidrSize(r.cidr));
  };
}

/** True when one reservation covers the whole block (there is no point claiming it). */
export function wholeBlockReserved(reservations: Reservation[], block: Cidr): boolean {
  return reservations.some((r) => cidrContainsCidr(r.cidr, block));
}

/** 32-bit FNV-1 hash of a string's UTF-8 bytes (Go's `hash/fnv.New32`). */
export function fnv32(text: string): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text)) {
    h = Math.imul(h, 0x01000193) >>> 0;
    h = (h ^ b) >>> 0;
  }
  return h >>> 0;
}

/**
 * The pool's blocks in the order a host tries them: starting at an index derived from the host
 * name (so retries by one host revisit the same blocks, and two hosts start apart), then onwards,
 * wrapping round, at most `limit` of them.
 */
export function* candidateBlocks(pool: PoolInfo, host: string, limit: number): Generator<Cidr> {
  if (pool.blockPrefix < pool.cidr.prefix) return;
  const count = 1n << BigInt(pool.blockPrefix - pool.cidr.prefix);
  const step = 1n << BigInt((pool.cidr.family === 4 ? 32 : 128) - pool.blockPrefix);
  const start = BigInt(fnv32(host)) % count;
  const n = count < BigInt(limit) ? count : BigInt(limit);
  for (let i = 0n; i < n; i++) {
    const idx = (start + i) % count;
    yield { family: pool.cidr.family, base: pool.cidr.base + idx * step, prefix: pool.blockPrefix };
  }
}
