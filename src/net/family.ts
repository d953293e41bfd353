/** IP families: the one place that knows an IPv4 address has 32 bits and an IPv6 one 128. */

/** An IP family. */
export type Family = 4 | 6;

/** The number of bits of an address of `family` (32 or 128): also the prefix of one host. */
export function familyBits(family: Family): number {
  return family === 4 ? 32 : 128;
}
