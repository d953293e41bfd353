/**
 * Full mesh on 4 host namespaces: every host learns every other host's block into its kernel,
 * via the owner's fabric address, and pods (loopback addresses) reach each other.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BirdConfigError } from '../../src/bgp/bird-process.ts';
import { margay } from '../cli/helpers.ts';
import { eventually } from '../harness/wait.ts';
import { birdPeers, configFor, createFabric, type Fabric, kernelRoutes, nodesOf, resource, routeTo, type Snapshot, startBird, startBirdsUntilEstablished } from './topology.ts';

describe('bgp mesh (4 hosts)', () => {
  let fab: Fabric;
  const pools = [resource('IPPool', 'pool4', { cidr: '10.244.0.0/16' })];
  const config = [resource('BGPConfiguration', 'default', { asNumber: 64512 })];
  let snapshot: Snapshot;
  let establishedMs = 0;

  before(async () => {
    fab = await createFabric(4);
    snapshot = { bgpConfigurations: config, nodes: nodesOf(fab.hosts), peers: [], filters: [], pools };
    establishedMs = await startBirdsUntilEstablished(fab.hosts, snapshot, () => 3);
    console.log(`# mesh: 4 BIRDs started and all 12 sessions Established in ${establishedMs} ms`);
  });
  after(async () => fab?.destroy());

  it('establishes one Mesh_ session per other host, the greater address passive', async () => {
    const h1 = fab.hosts[0]!;
    const conf = readFileSync(h1.bird!.configPath, 'utf8');
    for (const other of fab.hosts.slice(1)) {
      const block = new RegExp(`protocol bgp Mesh_${other.ip.replace(/\./g, '_')} from margay_peer \\{[^}]*?passive on;`, 's');
      assert.match(conf, block, 'h1 has the lowest address: it waits for every peer');
    }
    const h4 = fab.hosts[3]!;
    assert.doesNotMatch(readFileSync(h4.bird!.configPath, 'utf8'), /passive on;/, 'h4 has the greatest address: it connects to everyone');
    const peers = await birdPeers(h1);
    assert.deepEqual(peers.map((p) => [p.address, p.type, p.state]).sort(), [
      ['192.0.2.12', 'node-to-node mesh', 'up'],
      ['192.0.2.13', 'node-to-node mesh', 'up'],
      ['192.0.2.14', 'node-to-node mesh', 'up'],
    ]);
  });

  it('margay node status --netns finds the BIRD of a lab host and shows its peers', async () => {
    const h2 = fab.hosts[1]!;
    const run = await margay(['node', 'status', '--netns', h2.ns.name]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Calico process is running\.\n\nIPv4 BGP status\n/);
    for (const ip of ['192.0.2.11', '192.0.2.13', '192.0.2.14']) {
      assert.match(run.stdout, new RegExp(`\\| ${ip.replace(/\./g, '\\.')} +\\| node-to-node mesh \\| up +\\| [0-9:]+ +\\| Established \\| - +\\|`));
    }
    assert.match(run.stdout, /BFD sessions\nNo BFD sessions\./);
  });

  it('every host learns every other block into its kernel via the owner', async () => {
    for (const h of fab.hosts) {
      await eventually(async () => {
        for (const other of fab.hosts) {
          if (other === h) continue;
          const route = await routeTo(h, other.block);
          assert.ok(route, `${h.name} has no route to ${other.block}`);
          assert.equal(route.gateway, other.ip);
          assert.equal(route.protocol, 'bird');
          assert.equal(route.metric, 1024);
        }
      });
      // Its own block stays the agent's blackhole; BIRD never programs it.
      const own = (await kernelRoutes(h)).filter((r) => r.dst === h.block);
      assert.deepEqual(own.map((r) => r.type), ['blackhole']);
    }
  });

  it('pods reach pods across hosts with their own addresses', async () => {
    const [h1, , , h4] = fab.hosts;
    const res = await h1!.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', h1!.podIp, h4!.podIp]);
    assert.match(res.stdout, / 0% packet loss/);
  });

  it('reloads a changed configuration without dropping sessions', async () => {
    const h2 = fab.hosts[1]!;
    const before = await birdPeers(h2);
    const text = configFor(h2, { ...snapshot, borrowedAddresses: ['10.244.3.40'] });
    assert.equal(await h2.bird!.apply(text), 'reconfigured');
    assert.equal(await h2.bird!.apply(text), 'unchanged');
    // The borrowed /32 now reaches the others (more specific than h3's block).
    await eventually(async () => assert.equal((await routeTo(fab.hosts[0]!, '10.244.3.40'))?.gateway, h2.ip));
    const after = await birdPeers(h2);
    assert.deepEqual(after.map((p) => [p.protocol, p.since]), before.map((p) => [p.protocol, p.since]), 'sessions kept');
  });

  it('never replaces a working configuration with a broken one', async () => {
    const h3 = fab.hosts[2]!;
    const good = readFileSync(h3.bird!.configPath, 'utf8');
    await assert.rejects(h3.bird!.apply(`${good}\nprotocol bgp broken { neighbor 192.0.2.99 as; }\n`), (err: unknown) => {
      assert.ok(err instanceof BirdConfigError);
      assert.match(err.birdMessage, /bird\.conf\.candidate:\d+:\d+/);
      return true;
    });
    assert.equal(readFileSync(h3.bird!.configPath, 'utf8'), good);
    assert.match(readFileSync(`${h3.stateDir}/bird.conf.rejected`, 'utf8'), /protocol bgp broken/);
    // BIRD still runs the good one.
    const peers = await birdPeers(h3);
    assert.equal(peers.filter((p) => p.info === 'Established').length, 3);
  });
});

describe('bgp dual-stack mesh (2 hosts, IPv4 + IPv6)', () => {
  let fab: Fabric;

  before(async () => {
    fab = await createFabric(2, { ipv6: true });
    const snapshot = {
      bgpConfigurations: [resource('BGPConfiguration', 'default', { asNumber: 64512 })],
      nodes: nodesOf(fab.hosts, () => ({}), true),
      peers: [],
      filters: [],
      pools: [resource('IPPool', 'pool4', { cidr: '10.244.0.0/16' }), resource('IPPool', 'pool6', { cidr: 'fd00:10:244::/48' })],
    };
    await Promise.all(fab.hosts.map((h, i) => startBird(h, configFor(h, { ...snapshot, affineBlocks: [h.block, `fd00:10:244:${i + 1}::/122`] }))));
  });
  after(async () => fab?.destroy());

  it('runs one IPv4 and one IPv6 session per peer and learns both families via the owner', async () => {
    const [h1, h2] = fab.hosts as [NonNullable<Fabric['hosts'][0]>, NonNullable<Fabric['hosts'][0]>];
    await eventually(async () => {
      const peers = await birdPeers(h1);
      assert.deepEqual(peers.map((p) => `${p.protocol} ${p.family} ${p.info}`).sort(), ['Mesh_192_0_2_12 4 Established', 'Mesh_fd00_192__12 6 Established']);
    }, { timeoutMs: 20_000, intervalMs: 50 });
    await eventually(async () => {
      assert.equal((await routeTo(h1, h2.block))?.gateway, h2.ip);
      const r6 = await routeTo(h1, 'fd00:10:244:2::/122', 6);
      assert.equal(r6?.gateway, 'fd00:192::12', JSON.stringify(r6));
      assert.equal(r6?.protocol, 'bird');
      assert.equal((await routeTo(h2, 'fd00:10:244:1::/122', 6))?.gateway, 'fd00:192::11');
    });
    const ping = await h1.ns.exec('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '1', '-I', 'fd00:10:244:1::1', 'fd00:10:244:2::1']);
    assert.match(ping.stdout, / 0% packet loss/);
  });
});
