import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalCidr, canonicalIp, canonicalNets, familyOf, formatIp, parseCidr, parseIp } from '../../src/dataplane/nftables/cidr.ts';
import { interfaceChain, ipSetName, policyChain, setType, shortHash } from '../../src/dataplane/nftables/names.ts';

describe('dataplane cidr - parse and print', () => {
  it('parses and prints IPv4', () => {
    assert.deepEqual(parseIp('10.0.0.5'), { family: 4, addr: 0x0a000005n });
    assert.equal(formatIp(4, 0xc0000201n), '192.0.2.1');
    for (const bad of ['10.0.0', '10.0.0.256', '01.0.0.1', '10.0.0.1.2', 'a.b.c.d', '']) assert.equal(parseIp(bad), undefined, bad);
  });

  it('parses and prints IPv6 in RFC 5952 form', () => {
    assert.equal(canonicalIp('FD00:0:0:0:0:0:0:1'), 'fd00::1');
    assert.equal(canonicalIp('::'), '::');
    assert.equal(canonicalIp('::1'), '::1');
    assert.equal(canonicalIp('1::'), '1::');
    assert.equal(canonicalIp('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1', 'the first of two equal zero runs');
    assert.equal(canonicalIp('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1', 'a single zero group stays');
    assert.equal(canonicalIp('::ffff:1.2.3.4'), '::ffff:102:304');
    assert.equal(canonicalIp('::ffff:0.0.0.0'), '::ffff:0:0');
    assert.equal(canonicalIp('1:2:3:4:5:6:1.2.3.4'), '1:2:3:4:5:6:102:304');
    for (const bad of ['1::2::3', ':1::', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', '1:2:3:4:5:6:7::8:9', 'g::1']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });

  it('parses CIDRs, clearing host bits', () => {
    assert.equal(canonicalCidr('10.0.0.5/24'), '10.0.0.0/24');
    assert.equal(canonicalCidr('10.0.0.5'), '10.0.0.5/32');
    assert.equal(canonicalCidr('fd00::5'), 'fd00::5/128');
    assert.equal(canonicalCidr('fd00:10:244::1/48'), 'fd00:10:244::/48');
    assert.equal(canonicalCidr('0.0.0.0/0'), '0.0.0.0/0');
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.equal(parseCidr('10.0.0.0/x'), undefined);
    assert.equal(familyOf('fd00::/8'), 6);
  });

  it('reduces CIDR lists to disjoint elements per family', () => {
    const c = canonicalNets(['10.1.0.0/16', '10.0.0.0/8', '10.0.0.5/32', '192.168.1.7', '192.168.1.7/32', 'fd00::/8', 'fd00:1::/32', 'nonsense', '10.2.0.0/25', '10.2.0.128/25']);
    assert.deepEqual(c.v4, ['10.0.0.0/8', '192.168.1.7/32']);
    assert.deepEqual(c.v6, ['fd00::/8']);
    assert.deepEqual(c.invalid, ['nonsense']);
    assert.deepEqual(canonicalNets(['10.2.0.128/25', '10.2.0.0/25']).v4, ['10.2.0.0/25', '10.2.0.128/25'], 'adjacent CIDRs are kept apart');
  });
});

describe('dataplane names - nftables identifiers', () => {
  it('uses readable names for ordinary keys', () => {
    assert.equal(interfaceChain('fw', 'cali1234abcd'), 'fw-cali1234abcd');
    assert.equal(interfaceChain('fh', '*'), 'fh_any');
    assert.equal(policyChain('ingress', 'np/shop/allow-web.v2'), 'pi-np/shop/allow-web.v2');
    assert.equal(policyChain('egress', 'pro/kns.shop'), 'po-pro/kns.shop');
    assert.equal(ipSetName('net', 4, 's:AbC-_9'), 'v4-s.AbC-_9');
    assert.equal(ipSetName('ip-port', 6, 'n:xyz'), 'v6p-n.xyz');
    assert.equal(setType('ip-port', 4), 'ipv4_addr . inet_proto . inet_service');
  });

  it('hashes what is unsafe or too long, without colliding with readable names', () => {
    assert.equal(interfaceChain('fw', 'eth0.100'), `fw_${shortHash('eth0.100')}`);
    assert.equal(interfaceChain('fw', 'weird@if'), `fw_${shortHash('weird@if')}`);
    // ':' becomes '.', so an id that already contains '.' must not share the name.
    assert.notEqual(ipSetName('net', 4, 's.a'), ipSetName('net', 4, 's:a'));
    assert.match(ipSetName('net', 4, 's.a'), /^v4_[0-9a-f]{16}$/);
    const long = `np/${'n'.repeat(63)}/${'p'.repeat(253)}`;
    assert.match(policyChain('ingress', long), /^pi_[0-9a-f]{16}$/);
    assert.ok(policyChain('ingress', `np/x/${'p'.repeat(190)}`).length <= 255);
    assert.match(policyChain('ingress', 'gnp/with space'), /^pi_/);
  });
});
