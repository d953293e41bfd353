/** Arithmetic on networks: sizes, containment, overlap, blocks, ordinals, link-local ranges, disjoint sets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  blockOf,
  cidrContainsCidr,
  cidrContainsIp,
  cidrLast,
  cidrSize,
  cidrsOverlap,
  disjointNets,
  formatCidr,
  formatIp,
  isHostCidr,
  isLinkLocal,
  LINK_LOCAL,
  nthIp,
  ordinalOf,
  parseCidr,
  parseCidrOrIp,
  parseIp,
  sameCidr,
} from '../../src/net/mod.ts';

const cidr = (text: string) => parseCidrOrIp(text)!;
const ip = (text: string) => parseIp(text)!;

describe('net maths - containment and overlap', () => {
  it('contains an address of its own family only', () => {
    assert.equal(cidrContainsIp(cidr('10.0.0.0/24'), ip('10.0.0.255')), true);
    assert.equal(cidrContainsIp(cidr('10.0.0.0/24'), ip('10.0.1.0')), false);
    assert.equal(cidrContainsIp(cidr('0.0.0.0/0'), ip('255.255.255.255')), true);
    assert.equal(cidrContainsIp(cidr('::/0'), ip('10.0.0.1')), false, 'an IPv4 address is not in ::/0');
    assert.equal(cidrContainsIp(cidr('fd00::/64'), ip('fd00::ffff:ffff:ffff:ffff')), true);
    assert.equal(cidrContainsIp(cidr('fd00::/64'), ip('fd00:0:0:1::')), false);
  });

  it('contains a network inside it or equal to it, never a larger one', () => {
    assert.equal(cidrContainsCidr(cidr('10.0.0.0/8'), cidr('10.1.0.0/16')), true);
    assert.equal(cidrContainsCidr(cidr('10.0.0.0/8'), cidr('10.0.0.0/8')), true);
    assert.equal(cidrContainsCidr(cidr('10.1.0.0/16'), cidr('10.0.0.0/8')), false);
    assert.equal(cidrContainsCidr(cidr('fd00::/8'), cidr('fd00:1::/32')), true);
    assert.equal(cidrContainsCidr(cidr('fd00::/8'), cidr('10.0.0.0/8')), false);
  });

  it('overlaps when the networks share an address, in the same family', () => {
    assert.ok(cidrsOverlap(cidr('10.0.0.0/24'), cidr('10.0.0.128/25')));
    assert.ok(cidrsOverlap(cidr('10.0.0.128/25'), cidr('10.0.0.0/24')));
    assert.ok(!cidrsOverlap(cidr('10.0.0.0/25'), cidr('10.0.0.128/25')));
    assert.ok(!cidrsOverlap(cidr('10.0.0.0/8'), cidr('::/0')));
    assert.ok(cidrsOverlap(cidr('fe80::/10'), cidr('febf::/16')));
    assert.ok(!cidrsOverlap(cidr('fe80::/10'), cidr('fec0::/10')));
    assert.ok(sameCidr(cidr('10.0.0.5/24'), cidr('10.0.0.0/24')));
    assert.ok(!sameCidr(cidr('10.0.0.0/24'), cidr('10.0.0.0/25')));
  });
});

describe('net maths - blocks and ordinals', () => {
  it('sizes networks of both families', () => {
    assert.equal(cidrSize(cidr('10.0.0.0/26')), 64n);
    assert.equal(cidrSize(cidr('fd00:10:244::/48')), 1n << 80n);
    assert.equal(formatIp({ family: 4, value: cidrLast(cidr('10.0.0.0/26')) }), '10.0.0.63');
    assert.ok(isHostCidr(cidr('10.0.0.1')));
    assert.ok(isHostCidr(cidr('fd00::1/128')));
    assert.ok(!isHostCidr(cidr('fd00::/127')));
  });

  it('finds the block of an address and an address by its ordinal', () => {
    const pool = parseCidr('fd00:10:244::/48')!;
    const addr = ip('fd00:10:244::1:42');
    const block = blockOf(addr, 122);
    assert.equal(formatCidr(block), 'fd00:10:244::1:40/122');
    assert.equal(ordinalOf(block, addr), 2);
    assert.equal(formatIp(nthIp(block, 63)), 'fd00:10:244::1:7f');
    assert.equal(ordinalOf(block, ip('fd00:10:244::1:80')), undefined);
    assert.ok(cidrContainsCidr(pool, block));
    assert.equal(formatCidr(blockOf(ip('10.65.3.77'), 26)), '10.65.3.64/26');
    assert.equal(formatIp(nthIp(cidr('10.65.3.64/26'), 13n)), '10.65.3.77');
  });
});

describe('net maths - special ranges and disjoint sets', () => {
  it('knows the link-local ranges of both families', () => {
    assert.equal(formatCidr(LINK_LOCAL[4]), '169.254.0.0/16');
    assert.equal(formatCidr(LINK_LOCAL[6]), 'fe80::/10');
    assert.ok(isLinkLocal(ip('169.254.1.1')));
    assert.ok(isLinkLocal(ip('fe80::1')));
    assert.ok(isLinkLocal(ip('febf::1')));
    assert.ok(!isLinkLocal(ip('fec0::1')));
    assert.ok(!isLinkLocal(ip('10.0.0.1')));
  });

  it('reduces CIDR lists to disjoint elements per family, listing what does not parse', () => {
    const c = disjointNets(['10.1.0.0/16', '10.0.0.0/8', '10.0.0.5/32', '192.168.1.7', '192.168.1.7/32', 'fd00::/8', 'fd00:1::/32', 'nonsense', '10.2.0.0/25', '10.2.0.128/25']);
    assert.deepEqual(c.v4, ['10.0.0.0/8', '192.168.1.7/32']);
    assert.deepEqual(c.v6, ['fd00::/8']);
    assert.deepEqual(c.invalid, ['nonsense']);
    assert.deepEqual(disjointNets(['10.2.0.128/25', '10.2.0.0/25']).v4, ['10.2.0.0/25', '10.2.0.128/25'], 'adjacent CIDRs are kept apart');
    assert.deepEqual(disjointNets([]), { v4: [], v6: [], invalid: [] });
  });
});
