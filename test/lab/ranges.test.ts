/** The lab's ranges: chosen from what the machine's own namespace has, or refused. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasCode } from '../../src/errors/mod.ts';
import { probe, probeMany } from '../../src/lab/lab.ts';
import { addressNetworks, chooseLabRanges, FABRIC6_CANDIDATES, nthAddress, routeNetworks, SEGMENT_CANDIDATES, type UsedNetwork } from '../../src/lab/ranges.ts';

// What `ip -j addr` and `ip -j route show table all` print on a machine whose uplink is
// 192.0.2.0/24 with fd00::/64 (this project's build machine), trimmed to the fields read.
const ADDR = JSON.stringify([
  { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }, { family: 'inet6', local: '::1', prefixlen: 128 }] },
  { ifname: 'ifb0', addr_info: [] },
  { ifname: 'eth0', addr_info: [{ family: 'inet', local: '192.0.2.2', prefixlen: 24 }, { family: 'inet6', local: 'fd00::2', prefixlen: 64 }, { family: 'inet6', local: 'fe80::fc:ff:fe00:1', prefixlen: 64 }] },
]);
const ROUTES4 = JSON.stringify([
  { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
  { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
  { type: 'local', dst: '127.0.0.0/8', dev: 'lo', table: 'local' },
  { type: 'local', dst: '192.0.2.2', dev: 'eth0', table: 'local' },
  { type: 'broadcast', dst: '192.0.2.255', dev: 'eth0', table: 'local' },
]);
const ROUTES6 = JSON.stringify([
  { dst: 'fd00::/64', dev: 'eth0' },
  { dst: 'default', gateway: 'fd00::1', dev: 'eth0' },
  { type: 'multicast', dst: 'ff00::/8', dev: 'eth0', table: 'local' },
]);
const machine = (): UsedNetwork[] => [...addressNetworks(ADDR), ...routeNetworks(ROUTES4), ...routeNetworks(ROUTES6)];

const NEEDS_ALL = { router: true, ipv6: true };

describe('lab ranges - what the machine has', () => {
  test('interface addresses as their networks, routes as their destinations, defaults left out', () => {
    const used = machine();
    assert.ok(used.some((u) => u.cidr === '192.0.2.0/24' && u.what === 'eth0 address 192.0.2.2/24'));
    assert.ok(used.some((u) => u.cidr === '192.0.2.2/32' && u.what === 'local route 192.0.2.2 dev eth0 table local'), 'host routes are /32');
    assert.ok(used.some((u) => u.cidr === 'fd00::/64' && u.what === 'route fd00::/64 dev eth0'));
    assert.ok(!used.some((u) => u.what.includes('default')), 'no default route');
    assert.deepEqual(addressNetworks(''), []);
    assert.deepEqual(routeNetworks('[]'), []);
  });
});

describe('lab ranges - the choice', () => {
  test('a machine with nothing in the way gets the first candidates', () => {
    assert.deepEqual(chooseLabRanges([], NEEDS_ALL), { fabric: '192.0.2.0/24', pool4: '10.244.0.0/16', second: '198.51.100.0/24', fabric6: '2001:db8::/64', pool6: 'fd00:10:244::/48', second6: '2001:db8:1::/64' });
    assert.deepEqual(chooseLabRanges([], { router: false, ipv6: false }), { fabric: '192.0.2.0/24', pool4: '10.244.0.0/16' }, 'only what the options need');
  });

  test('a machine on 192.0.2.0/24 (this one): the fabric moves, the segments stay apart', () => {
    assert.deepEqual(chooseLabRanges(machine(), NEEDS_ALL), { fabric: '198.51.100.0/24', pool4: '10.244.0.0/16', second: '203.0.113.0/24', fabric6: '2001:db8::/64', pool6: 'fd00:10:244::/48', second6: '2001:db8:1::/64' });
  });

  test('any overlap counts: a wider route, a host route, a route in another table, an IPv6 route', () => {
    const used: UsedNetwork[] = [
      { cidr: '192.0.0.0/16', what: 'route 192.0.0.0/16 dev vpn0' },
      { cidr: '198.51.100.7/32', what: 'route 198.51.100.7 dev tun0' },
      { cidr: '203.0.113.0/25', what: 'route 203.0.113.0/25 dev eth1 table 100' },
      { cidr: '10.0.0.0/8', what: 'route 10.0.0.0/8 dev k8s0' },
      { cidr: '2001:db8::/48', what: 'route 2001:db8::/48 dev eth2' },
      { cidr: 'fd00:10:244::/48', what: 'route fd00:10:244::/48 dev flannel' },
      { cidr: '0.0.0.0/0', what: 'unreachable route 0.0.0.0/0' },
    ];
    assert.deepEqual(chooseLabRanges(used, NEEDS_ALL), { fabric: '198.18.0.0/24', pool4: '172.28.0.0/16', second: '198.18.1.0/24', fabric6: '2001:db8:1::/64', pool6: 'fd00:10:245::/48', second6: '2001:db8:2::/64' });
  });

  test('refused when every candidate is taken, naming the purpose and what is in the way', () => {
    const used: UsedNetwork[] = [
      { cidr: '192.0.0.0/8', what: 'route 192.0.0.0/8 dev a' },
      { cidr: '198.0.0.0/8', what: 'route 198.0.0.0/8 dev b' },
      { cidr: '203.0.113.0/24', what: 'eth9 address 203.0.113.5/24' },
    ];
    assert.throws(
      () => chooseLabRanges(used, { router: false, ipv6: false }),
      (err: unknown) => {
        assert.ok(hasCode(err, 'MARGAY_ERR_LAB_NO_FREE_RANGE'), String(err));
        assert.match(err.message, /^no free range for the lab's host fabric: every candidate overlaps an address or route of this machine \(192\.0\.2\.0\/24 overlaps route 192\.0\.0\.0\/8 dev a; 198\.51\.100\.0\/24 overlaps route 198\.0\.0\.0\/8 dev b; 203\.0\.113\.0\/24 overlaps eth9 address 203\.0\.113\.5\/24; and 512 more candidate\(s\)\); the lab was not started$/);
        return true;
      },
    );
    // The second segment is refused on its own when the fabric took the last free candidate.
    const oneLeft = SEGMENT_CANDIDATES.slice(1).map((c) => ({ cidr: c, what: `route ${c}` }));
    assert.equal(chooseLabRanges(oneLeft, { router: false, ipv6: false }).fabric, '192.0.2.0/24');
    assert.throws(() => chooseLabRanges(oneLeft, { router: true, ipv6: false }), /no free range for the lab's second segment \(--router\): .*192\.0\.2\.0\/24 overlaps the lab's host fabric/);
    assert.throws(() => chooseLabRanges([{ cidr: '2001:db8::/32', what: 'route 2001:db8::/32' }], NEEDS_ALL), /IPv6 host fabric \(--ipv6\)/);
  });

  test('the candidates are documentation and benchmarking ranges', () => {
    assert.deepEqual(SEGMENT_CANDIDATES.slice(0, 4), ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24', '198.18.0.0/24']);
    assert.equal(SEGMENT_CANDIDATES.at(-1), '198.19.255.0/24');
    assert.deepEqual(FABRIC6_CANDIDATES.slice(0, 2), ['2001:db8::/64', '2001:db8:1::/64']);
    assert.equal(nthAddress('198.51.100.0/24', 11), '198.51.100.11/24');
    assert.equal(nthAddress('2001:db8:1::/64', 11), '2001:db8:1::b/64');
  });
});

describe('lab probes - only from lab namespaces', () => {
  test("a probe from the machine's own namespace or another one is refused before anything runs", async () => {
    for (const netns of ['', 'other-ns']) {
      await assert.rejects(probe(netns, '192.0.2.11', { port: 80, protocol: 'tcp' }), (err: unknown) => hasCode(err, 'MARGAY_ERR_USAGE') && /probes run only inside the lab's namespaces \(mgl-\*\)/.test(err.message));
      await assert.rejects(probeMany(netns, [{ address: '192.0.2.11', port: { port: 80, protocol: 'tcp' } }]), /probes run only inside the lab's namespaces/);
    }
  });
});
