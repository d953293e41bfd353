/** Names and numbers of the BGP room: AS numbers in either written form, protocol-name suffixes, router ids. */
import { createHash } from 'node:crypto';
import { parseAsNumber } from '../api/mod.ts';

/** An AS number from either written form; undefined when absent or invalid. */
export function asNumberOf(v: unknown): number | undefined {
  if (typeof v !== 'number' && typeof v !== 'string') return undefined;
  return parseAsNumber(v);
}

/** Calico's protocol-name suffix of an address: `.` and `:` become `_`. */
export function addressId(ip: string): string {
  return ip.replace(/[.:]/g, '_');
}

/**
 * Calico's `CALICO_ROUTER_ID=hash`: an IPv4 router id derived from the node name (the first four
 * bytes of its SHA-256 here; any stable, well-spread mapping will do since only uniqueness matters).
 */
export function hashToIPv4(name: string): string {
  const d = createHash('sha256').update(name).digest();
  return `${d[0]}.${d[1]}.${d[2]}.${d[3]}`;
}
