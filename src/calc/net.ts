/**
 * Address and CIDR helpers for the calculation graph and the evaluator: normalising the
 * addresses resources carry into the canonical text the model uses (`10.0.0.5/32`, `fd00::1/128`,
 * masked networks), and testing whether an address lies inside a CIDR.
 */
import { parseNet } from '../api/kinds/infra-common.ts';

/** IP family. */
export type Family = 4 | 6;

/** A parsed address. */
export interface Address {
  family: Family;
  /** 4 or 16 bytes. */
  bytes: readonly number[];
  /** Canonical text (`10.0.0.5`, `fd00::1`). */
  text: string;
}

/** A parsed, masked network. */
export interface Cidr {
  family: Family;
  bytes: readonly number[];
  prefix: number;
  /** Canonical text (`10.0.0.0/24`). */
  text: string;
}

/** Parses a plain address (no prefix); undefined when it is not one. */
export function parseAddress(text: string): Address | undefined {
  if (text.includes('/')) return undefined;
  const net = parseNet(text, true);
  if (net === undefined) return undefined;
  return { family: net.family, bytes: net.bytes, text: net.network.toString() };
}

/** Parses a CIDR or a bare address (a /32 or /128), masking host bits; undefined when invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const net = parseNet(text, true);
  if (net === undefined) return undefined;
  return { family: net.family, bytes: net.bytes, prefix: net.prefix, text: net.normalized };
}

/** The canonical, masked text of a CIDR or bare address (`10.0.0.5` → `10.0.0.5/32`); undefined when invalid. */
export function normalizeCidr(text: string): string | undefined {
  return parseNet(text, true)?.normalized;
}

/** The canonical text of a plain address, or of the address part of a CIDR (`10.0.0.5/32` → `10.0.0.5`). */
export function addressOf(text: string): string | undefined {
  const slash = text.indexOf('/');
  const net = parseNet(slash < 0 ? text : text.slice(0, slash), true);
  return net?.network.toString();
}

/** True when the address lies inside the network (families must match). */
export function cidrContains(cidr: Cidr, address: Address): boolean {
  if (cidr.family !== address.family) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (cidr.bytes[i] !== address.bytes[i]) return false;
  const rest = cidr.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((cidr.bytes[full] ?? 0) & mask) === ((address.bytes[full] ?? 0) & mask);
}

/**
 * Splits a /0 network into its two /1 halves (the kernel's sets cannot hold a /0, as Felix notes);
 * any other network is returned as is.
 */
export function splitZeroPrefix(cidr: string): string[] {
  if (cidr === '0.0.0.0/0') return ['0.0.0.0/1', '128.0.0.0/1'];
  if (cidr === '::/0') return ['::/1', '8000::/1'];
  return [cidr];
}

/** True when the CIDR covers exactly one address (a /32 or /128). */
export function isHostCidr(cidr: Cidr): boolean {
  return cidr.prefix === (cidr.family === 4 ? 32 : 128);
}
