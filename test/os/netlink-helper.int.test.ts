/**
 * The resident margay-netlink helper against the real kernel, in throwaway namespaces: a "host"
 * namespace where the helper lives and a "container" namespace it enters per request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NetlinkHelper } from '../../src/os/mod.ts';
import { GATEWAY_V4, GATEWAY_V6 } from '../../src/cni/plumbing.ts';
import { encodeElementBatch } from '../../src/dataplane/nftables/netlink-batch.ts';
import { ensureClient, helperWithFdLimit, NETLINK_HELPER_BINARY } from '../cni/binary.ts';
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

  const gw = { ipv4: GATEWAY_V4, ipv6: GATEWAY_V6 };
  const show = async (what: string[], family = '-4'): Promise<string> => (await run('ip', ['-n', container().name, family, ...what])).stdout;

  test('configures the container side: /32 and /128 without DAD, link up, gateway and default routes; again is no error', async () => {
    await vethPair(host(), container(), { nameA: 'calinl1', nameB: 'eth0', up: false });
    for (let i = 0; i < 2; i++) await helper.configureContainer(path(), 'eth0', { ipv4: ['10.9.0.5'], ipv6: ['fd00::5'] }, gw);
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
    await helper.configureContainer(path(), 'eth4', { ipv4: ['10.9.0.6'], ipv6: [] }, gw);
    assert.doesNotMatch(await show(['route', 'show', 'dev', 'eth4'], '-6'), /default/);
    await vethPair(host(), container(), { nameA: 'calinl3', nameB: 'eth6', up: false });
    await helper.configureContainer(path(), 'eth6', { ipv4: [], ipv6: ['fd00::6'] }, gw);
    assert.equal((await show(['route', 'show', 'dev', 'eth6'])).trim(), '');
    assert.match(await show(['route', 'show', 'dev', 'eth6'], '-6'), /default via fe80::ecee:eeff:feee:eeee/);
  });

  test('names what failed: a missing interface, a missing namespace, a bad address, a field with a tab', async () => {
    await assert.rejects(helper.configureContainer(path(), 'nosuch0', { ipv4: ['10.9.0.7'], ipv6: [] }, gw), /nosuch0: No such device/);
    await assert.rejects(helper.configureContainer('/run/netns/margay-no-such-ns', 'eth0', { ipv4: ['10.9.0.7'], ipv6: [] }, gw), /cannot enter the network namespace/);
    await assert.rejects(helper.configureContainer(path(), 'eth0', { ipv4: ['10.9.0.300'], ipv6: [] }, gw), /bad address/);
    await assert.rejects(helper.configureContainer(path(), 'eth\t0', { ipv4: ['10.9.0.7'], ipv6: [] }, gw), /tab or newline/);
    await assert.rejects(helper.configureContainer('/etc/hostname', 'eth0', { ipv4: ['10.9.0.7'], ipv6: [] }, gw), /cannot enter the network namespace: Invalid argument/, 'not a network namespace');
    await assert.rejects(helper.configureContainer(path(), 'eth0', { ipv4: ['10.9.0.7'], ipv6: [] }, { ipv4: 'nonsense', ipv6: GATEWAY_V6 }), /bad IPv4 gateway/);
    // The helper is still in the host namespace and serving.
    await helper.writeSysctls([['net/ipv4/conf/calinl1/proxy_arp', '1']]);
  });

  test('refuses malformed requests one by one and keeps serving', async () => {
    const input = [
      'a\tup\t/run/netns/x\teth0',
      'b\tsysctl\tnet/ipv4/ip_forward\t1\textra',
      'c\tbogus',
      'd',
      `t${'\tx'.repeat(9)}`,
      'f\tsysctl\tnet/../../etc/hostname\tx',
      'e\tsysctl\tnet/ipv4/conf/lo/forwarding\t1',
    ].join('\n');
    const r = await run('nsenter', [`--net=/run/netns/${host().name}`, NETLINK_HELPER_BINARY], { input: `${input}\n` });
    assert.deepEqual(r.stderr.trim().split('\n'), [
      'a err unknown request or wrong number of fields: Invalid argument',
      'b err unknown request or wrong number of fields: Invalid argument',
      'c err unknown request or wrong number of fields: Invalid argument',
      'd err unknown request or wrong number of fields: Invalid argument',
      't err too many fields: Invalid argument',
      'f err bad sysctl path: Invalid argument',
      'e ok',
    ]);
  });

  test('deletes an interface (its host peer goes too); gone interface or namespace is false', async () => {
    await vethPair(host(), container(), { nameA: 'calinl4', nameB: 'eth9' });
    assert.equal(await helper.deleteInterface(path(), 'eth9'), true);
    const links = (await run('ip', ['-n', host().name, '-o', 'link', 'show'])).stdout;
    assert.doesNotMatch(links, /calinl4/);
    assert.equal(await helper.deleteInterface(path(), 'eth9'), false);
    assert.equal(await helper.deleteInterface('/run/netns/margay-no-such-ns', 'eth9'), false);
  });

  test("deletes an interface of its own (the host's) namespace by name, the peer with it; none of that name is false", async () => {
    await vethPair(host(), container(), { nameA: 'calinl9', nameB: 'eth10' });
    assert.equal(await helper.deleteHostInterface('calinl9'), true);
    assert.doesNotMatch((await run('ip', ['-n', host().name, '-o', 'link', 'show'])).stdout, /calinl9/);
    assert.doesNotMatch((await run('ip', ['-n', container().name, '-o', 'link', 'show'])).stdout, /eth10/);
    assert.equal(await helper.deleteHostInterface('calinl9'), false);
    // The container's own interface of that name is not the host's to delete.
    await vethPair(host(), container(), { nameA: 'calinl10', nameB: 'calinl11' });
    assert.equal(await helper.deleteHostInterface('calinl11'), false);
    assert.match((await run('ip', ['-n', container().name, '-o', 'link', 'show'])).stdout, /calinl11/);
  });

  test('an interface lookup that fails for another reason than a missing interface is an error, not "gone"', async () => {
    // With five descriptors (0-2, the host namespace, the netlink socket) if_nametoindex has no
    // room for its own socket (EMFILE; glibc reports ENOENT), which must not read as "nothing to delete".
    const input = [`b\tdel\t${path()}\tnosuch3`, 'a\thostdel\tnosuch3', 'c\thostup\tnosuch3'].join('\n');
    const r = await run('prlimit', ['--nofile=5', 'nsenter', `--net=/run/netns/${host().name}`, NETLINK_HELPER_BINARY], { input: `${input}\n` });
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 3, r.stderr);
    for (const [i, id] of ['b', 'a', 'c'].entries()) assert.match(lines[i]!, new RegExp(`^${id} err interface lookup: `));
  });

  test('its caller takes a failed lookup of an existing interface as an error, never as "gone", and nothing is deleted', async () => {
    await vethPair(host(), container(), { nameA: 'calinl12', nameB: 'eth12' });
    const dir = mkdtempSync(join(tmpdir(), 'margay-nofile-'));
    // The real helper, out of descriptors for the lookup's socket (see the test above).
    const starved = new NetlinkHelper({ binary: helperWithFdLimit(dir, 5), netns: `/run/netns/${host().name}`, timeoutMs: 10_000 });
    try {
      // "gone" would resolve false (nothing to delete): the CNI's DEL would then release the addresses.
      await assert.rejects(starved.deleteInterface(path(), 'eth12'), /^Error: interface lookup: /);
      await assert.rejects(starved.deleteHostInterface('calinl12'), /^Error: interface lookup: /);
      const [together] = await starved.deleteTogether(0x4d47fffe, [{ netns: path(), ifname: 'eth12', hostIfname: 'calinl12' }]);
      assert.ok(typeof together === 'object', `an error, not ${JSON.stringify(together)}`);
      assert.match((await run('ip', ['-n', host().name, '-o', 'link', 'show'])).stdout, /calinl12/);
      assert.match((await run('ip', ['-n', container().name, '-o', 'link', 'show'])).stdout, /eth12/);
      // With descriptors to spare the same request deletes it: the limit was the only cause.
      assert.equal(await helper.deleteInterface(path(), 'eth12'), true);
      assert.doesNotMatch((await run('ip', ['-n', host().name, '-o', 'link', 'show'])).stdout, /calinl12/);
    } finally {
      starved.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a batch or stream whose message lengths cannot be is refused at once (no spin on a wrapping length, no wait for gigabytes)', async () => {
    const own = new NetlinkHelper({ binary: NETLINK_HELPER_BINARY, netns: `/run/netns/${host().name}`, timeoutMs: 5_000 });
    const dir = mkdtempSync(join(tmpdir(), 'margay-nlstream-'));
    try {
      // A batch-begin header (type 0x10) claiming `len` bytes, then a little more.
      const header = (len: number): Buffer => {
        const b = Buffer.alloc(32);
        b.writeUInt32LE(len, 0);
        b.writeUInt16LE(0x10, 4);
        return b;
      };
      await assert.rejects(own.applyNftBatch(header(0xfffffffd)), /nftables batch: Invalid argument/, 'wraps NLMSG_ALIGN to 0');
      await assert.rejects(own.applyNftBatch(header(0x1000)), /nftables batch: Invalid argument/, 'longer than the batch');
      for (const [len, why] of [
        [0xfffffffd, /bad message length 4294967293: Message too long/],
        [0x7ffffff0, /bad message length 2147483632: Message too long/],
        [8, /bad message length 8: Invalid argument/],
      ] as const) {
        const file = join(dir, `s${len}`);
        writeFileSync(file, header(len));
        await assert.rejects(own.streamNftBatches(file), why);
      }
      // Still serving.
      await own.writeSysctls([['net/ipv4/conf/lo/forwarding', '1']]);
    } finally {
      own.close();
      rmSync(dir, { recursive: true, force: true });
    }
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
    await assert.rejects(helper.writeSysctls([['net/../../etc/hostname', 'x']]), /not valid/);
  });

  test('a veth in one request (host end up with its sysctls, peer in the container), then routes and the container side in one', async () => {
    const host1 = { ifname: 'calinl6', mac: 'ee:ee:ee:ee:ee:ee', mtu: 1440 };
    const failed = await helper.createVeth(host1, { ifname: 'eth7', mac: '02:00:00:00:00:07', netns: path() }, [['net/ipv4/conf/calinl6/proxy_arp', '1']]);
    assert.deepEqual([...failed], []);
    const [h] = JSON.parse((await run('ip', ['-n', host().name, '-j', 'link', 'show', 'dev', 'calinl6'])).stdout) as { flags: string[]; address: string; mtu: number }[];
    assert.ok(h!.flags.includes('UP'));
    assert.equal(h!.address, 'ee:ee:ee:ee:ee:ee');
    assert.equal(h!.mtu, 1440);
    const [c] = JSON.parse((await run('ip', ['-n', container().name, '-j', 'link', 'show', 'dev', 'eth7'])).stdout) as { address: string; mtu: number }[];
    assert.equal(c!.address, '02:00:00:00:00:07');
    assert.equal(c!.mtu, 1440);
    assert.equal((await run('ip', ['netns', 'exec', host().name, 'cat', '/proc/sys/net/ipv4/conf/calinl6/proxy_arp'])).stdout.trim(), '1');
    // The name is taken now: the veth fails, and so does what followed it.
    const again = await helper.createVeth(host1, { ifname: 'eth8', mac: '02:00:00:00:00:08', netns: path() }, []);
    assert.match(again.get('veth') ?? '', /File exists/);

    await helper.configureAttachment('calinl6', 77, [], { netns: path(), ifname: 'eth7' }, { ipv4: ['10.9.0.8'], ipv6: [] }, gw);
    assert.match((await run('ip', ['-n', host().name, 'route', 'show', 'dev', 'calinl6'])).stdout, /^10\.9\.0\.8 proto 77 scope link/m);
    assert.match(await show(['addr', 'show', 'dev', 'eth7']), /10\.9\.0\.8\/32/);
    await assert.rejects(helper.configureAttachment('nosuch1', 77, [], { netns: path(), ifname: 'eth7' }, { ipv4: ['10.9.0.9'], ipv6: [] }, gw), /No such device/);
  });

  test('host routes that must be new leave another interface\'s route to the address alone ("File exists"); plain ones replace it', async () => {
    for (const [ifname, peer, mac] of [['calinx1', 'eth11', '02:00:00:00:00:11'], ['calinx2', 'eth12', '02:00:00:00:00:12']] as const) {
      const failed = await helper.createVeth({ ifname, mac: 'ee:ee:ee:ee:ee:ee', mtu: 1500 }, { ifname: peer, mac, netns: path() }, []);
      assert.deepEqual([...failed], []);
    }
    const addrs = { ipv4: ['10.9.1.1'], ipv6: ['fd00:9::1'] };
    const routeDev = async (family: string, dst: string): Promise<string> => {
      const [r] = JSON.parse((await run('ip', ['-n', host().name, '-j', family, 'route', 'show', dst])).stdout) as { dev: string }[];
      return r?.dev ?? 'none';
    };
    await helper.configureAttachment('calinx1', 77, [], { netns: path(), ifname: 'eth11' }, addrs, gw, { newRoutes: true });
    assert.equal(await routeDev('-4', '10.9.1.1'), 'calinx1', 'new routes go in where there is none');
    await assert.rejects(
      helper.configureAttachment('calinx2', 77, [], { netns: path(), ifname: 'eth12' }, addrs, gw, { newRoutes: true }),
      /File exists/,
    );
    assert.equal(await routeDev('-4', '10.9.1.1'), 'calinx1', 'the IPv4 route stays with the interface that had it');
    assert.equal(await routeDev('-6', 'fd00:9::1'), 'calinx1', 'and the IPv6 route');
    await helper.configureAttachment('calinx2', 77, [], { netns: path(), ifname: 'eth12' }, addrs, gw);
    assert.equal(await routeDev('-4', '10.9.1.1'), 'calinx2', 'plain host routes replace');
    assert.equal(await routeDev('-6', 'fd00:9::1'), 'calinx2');
  });

  test('deletes veths together as one group; an interface whose peer is not the named host end is left alone', async () => {
    await vethPair(host(), container(), { nameA: 'calinl7', nameB: 'etha' });
    await vethPair(host(), container(), { nameA: 'calinl8', nameB: 'ethb' });
    await vethPair(host(), container(), { nameA: 'calinl9', nameB: 'ethc' });
    const out = await helper.deleteTogether(0x4d47ffff, [
      { netns: path(), ifname: 'etha', hostIfname: 'calinl7' },
      { netns: path(), ifname: 'ethb', hostIfname: 'calinl8' },
      { netns: path(), ifname: 'ethc', hostIfname: 'calinl7' },
      { netns: path(), ifname: 'nosuch2', hostIfname: 'calinl7' },
      { netns: '/run/netns/margay-no-such-ns', ifname: 'etha', hostIfname: 'calinl7' },
    ]);
    assert.deepEqual(out.slice(0, 2), ['deleted', 'deleted']);
    assert.ok(typeof out[2] === 'object' && /No such process/.test(out[2].error), JSON.stringify(out[2]));
    assert.deepEqual(out.slice(3), ['gone', 'gone']);
    const links = (await run('ip', ['-n', host().name, '-o', 'link', 'show'])).stdout;
    assert.doesNotMatch(links, /calinl7|calinl8/);
    assert.match(links, /calinl9/);
    assert.match((await run('ip', ['-n', container().name, '-o', 'link', 'show'])).stdout, /ethc/);
  });

  test('a batch of 3,000 messages (more acknowledgements than the socket buffer holds by default) is reported applied', async () => {
    const nft = (args: string[]) => run('ip', ['netns', 'exec', host().name, 'nft', ...args]);
    await nft(['add table inet acks; add set inet acks s { type ipv4_addr; }']);
    const ops = Array.from({ length: 3000 }, (_, i) => ({
      verb: 'add' as const,
      set: 's',
      keyType: 'ipv4_addr',
      flags: [],
      elements: [{ key: `10.77.${i >> 8}.${i & 255}` }],
    }));
    await helper.applyNftBatch(encodeElementBatch('acks', ops)!);
    const listed = JSON.parse((await nft(['-j', 'list', 'set', 'inet', 'acks', 's'])).stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
    assert.equal(listed.nftables.find((o) => o.set)?.set?.elem?.length, 3000);
    // A refused batch is still reported, and changes nothing.
    const refused = encodeElementBatch('acks', [{ verb: 'add', set: 's', keyType: 'ipv4_addr', flags: [], elements: [{ key: '10.78.0.1' }] }, { verb: 'delete', set: 's', keyType: 'ipv4_addr', flags: [], elements: [{ key: '10.79.0.1' }] }])!;
    await assert.rejects(helper.applyNftBatch(refused), /No such file or directory|ENOENT/);
    assert.doesNotMatch((await nft(['list', 'set', 'inet', 'acks', 's'])).stdout, /10\.78\.0\.1/);
    await nft(['delete table inet acks']);
  });
});
