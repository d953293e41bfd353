/** Networks written as text: parsed as Go's net.ParseCIDR (and Calico's ParseCIDROrIP), printed masked. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  addressOf,
  canonicalCidr,
  formatCidr,
  formatIp,
  isMasked,
  parseCidr,
  parseCidrOrIp,
  parseHostAddress,
  parseIpNet,
  parseIpPort,
  sameSubnet,
} from '../../src/net/mod.ts';

describe('net cidr - parse and print', () => {
  it('parses a CIDR of either family, clearing host bits', () => {
    assert.deepEqual(parseCidr('10.0.0.77/26'), { family: 4, base: 0x0a000040n, prefix: 26 });
    assert.equal(formatCidr(parseCidr('10.0.0.77/26')!), '10.0.0.64/26');
    assert.equal(formatCidr(parseCidr('fd00:10:244::1/48')!), 'fd00:10:244::/48');
    assert.equal(formatCidr(parseCidr('0.0.0.0/0')!), '0.0.0.0/0');
    assert.equal(formatCidr(parseCidr('::/0')!), '::/0');
    assert.equal(formatCidr(parseCidr('fd00::5/128')!), 'fd00::5/128');
  });

  it('takes a bare address as a /32 or /128 only where allowed', () => {
    assert.equal(parseCidr('10.0.0.9'), undefined);
    assert.equal(formatCidr(parseCidrOrIp('10.0.0.9')!), '10.0.0.9/32');
    assert.equal(formatCidr(parseCidrOrIp('fd00::5')!), 'fd00::5/128');
    assert.equal(canonicalCidr('10.0.0.5'), '10.0.0.5/32');
    assert.equal(canonicalCidr('10.0.0.5/24'), '10.0.0.0/24');
    assert.equal(canonicalCidr('FD00::5'), 'fd00::5/128');
  });

  it('refuses bad prefixes and bad addresses', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/x', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/1000', 'fd00::/129', '10.0.0/8', 'fe80::%eth0/64', '10.0.0.0/8/8', '/8', 'nonsense', '']) {
      assert.equal(parseCidr(bad), undefined, bad);
      assert.equal(parseCidrOrIp(bad), undefined, bad);
    }
    assert.equal(canonicalCidr('nonsense'), undefined);
  });

  it('keeps the address as written next to its network, and says whether host bits were set', () => {
    const net = parseIpNet('10.0.0.77/26')!;
    assert.equal(formatIp(net.ip), '10.0.0.77');
    assert.equal(formatCidr(net.cidr), '10.0.0.64/26');
    assert.equal(isMasked(net), false);
    assert.equal(isMasked(parseIpNet('10.0.0.64/26')!), true);
    assert.equal(isMasked(parseIpNet('fd00::1/64')!), false);
    assert.equal(parseIpNet('10.0.0.1'), undefined);
    assert.equal(isMasked(parseIpNet('10.0.0.1', { allowBareIp: true })!), true);
  });

  it('gives the canonical address part of a CIDR or address', () => {
    assert.equal(addressOf('10.0.0.5/24'), '10.0.0.5');
    assert.equal(addressOf('FD00::0005/64'), 'fd00::5');
    assert.equal(addressOf('10.0.0.5'), '10.0.0.5');
    assert.equal(addressOf('10.0.0.5/40'), undefined);
  });
});

describe('net cidr - interface addresses and peers', () => {
  it('reads an interface address and tells whether another address shares its subnet', () => {
    const host = parseHostAddress('192.0.2.11/24')!;
    assert.deepEqual(host, { family: 4, ip: '192.0.2.11', prefix: 24 });
    assert.deepEqual(parseHostAddress('FD00::1'), { family: 6, ip: 'fd00::1', prefix: 128 });
    assert.equal(parseHostAddress(undefined), undefined);
    assert.equal(parseHostAddress('192.0.2.11/99'), undefined);
    assert.equal(sameSubnet(host, '192.0.2.200'), true);
    assert.equal(sameSubnet(host, '192.0.3.1'), false);
    assert.equal(sameSubnet(host, 'fd00::1'), false);
    assert.equal(sameSubnet(host, 'nonsense'), false);
  });

  it("reads a BGP peer's address with an optional port, as Calico's processIPPort does", () => {
    assert.deepEqual(parseIpPort('192.0.2.1'), { ip: { family: 4, value: 0xc0000201n }, port: 0 });
    assert.deepEqual(parseIpPort('192.0.2.1:179'), { ip: { family: 4, value: 0xc0000201n }, port: 179 });
    assert.deepEqual(parseIpPort('[fd00::1]:1790'), { ip: { family: 6, value: (0xfd00n << 112n) | 1n }, port: 1790 });
    assert.equal(parseIpPort('fd00::1')?.port, 0);
    for (const bad of ['', '192.0.2.1:0', '192.0.2.1:65536', 'fd00::1:179x', '[fd00::1]', '[fd00::1]:0', 'host:179', '192.0.2.1/32']) {
      assert.equal(parseIpPort(bad), undefined, bad);
    }
  });
});
