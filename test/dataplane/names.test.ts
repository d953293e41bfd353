import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { interfaceChain, ipSetName, policyChain, setType, shortHash } from '../../src/dataplane/nftables/names.ts';

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

  it('property: a short hash is the first 16 hex digits of the SHA-256 of the text\'s UTF-8, as one flat string', () => {
    const expected = (t: string): string => createHash('sha256').update(t, 'utf8').digest('hex').slice(0, 16);
    for (const t of ['', 'a', 'jump pi-np/ns-0/policy-0\ntier default np/ns-0/policy-0', 'ü€😀', '\u0000\u00ff']) assert.equal(shortHash(t), expected(t));
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (t) => {
        const h = shortHash(t);
        assert.equal(h, expected(t));
        assert.match(h, /^[0-9a-f]{16}$/);
      }),
      { numRuns: 2000 },
    );
  });
});
