/**
 * The resident margay-netlink helper against the real kernel, in throwaway namespaces: a "host"
 * namespace where the helper lives and a "container" namespace it enters per request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NetlinkHelper } from '../../src/dataplane/netlink-helper.ts';
import { ensureClient, NETLINK_HELPER_BINARY } from '../cni/binary.ts';
import { run, useTestNetns, vethPair } from '../harness/netns.ts';

interface Addr {
  ifname: string;
  flags: string[];
  addr_info: { family: string; local: string; prefixlen: number }[];
}

describe('margay-netlink helper', () => {
  const ns = useTestNetns(2);
  let helper: NetlinkHelper;
  const host = () => ns.all[0]!;
  const container = () => ns.all[1]!;
  const path = () => `/run/netns/${container().name}`;

  before(() => {
    ensureClient();
    helper = new NetlinkHelper({ binary: NETLINK_HELPER_BINARY, netns: `/run/netns/${host().name}`, timeoutMs: 10_000 });
  });
  after(() => helper?.close());

  const show = async (what: string[], family = '-4'): Promise<string> => (await run('ip', ['-n', container().name, family, ...what])).stdout;

  test('configures the container side: /32 and /128 without DAD, link up, gateway and default routes; again is no error', async () => {
    await vethPair(host(), container(), { nameA: 'calinl1', nameB: 'eth0', up: false });
    for (let i = 0; i < 2; i++) await helper.configureContainer(path(), 'eth0', ['10.9.0.5'], ['fd00::5']);
    const [link] = JSON.parse((await run('ip', ['-n', container().name, '-j', 'addr', 'show', 'dev', 'eth0'])).stdout) as Addr[];
    assert.ok(link!.flags.includes('UP'));
    const addrs = link!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
    assert.ok(addrs.includes('10.9.0.5/32') && addrs.includes('fd00::5/128'), addrs.join(' '));
    assert.match(await show(['route', 'show']), /^default via 169\.254\.1\.1 dev eth0/m);
    assert.match(await show(['route', 'show']), /^169\.254\.1\.1 dev eth0 scope link/m);
    assert.match(await show(['route', 'show'], '-6'), /^default via fe80::ecee:eeff:feee:eeee dev eth0/m);
    assert.match((await run('ip', ['-n', container().name, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout, /fd00::5\/128 scope global nodad/);
  });

  test('IPv4 only: no IPv6 default route; an IPv6-only attachment gets no IPv4 routes', async () => {
    await vethPair(host(), container(), { nameA: 'calinl2', nameB: 'eth4', up: false });
    await helper.configureContainer(path(), 'eth4', ['10.9.0.6'], []);
    assert.doesNotMatch(await show(['route', 'show', 'dev', 'eth4'], '-6'), /default/);
    await vethPair(host(), container(), { nameA: 'calinl3', nameB: 'eth6', up: false });
    await helper.configureContainer(path(), 'eth6', [], ['fd00::6']);
    assert.equal((await show(['route', 'show', 'dev', 'eth6'])).trim(), '');
    assert.match(await show(['route', 'show', 'dev', 'eth6'], '-6'), /default via fe80::ecee:eeff:feee:eeee/);
  });

  test('names what failed: a missing interface, a missing namespace, a bad address, a field with a tab', async () => {
    await assert.rejects(helper.configureContainer(path(), 'nosuch0', ['10.9.0.7'], []), /nosuch0: No such device/);
    await assert.rejects(helper.configureContainer('/run/netns/margay-no-such-ns', 'eth0', ['10.9.0.7'], []), /cannot enter the network namespace/);
    await assert.rejects(helper.configureContainer(path(), 'eth0', ['10.9.0.300'], []), /bad address/);
    await assert.rejects(helper.configureContainer(path(), 'eth\t0', ['10.9.0.7'], []), /tab or newline/);
    // The helper is still in the host namespace and serving.
    await helper.writeSysctls([['net/ipv4/conf/calinl1/proxy_arp', '1']]);
  });

  test('deletes an interface (its host peer goes too); gone interface or namespace is false', async () => {
    await vethPair(host(), container(), { nameA: 'calinl4', nameB: 'eth9' });
    assert.equal(await helper.deleteInterface(path(), 'eth9'), true);
    const links = (await run('ip', ['-n', host().name, '-o', 'link', 'show'])).stdout;
    assert.doesNotMatch(links, /calinl4/);
    assert.equal(await helper.deleteInterface(path(), 'eth9'), false);
    assert.equal(await helper.deleteInterface('/run/netns/margay-no-such-ns', 'eth9'), false);
  });

  test('writes sysctls in the host namespace only, and refuses paths outside /proc/sys', async () => {
    await vethPair(host(), container(), { nameA: 'calinl5', nameB: 'eth5' });
    const read = async (n: string, key: string) => (await run('ip', ['netns', 'exec', n, 'cat', `/proc/sys/${key}`])).stdout.trim();
    await helper.writeSysctls([
      ['net/ipv4/conf/calinl5/proxy_arp', '1'],
      ['net/ipv4/neigh/calinl5/proxy_delay', '0'],
    ]);
    assert.equal(await read(host().name, 'net/ipv4/conf/calinl5/proxy_arp'), '1');
    assert.equal(await read(host().name, 'net/ipv4/neigh/calinl5/proxy_delay'), '0');
    // eth5 lives in the container's namespace, not in the helper's.
    await assert.rejects(helper.writeSysctls([['net/ipv4/conf/eth5/proxy_arp', '1']]), /No such file/);
    assert.equal(await read(container().name, 'net/ipv4/conf/eth5/proxy_arp'), '0');
    await assert.rejects(helper.writeSysctls([['net/../../etc/hostname', 'x']]), /bad sysctl path/);
  });
});
