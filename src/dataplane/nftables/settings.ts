/**
 * Defaults the nftables dataplane uses until the first `settings` message, and the packet-mark
 * bits policy chains use to talk to the endpoint chains that call them.
 */
import type { DataplaneSettings } from '../../calc/mod.ts';
// The defaults are defined once, in the parameter table the settings resolver reads.
import { defaultDataplaneSettings } from '../../calc/mod.ts';

/**
 * Mark bits (Calico's defaults inside its 0xffff0000 mask). `accept`: a policy allowed the
 * packet; `pass`: a policy passed to the next tier; `scratch0`/`scratch1`: a rule's OR over ports
 * and named-port sets on the source/destination side.
 */
export interface MarkBits {
  accept: number;
  pass: number;
  scratch0: number;
  scratch1: number;
}

/** The default mark bits. */
export const DEFAULT_MARKS: MarkBits = { accept: 0x10000, pass: 0x20000, scratch0: 0x40000, scratch1: 0x80000 };

/** Checks that the mark bits are single, distinct bits. */
export function validateMarks(m: MarkBits): void {
  const bits = [m.accept, m.pass, m.scratch0, m.scratch1];
  for (const b of bits) {
    if (!Number.isInteger(b) || b <= 0 || b > 0xffffffff || (b & (b - 1)) !== 0) {
      throw new Error(`mark bit 0x${b.toString(16)} is not a single bit of a 32-bit mark`);
    }
  }
  if (new Set(bits).size !== bits.length) throw new Error('mark bits must be distinct');
}

/** Settings used before the first `settings` message: the defaults of the parameter table. */
export const DEFAULT_SETTINGS: DataplaneSettings = defaultDataplaneSettings();

/** Mark values' texts ({@link hex}). */
const HEX = new Map<number, string>();

/** Hex text of a mark value as nft prints it. */
export function hex(n: number): string {
  const u = n >>> 0;
  let text = HEX.get(u);
  if (text === undefined) {
    // A table uses a handful of mark values, in every rule that sets or tests one: texts kept.
    if (HEX.size >= 256) HEX.clear();
    text = `0x${u.toString(16).padStart(8, '0')}`;
    HEX.set(u, text);
  }
  return text;
}
