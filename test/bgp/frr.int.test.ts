/**
 * Interop with FRR standing in for the data-centre router:
 *  - eBGP with a TCP-MD5 password (from a secret): the router learns the hosts' blocks and
 *    reaches pods; a host whose password does not match never gets a session;
 *  - BGP unnumbered: a host peers with a router over an interface that has only IPv6 link-local
 *    addresses (`neighbor IFACE interface remote-as external` on FRR, BIRD dynamic BGP on the
 *    host), IPv4 routes carried with extended next hop (RFC 5549);
 *  - what BIRD 2.0.12 can and cannot do there: an active session to a router's known link-local
 *    address works (with router advertisements); without router advertisements FRR never learns
 *    BIRD's address, and BIRD cannot discover FRR's, so no session ever comes up.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { bgpPeers, parseProtocols } from '../../src/bgp/bird-status.ts';
import { createTestNetns, run, type TestNetns, vethPair } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { createUplinkRouter, type Frr, frrAvailable, gatewaysOf, nsRoutes, startFrr, UPLINK_ROUTER_BGPD } from './frr.ts';
import { configFor, createFabric, type Fabric, nodesOf, resource, routeTo, startBird } from './topology.ts';

describe('bgp with FRR as the data-centre router', () => {
  let fab: Fabric;
  let tor: TestNetns;
  let uplinkRouter: TestNetns;
  let frr: Frr;
  let frr2: Frr;
  let edge: TestNetns;
  let frr3: Frr;
  let torEstablishedMs = 0;
  let unnumberedEstablishedMs = 0;
  let birdStartedAt = 0;

  before(async () => {
    // Missing FRR fails the suite, naming it: a skipped test would pass for nothing.
    assert.ok(frrAvailable(), 'FRR is not installed (scripts/install-deps.sh installs it)');
    fab = await createFabric(3);
    const [h1, h2, h3] = fab.hosts as [NonNullable<Fabric['hosts'][0]>, NonNullable<Fabric['hosts'][0]>, NonNullable<Fabric['hosts'][0]>];
    // The ToR router on the fabric, AS 64513, with a network of its own (10.9.9.9 on lo).
    tor = await createTestNetns('mgb');
    await vethPair(tor, fab.fabric, { nameA: 'eth0', nameB: 'ptor', addressA: '192.0.2.1/24' });
    await run('ip', ['-n', fab.fabric.name, 'link', 'set', 'ptor', 'master', 'br0']);
    await tor.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    await run('ip', ['-n', tor.name, 'addr', 'add', '10.9.9.9/32', 'dev', 'lo']);
    frr = await startFrr(tor, {
      bgpd: [
        'frr defaults datacenter',
        'router bgp 64513',
        ' bgp router-id 192.0.2.1',
        ' no bgp ebgp-requires-policy',
        ...[h1, h2, h3].flatMap((h) => [
          ` neighbor ${h.ip} remote-as 64512`,
          ` neighbor ${h.ip} password ${h === h3 ? 'not-the-secret' : 's3cr3t-Pa55'}`,
          ` neighbor ${h.ip} timers connect 1`,
        ]),
        ' address-family ipv4 unicast',
        '  redistribute connected',
        ' exit-address-family',
        '',
      ].join('\n'),
    });
    // An uplink router for h1 over a link without IPv4 addresses (BGP unnumbered), AS 65001.
    uplinkRouter = await createUplinkRouter(h1.ns);
    frr2 = await startFrr(uplinkRouter, {
      bgpd: [
        ...UPLINK_ROUTER_BGPD,
        ' neighbor swp1 timers connect 1',
        ' address-family ipv4 unicast',
        '  redistribute connected',
        ' exit-address-family',
        ' address-family ipv6 unicast',
        '  neighbor swp1 activate',
        ' exit-address-family',
        '',
      ].join('\n'),
    });

    // A second router, unnumbered towards h2 (BIRD connects to its known link-local address)
    // and h3 (BIRD passive, router advertisements removed from its configuration).
    edge = await createTestNetns('mgb');
    await vethPair(h2.ns, edge, { nameA: 'uplink0', nameB: 'swp2' });
    await vethPair(h3.ns, edge, { nameA: 'uplink0', nameB: 'swp3' });
    await edge.exec('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    await run('ip', ['-n', edge.name, 'addr', 'add', '10.7.7.7/32', 'dev', 'lo']);
    frr3 = await startFrr(edge, {
      bgpd: [
        'frr defaults datacenter',
        'router bgp 65002',
        ' bgp router-id 10.7.7.7',
        ' no bgp ebgp-requires-policy',
        ' neighbor swp2 interface remote-as external',
        ' neighbor swp3 interface remote-as external',
        ' address-family ipv4 unicast',
        '  redistribute connected',
        ' exit-address-family',
        '',
      ].join('\n'),
    });
    const edgeLinkLocal = await eventually(async () => {
      const info = JSON.parse((await run('ip', ['-n', edge.name, '-j', '-6', 'addr', 'show', 'dev', 'swp2'])).stdout) as { addr_info: { local: string; scope: string }[] }[];
      const ll = info[0]?.addr_info.find((a) => a.scope === 'link')?.local;
      assert.ok(ll, 'swp2 has a link-local address');
      return ll;
    });

    const snapshot = {
      bgpConfigurations: [resource('BGPConfiguration', 'default', { asNumber: 64512 })],
      nodes: nodesOf(fab.hosts),
      peers: [
        resource('BGPPeer', 'tor', { peerIP: '192.0.2.1', asNumber: 64513, password: { secretKeyRef: { name: 'bgp-secrets', key: 'tor' } } }),
        resource('BGPPeer', 'uplink', { node: 'h1' }, { annotations: { 'margay.io/peer-interface': 'uplink0' } }),
        resource('BGPPeer', 'edge-h2', { node: 'h2', peerIP: edgeLinkLocal, asNumber: 65002 }, { annotations: { 'margay.io/peer-interface': 'uplink0' } }),
        resource('BGPPeer', 'edge-h3', { node: 'h3' }, { annotations: { 'margay.io/peer-interface': 'uplink0' } }),
      ],
      filters: [],
      pools: [resource('IPPool', 'pool4', { cidr: '10.244.0.0/16' })],
      secrets: (ref: { name?: string; key: string }) => (ref.name === 'bgp-secrets' && ref.key === 'tor' ? 's3cr3t-Pa55' : undefined),
    };
    const t0 = Date.now();
    birdStartedAt = t0;
    const withoutRadv = (text: string) => text.replace(/\nprotocol radv margay_radv \{[^]*?\n\}\n/, '\n');
    await Promise.all(fab.hosts.map((h) => startBird(h, h === h3 ? withoutRadv(configFor(h, snapshot)) : configFor(h, snapshot))));
    const established = async (name: string) =>
      bgpPeers(parseProtocols((await h1.bird!.command('show protocols all')).text)).find((p) => p.protocol.startsWith(name))?.info === 'Established';
    await Promise.all([
      eventually(async () => assert.ok(await established('Global_192_0_2_1'), 'Global_192_0_2_1 established'), { timeoutMs: 20_000, intervalMs: 50 }).then(() => (torEstablishedMs = Date.now() - t0)),
      eventually(async () => assert.ok(await established('Iface_uplink0_'), 'Iface_uplink0_ established'), { timeoutMs: 30_000, intervalMs: 50 }).then(() => (unnumberedEstablishedMs = Date.now() - t0)),
    ]);
    console.log(`# FRR: eBGP+MD5 session Established ${torEstablishedMs} ms after BIRD started; unnumbered session ${unnumberedEstablishedMs} ms`);
  });
  after(async () => {
    await frr?.stop();
    await frr2?.stop();
    await frr3?.stop();
    await edge?.delete();
    await tor?.delete();
    await uplinkRouter?.delete();
    await fab?.destroy();
  });

  it('renders the TCP-MD5 password from the secret', () => {
    const conf = readFileSync(fab.hosts[0]!.bird!.configPath, 'utf8');
    assert.match(conf, /protocol bgp Global_192_0_2_1 from margay_peer \{[^}]*password "s3cr3t-Pa55";/s);
  });

  it('the router learns the blocks of the hosts whose password matches, and reaches their pods', async () => {
    const [h1, h2, h3] = fab.hosts;
    // Each block reaches the router from its owner; with the mesh on, the other host also
    // announces it (transit, next hop self, as Calico does), so FRR may spread it over both.
    await eventually(async () => {
      const routes = await nsRoutes(tor);
      assert.ok(gatewaysOf(routes.find((r) => r.dst === h1!.block)).includes(h1!.ip), JSON.stringify(routes));
      assert.ok(gatewaysOf(routes.find((r) => r.dst === h2!.block)).includes(h2!.ip), JSON.stringify(routes));
    });
    const summary = await frr.json<{ ipv4Unicast: { peers: Record<string, { state: string }> } }>('show bgp summary json');
    assert.equal(summary.ipv4Unicast.peers[h1!.ip]?.state, 'Established');
    assert.equal(summary.ipv4Unicast.peers[h2!.ip]?.state, 'Established');
    assert.notEqual(summary.ipv4Unicast.peers[h3!.ip]?.state, 'Established', 'h3 has the wrong password');
    const h3Peer = bgpPeers(parseProtocols((await h3!.bird!.command('show protocols all')).text)).find((p) => p.protocol === 'Global_192_0_2_1');
    assert.notEqual(h3Peer?.info, 'Established');
    // The hosts learn the router's network and pods reach it (and back).
    await eventually(async () => assert.equal((await routeTo(h2!, '10.9.9.9'))?.gateway, '192.0.2.1'));
    const ping = await tor.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', '10.9.9.9', h2!.podIp]);
    assert.match(ping.stdout, / 0% packet loss/);
  });

  it('peers unnumbered over IPv6 link-local addresses only, carrying IPv4 with extended next hop', async () => {
    const h1 = fab.hosts[0]!;
    // The link has no IPv4 address at all.
    const addrs = JSON.parse((await run('ip', ['-n', h1.ns.name, '-j', 'addr', 'show', 'dev', 'uplink0'])).stdout) as { addr_info: { family: string; scope: string }[] }[];
    assert.deepEqual(addrs[0]!.addr_info.map((a) => `${a.family} ${a.scope}`), ['inet6 link']);
    const peer = bgpPeers(parseProtocols((await h1.bird!.command('show protocols all')).text)).find((p) => p.type === 'unnumbered' && p.info === 'Established');
    assert.ok(peer, 'unnumbered session up');
    assert.match(peer.address, /^fe80::/);
    assert.equal(peer.interface, 'uplink0');
    assert.equal(peer.neighborAs, 65001);
    // The router installs h1's block via h1's link-local address (RFC 5549) ...
    await eventually(async () => {
      const r = (await nsRoutes(uplinkRouter)).find((x) => x.dst === h1.block);
      assert.equal(r?.via?.family, 'inet6', JSON.stringify(r));
      assert.match(r!.via!.host, /^fe80::/);
    });
    // ... and h1 installs the router's IPv4 network via the router's link-local address.
    await eventually(async () => {
      const r = await routeTo(h1, '10.8.8.8');
      assert.equal(r?.via?.family, 'inet6', JSON.stringify(r));
      assert.equal(r?.dev, 'uplink0');
    });
    const ping = await h1.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', h1.podIp, '10.8.8.8']);
    assert.match(ping.stdout, / 0% packet loss/);
    // Transit: h1 announces the other hosts' blocks it learned over the mesh (next hop self).
    await eventually(async () => assert.ok((await nsRoutes(uplinkRouter)).some((x) => x.dst === fab.hosts[1]!.block), 'transit route on the uplink router'));
  });

  it('BIRD 2.0.12 connects to a known link-local address; without router advertisements nothing comes up', async () => {
    const [, h2, h3] = fab.hosts;
    // h2: an active session to the router's link-local address (BIRD also advertises itself:
    // FRR accepts only the peers it learned from router advertisements).
    await eventually(async () => {
      const peer = bgpPeers(parseProtocols((await h2!.bird!.command('show protocols all')).text)).find((p) => p.interface === 'uplink0');
      assert.equal(peer?.info, 'Established', JSON.stringify(peer));
      assert.equal(peer?.neighborAs, 65002);
    }, { timeoutMs: 15_000 });
    await eventually(async () => assert.equal((await routeTo(h2!, '10.7.7.7'))?.via?.family, 'inet6'), { timeoutMs: 10_000 });
    // h3: BIRD waits (dynamic BGP is passive only) and FRR, which never heard of it, never calls.
    const peer = bgpPeers(parseProtocols((await h3!.bird!.command('show protocols all')).text)).find((p) => p.interface === 'uplink0');
    assert.equal(peer?.info, 'Passive', JSON.stringify(peer));
    const frrView = JSON.parse(await frr3.vtysh('show bgp neighbors swp3 json')) as Record<string, { bgpState?: string; hostLocal?: string }>;
    assert.notEqual(Object.values(frrView)[0]?.bgpState, 'Established');
    console.log(`# unnumbered without router advertisements: FRR still ${Object.values(frrView)[0]?.bgpState ?? '?'} and BIRD Passive ${Date.now() - birdStartedAt} ms after BIRD started`);
  });
});

