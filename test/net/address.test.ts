/** Plain addresses: parsed as Go's net.ParseIP does (Calico validates with it), printed as Go prints them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalIp, familyBits, formatIp, ipFamily, ipv4Value, parseIp } from '../../src/net/mod.ts';

describe('net address - IPv4', () => {
  it('parses four decimal parts into a 32-bit value and prints it back', () => {
    assert.deepEqual(parseIp('10.0.0.5'), { family: 4, value: 0x0a000005n });
    assert.deepEqual(parseIp('0.0.0.0'), { family: 4, value: 0n });
    assert.deepEqual(parseIp('255.255.255.255'), { family: 4, value: 0xffffffffn });
    assert.equal(formatIp({ family: 4, value: 0xc0000201n }), '192.0.2.1');
    assert.equal(formatIp({ family: 4, value: 0xffffffffn }), '255.255.255.255');
  });

  it('refuses what Go refuses: short, long, out of range, leading zeros, other notations, spaces', () => {
    for (const bad of ['10.0.0', '10.0.0.256', '01.0.0.1', '10.0.0.1.2', 'a.b.c.d', '', '0x0a.0.0.1', '167772161', '10.0.0.1 ', ' 10.0.0.1', '10.0.0.1/32', '1000.0.0.1']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  it('scans what the regular expression of Go\'s form matches, to the same value (ipv4Value)', () => {
    // The form the scanner replaced: four parts without leading zeros, each at most 255.
    const GO_FORM = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
    const byRegex = (text: string): number => {
      const m = GO_FORM.exec(text);
      if (!m) return -1;
      let value = 0;
      for (let i = 1; i <= 4; i++) {
        const octet = Number(m[i]);
        if (octet > 255) return -1;
        value = value * 256 + octet;
      }
      return value;
    };
    // Texts near the form: digits, dots and a few other characters, in parts of up to four digits.
    const part = fc.stringMatching(/^[0-9]{0,4}$/);
    const near = fc.oneof(
      fc.tuple(part, part, part, part).map((p) => p.join('.')),
      fc.array(fc.constantFrom('0', '1', '2', '5', '9', '.', ' ', 'a', '/', '-', '\n'), { maxLength: 20 }).map((cs) => cs.join('')),
      fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.')),
    );
    fc.assert(fc.property(near, (text) => assert.equal(ipv4Value(text), byRegex(text), text)), { numRuns: 5000 });
    // Up to an end: the address of a host CIDR without slicing it.
    assert.equal(ipv4Value('10.0.0.5/32', 8), 0x0a000005);
    assert.equal(ipv4Value('10.0.0.05/32', 9), -1);
    for (const t of ['0.0.0.0', '255.255.255.255', '256.0.0.0', '00.0.0.0', '1.2.3.04', '1..2.3', '.1.2.3', '1.2.3.', '1.2.3.4\n']) {
      assert.equal(ipv4Value(t), byRegex(t), t);
    }
  });
});

describe('net address - IPv6', () => {
  it('parses every RFC 4291 text form into a 128-bit value', () => {
    assert.deepEqual(parseIp('::1'), { family: 6, value: 1n });
    assert.deepEqual(parseIp('::'), { family: 6, value: 0n });
    assert.deepEqual(parseIp('fd00::1'), { family: 6, value: (0xfd00n << 112n) | 1n });
    assert.deepEqual(parseIp('FD00:0:0:0:0:0:0:1'), parseIp('fd00::1'));
    assert.deepEqual(parseIp('::ffff:1.2.3.4'), { family: 6, value: (0xffffn << 32n) | 0x01020304n });
    assert.deepEqual(parseIp('1:2:3:4:5:6:1.2.3.4')?.value, parseIp('1:2:3:4:5:6:102:304')?.value);
  });

  it('reads ::a.b.c.d as Go does (the four bytes after zeros, not an IPv4-mapped address)', () => {
    assert.deepEqual(parseIp('::1.2.3.4'), { family: 6, value: 0x01020304n });
    assert.equal(canonicalIp('::1.2.3.4'), '::102:304');
  });

  it('prints RFC 5952 form: lower case, the first longest zero run as ::, a single zero group kept', () => {
    assert.equal(canonicalIp('FD00:0:0:0:0:0:0:1'), 'fd00::1');
    assert.equal(canonicalIp('::'), '::');
    assert.equal(canonicalIp('::1'), '::1');
    assert.equal(canonicalIp('1::'), '1::');
    assert.equal(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
    assert.equal(canonicalIp('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
    assert.equal(canonicalIp('::ffff:1.2.3.4'), '::ffff:102:304');
    assert.equal(canonicalIp('::ffff:0.0.0.0'), '::ffff:0:0');
    assert.equal(canonicalIp('fd00:0010:0244:0000::0001'), 'fd00:10:244::1');
  });

  it('refuses malformed text and zones', () => {
    for (const bad of ['1::2::3', ':1::', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', 'fe80::1%1', '1:2:3:4:5:6:7::8:9', 'g::1', ':::', '1:2:3:4:5:6:7', 'fd00::/64', '[fd00::1]']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });
});

describe('net address - families', () => {
  it('names the family of an address and its width', () => {
    assert.equal(ipFamily('10.0.0.1'), 4);
    assert.equal(ipFamily('fd00::1'), 6);
    assert.equal(ipFamily('10.0.0.0/8'), undefined);
    assert.equal(ipFamily('nonsense'), undefined);
    assert.equal(familyBits(4), 32);
    assert.equal(familyBits(6), 128);
  });

  it('round-trips random addresses of both families', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 200; i++) {
      const v4 = { family: 4 as const, value: BigInt(next()) * 2n + BigInt(next() & 1) };
      assert.deepEqual(parseIp(formatIp(v4)), v4);
      let value = 0n;
      for (let g = 0; g < 8; g++) value = (value << 16n) | BigInt(next() % 3 === 0 ? 0 : next() & 0xffff);
      const v6 = { family: 6 as const, value };
      assert.deepEqual(parseIp(formatIp(v6)), v6);
    }
  });

  it('gives undefined for a value that is not text', () => {
    assert.equal(parseIp(undefined as unknown as string), undefined);
    assert.equal(parseIp(42 as unknown as string), undefined);
  });
});
